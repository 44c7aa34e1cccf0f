"""The surname ConvNet of DD2424 Assignment 3 (the ConvNet option), and its input in each conv1d
form.

    X(1) = max(0, conv(X, F1)),  X(2) = max(0, conv(X(1), F2)),  s = W vec(X(2)),  p = softmax(s)

no biases; F1 ~ N(0, 2/k1) (He with fan-in k1: a one-hot receptive field has only k1 non-zeros),
F2 ~ N(0, 2/(n1 k2)), W ~ N(0, 2/fsize).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, NamedTuple

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import checkpoint
from jaxdl import model as model_lib
from jaxdl.data import names as names_data
from jaxdl.data.download import DataError
from jaxdl.layers import dense
from jaxdl.layers.activations import relu
from jaxdl.layers.conv1d import conv1d, flatten, input_patches

LAYER1_FORMS = ("gather", "precomputed", "patches", "lax", "matrix")
LAYER2_FORMS = ("patches", "lax", "matrix")  # layer 2 sees real-valued (n_out, n1) input


@dataclasses.dataclass(frozen=True)
class Config:
    n1: int = 20
    k1: int = 5
    n2: int = 20
    k2: int = 3
    d: int = 28
    n_len: int = 19
    n_classes: int = 18
    form1: str = "gather"
    form2: str = "lax"  # the fastest on the CPU (benchmarks/NOTES.md)

    @property
    def fsize(self) -> int:
        return self.n2 * (self.n_len - self.k1 - self.k2 + 2)


def check_config(cfg: Config) -> None:
    """Raises ValueError with a readable reason for an impossible network."""
    if cfg.form1 not in LAYER1_FORMS:
        raise ValueError(f"form1 must be one of {LAYER1_FORMS}, got {cfg.form1!r}")
    if cfg.form2 not in LAYER2_FORMS:
        raise ValueError(f"form2 must be one of {LAYER2_FORMS}, got {cfg.form2!r}")
    if min(cfg.n1, cfg.n2, cfg.k1, cfg.k2) < 1:
        raise ValueError("filter counts and widths must be >= 1")
    if cfg.k1 + cfg.k2 - 1 > cfg.n_len:
        raise ValueError(f"k1 + k2 - 1 = {cfg.k1 + cfg.k2 - 1} exceeds n_len = {cfg.n_len}")


def build(cfg: Config) -> model_lib.Model:
    check_config(cfg)
    return model_lib.sequential([
        conv1d(cfg.n1, cfg.k1, cfg.form1, d=cfg.d, fan_in=cfg.k1), relu(),
        conv1d(cfg.n2, cfg.k2, cfg.form2), relu(),
        flatten(), dense(cfg.n_classes, use_bias=False)])


def in_shape(cfg: Config) -> tuple[int, ...]:
    if cfg.form1 == "gather":
        return (cfg.n_len,)
    if cfg.form1 == "precomputed":
        return (cfg.n_len - cfg.k1 + 1, cfg.k1 * cfg.d)
    return (cfg.n_len, cfg.d)


def encode(indices_nxl: np.ndarray, cfg: Config) -> jnp.ndarray:
    """Character indices -> the network input for form1: the indices themselves ("gather"),
    the precomputed M^input_{x,k1} patches ("precomputed"), else the one-hot (n, n_len, d)."""
    indices_nxl = np.asarray(indices_nxl, np.int32)
    if cfg.form1 == "gather":
        return jnp.asarray(indices_nxl)
    X = jnp.asarray(names_data.one_hot(indices_nxl, cfg.d))
    if cfg.form1 == "precomputed":
        return input_patches(X, cfg.k1)
    return X


class Restored(NamedTuple):
    model: model_lib.Model
    cfg: Config
    params: Any
    state: Any
    alphabet: names_data.Alphabet
    class_names: list[str]


def restore(path: str | os.PathLike) -> Restored:
    """A trained network from a checkpoint whose meta holds its config, alphabet and class names
    (as experiments.names_convnet writes them); a DataError names a file that does not fit."""
    raw = checkpoint.read_raw(path)
    try:
        meta = json.loads(raw["meta"])
        cfg = Config(**meta["config"])
        alphabet = names_data.Alphabet(meta["alphabet"], cfg.n_len)
        model = build(cfg)
        template, state = model.init(jax.random.PRNGKey(0), in_shape(cfg))
        params = flax.serialization.from_state_dict(template, raw["train_state"]["params"])
        class_names = list(meta["class_names"])
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"checkpoint {path} does not match its own config: {e}") from e
    return Restored(model, cfg, params, state, alphabet, class_names)
