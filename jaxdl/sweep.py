"""Hyper-parameter and seed sweeps: vmapped, jitted training programs, sharded over devices.

A sweep trains m members at once, each as `trainer.run(hp, key, data, n_segments)` would alone:
`hp` holds one value per member for every hyper-parameter (arrays of shape [m]) and `keys` one
PRNG key per member. The host calls one compiled, vmapped `trainer.segment` per segment (the
computation of one program scanning every segment, which gave the same numbers bit for bit on the
CPU), so between segments it can log progress and save a checkpoint that a rerun resumes from.
The data is an unbatched argument (in_axes=None), shared by all members, not copied per member. The
member axis is sharded over the devices of a 1-D `Mesh` with `NamedSharding` (computation follows
data), padded by repeating the last member when m does not divide the device count; the same call
fills one CPU, one GPU, eight fake CPU devices or every device of a multi-process job.

Members are independent computations, so one that diverges (NaN or inf) does not disturb the
others; it is marked in `SweepResult.diverged`.

When every member has the same key (a lambda search at one seed), the key enters unbatched: all
members share the initialisation and the minibatch order, and their first-layer products become
one large GEMM X_b [W_1 ... W_m] instead of m small ones.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import NamedTuple, Sequence

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxdl import checkpoint as checkpoint_lib
from jaxdl.train import Trainer, TrainState, compiler_options

AXIS = "members"


class SweepResult(NamedTuple):
    state: TrainState  # every leaf has a leading member axis [m]
    history: dict  # metric -> [m, n_segments] numpy array
    diverged: np.ndarray  # [m] bool: a non-finite cost or metric at any evaluation


def member_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over the given devices (default: all devices of all processes)."""
    devices = list(devices) if devices is not None else jax.devices()
    return Mesh(np.asarray(devices), (AXIS,))


def member_shardings(mesh: Mesh) -> tuple[NamedSharding, NamedSharding]:
    """(member, replicated): the member axis split over the mesh, and a copy on every device."""
    return NamedSharding(mesh, P(AXIS)), NamedSharding(mesh, P())


def _pad(tree, m: int, target: int):
    """Repeats the last member so the member axis has `target` entries."""
    if target == m:
        return tree
    return jax.tree.map(lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], target - m, 0)]), tree)


def _to_host(x: jax.Array) -> np.ndarray:
    """A member-sharded array as numpy, gathered from every process when it spans several."""
    if x.is_fully_addressable:
        return np.asarray(jax.device_get(x))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def grid(**values: Sequence[float]) -> dict:
    """The Cartesian product of hyper-parameter values as a dict of float32 arrays [m]."""
    names = list(values)
    mesh = np.meshgrid(*[np.asarray(values[n], np.float32) for n in names], indexing="ij")
    return {n: jnp.asarray(a.ravel()) for n, a in zip(names, mesh)}


def seeds_keys(seeds: Sequence[int]) -> jax.Array:
    """One PRNG key per member from integer seeds."""
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


def _state_axes(key_axis: int | None) -> TrainState:
    """vmap axes of a sweep's TrainState: the member axis 0, except step and epoch (equal for all
    members) and, when all members share it, the key: unbatched, so every member draws the same
    minibatch indices and XLA multiplies that minibatch by all members' weights in one GEMM."""
    return TrainState(params=0, state=0, opt_state=0, key=key_axis, step=None, epoch=None)


def _map_axes(fn, key_axis: int | None, *states: TrainState) -> TrainState:
    """fn(axis, leaf, ...) over every leaf of the states, axis being the leaf's vmap axis."""
    return jax.tree.map(lambda a, *subs: jax.tree.map(lambda *xs: fn(a, *xs), *subs),
                        _state_axes(key_axis), *states, is_leaf=lambda a: a is None)


def _programs(trainer: Trainer, key_axis: int | None, mesh: Mesh, in_shape: tuple):
    """(init, segment): the jitted, vmapped trainer.init and trainer.segment for this layout,
    cached in trainer.compiled (jit compiles each once per shape)."""
    cache_key = ("sweep", key_axis, mesh, in_shape)
    if cache_key not in trainer.compiled:
        member, replicated = member_shardings(mesh)
        axes = _state_axes(key_axis)
        state_sh = jax.tree.map(lambda a: replicated if a is None else member, axes,
                                is_leaf=lambda a: a is None)
        init = jax.vmap(lambda h, k: trainer.init(h, k, in_shape), in_axes=(0, key_axis),
                        out_axes=axes)
        segment = jax.vmap(trainer.segment, in_axes=(axes, 0, None), out_axes=(axes, 0))
        trainer.compiled[cache_key] = (
            jax.jit(init, out_shardings=state_sh, compiler_options=compiler_options()),
            jax.jit(segment, out_shardings=(state_sh, member),
                    compiler_options=compiler_options()))
    return trainer.compiled[cache_key]


def _broadcast_members(state: TrainState, key_axis: int | None, m: int) -> TrainState:
    """The state with a member axis [m] on every leaf, as SweepResult promises."""
    return _map_axes(lambda a, x: x[:m] if a == 0 else jnp.broadcast_to(x, (m,) + x.shape),
                     key_axis, state)


def _diverged(history: dict, m: int) -> np.ndarray:
    """[m] bool: a non-finite cost or metric in a history of [m, segments] arrays."""
    finite = np.ones(m, bool)
    for v in history.values():
        if np.issubdtype(v.dtype, np.floating):
            finite &= np.all(np.isfinite(v), axis=tuple(range(1, v.ndim)))
    return ~finite


def _progress(history: dict, m: int) -> tuple[str, float, int, int]:
    """(metric, best value so far, its member, members diverged) of a history so far."""
    metric = "val_accuracy" if "val_accuracy" in history else next(
        (k for k in reversed(list(history)) if k.endswith("accuracy")), "batch_cost")
    values = history[metric]
    best = np.where(np.isfinite(values), values, -np.inf).max(1)
    j = int(np.argmax(best))
    return metric, float(best[j]), j, int(_diverged(history, m).sum())


def run(trainer: Trainer, hp: dict, keys: jax.Array, data: dict, n_segments: int, *,
        mesh: Mesh | None = None, checkpoint: str | os.PathLike | None = None,
        identity: dict | None = None, name: str = "sweep", log_every: int = 1) -> SweepResult:
    """Trains every member (hp[name][i], keys[i]) for n_segments segments.

    One jitted, vmapped trainer.segment per segment, called from the host: after each, the history
    comes to the host and one line is logged (segments done, members, the best validation accuracy
    so far and its member, members diverged, ETA) every `log_every` segments. With `checkpoint` (a
    file path), the members' state and history are saved atomically after every segment, and a sweep
    started again with the same path continues from the last save, ending where an uninterrupted
    sweep ends. `identity` (the settings that change the computation, without the run length) is
    stored with the name, hp values, keys and epochs_per_eval; a checkpoint saved with any other
    value is refused (CheckpointMismatch), a longer n_segments continues it, a shorter one is
    refused. With several processes (jax.distributed) no checkpoint is written: the processes'
    folders need not be shared.
    """
    m = keys.shape[0]
    for hp_name, value in hp.items():
        if jnp.shape(value) != (m,):
            raise ValueError(f"hyper-parameter {hp_name!r} has shape {jnp.shape(value)}; "
                             f"expected ({m},), one value per member")
    if n_segments < 1:
        raise ValueError(f"n_segments={n_segments}: a sweep needs at least one segment")
    mesh = mesh or member_mesh()
    n_dev = mesh.devices.size
    target = math.ceil(m / n_dev) * n_dev
    member, replicated = member_shardings(mesh)
    hp_p = jax.device_put(_pad(hp, m, target), member)
    data = jax.device_put(data, replicated)
    if bool(np.all(np.asarray(keys) == np.asarray(keys[:1]))):  # one seed for all: _state_axes
        keys_p, key_axis = jax.device_put(keys[0], replicated), None
    else:
        keys_p, key_axis = jax.device_put(_pad(keys, m, target), member), 0
    init, segment = _programs(trainer, key_axis, mesh, tuple(data["X_train"].shape[1:]))
    ts = init(hp_p, keys_p)
    history: dict[str, list[np.ndarray]] = {}
    if checkpoint is not None and jax.process_count() > 1:
        logging.info("%s: %d processes: no checkpoint is written", name, jax.process_count())
        checkpoint = None
    meta = {"name": name, "n_members": m, "epochs_per_eval": trainer.epochs_per_eval,
            "hp": {k: np.asarray(v, np.float64).tolist() for k, v in jax.device_get(hp).items()},
            "keys": np.asarray(jax.device_get(keys)).tolist(), "identity": identity or {}}
    if checkpoint is not None and Path(checkpoint).exists():
        ts, history = _resume(checkpoint, meta, ts, key_axis, m, target, mesh,
                               n_segments, name)
    first = len(next(iter(history.values()), []))  # segments done
    t0 = time.perf_counter()
    for i in range(first, n_segments):
        ts, metrics = segment(ts, hp_p, data)
        for k, v in metrics.items():
            history.setdefault(k, []).append(_to_host(v)[:m])
        if checkpoint is not None:
            _save(checkpoint, ts, history, meta, key_axis, m)
        if (i + 1) % log_every == 0 or i + 1 == n_segments:
            metric, best, j, n_div = _progress({k: np.stack(v, 1) for k, v in history.items()},
                                               m)
            eta = (time.perf_counter() - t0) / (i + 1 - first) * (n_segments - i - 1)
            logging.info("%s: segment %d/%d, %d members, best %s so far %.4f (member %d), "
                         "diverged %d, ETA %.0fs", name, i + 1, n_segments, m, metric, best, j,
                         n_div, eta)
    hist = {k: np.stack(v, 1) for k, v in history.items()}
    return SweepResult(_broadcast_members(ts, key_axis, m), hist, _diverged(hist, m))


def _host_state(ts: TrainState, key_axis: int | None, m: int) -> TrainState:
    """The state as numpy, member-axis leaves trimmed to the m real members."""
    return _map_axes(lambda a, x: _to_host(x)[:m] if a == 0 else _to_host(x), key_axis, ts)


def _save(path, ts: TrainState, history: dict, meta: dict, key_axis: int | None,
          m: int) -> None:
    state = _host_state(ts, key_axis, m)
    hist = {k: np.stack(v, 1) for k, v in history.items()}
    checkpoint_lib.save(path, {"state": state, "history": hist}, meta=meta)


def _resume(path, meta: dict, ts: TrainState, key_axis: int | None, m: int, target: int,
            mesh: Mesh, n_segments: int, name: str) -> tuple[TrainState, dict]:
    """(device state, history as lists of per-segment [m] arrays) from a checkpoint of this
    sweep; CheckpointMismatch for one of another sweep or one past n_segments."""
    stored = checkpoint_lib.read_raw(path)  # once: the meta first, then the state
    checkpoint_lib.check_identity(path, json.loads(stored["meta"]), meta)
    raw = stored["train_state"]
    template = _host_state(ts, key_axis, m)
    try:
        state = flax.serialization.from_state_dict(template, raw["state"])
    except (ValueError, KeyError) as e:
        raise checkpoint_lib.DataError(f"checkpoint {path} does not match this model: {e}") from e
    history = {k: list(np.moveaxis(np.asarray(v), 1, 0)) for k, v in raw["history"].items()}
    done = len(next(iter(history.values()), []))
    if done > n_segments:
        raise checkpoint_lib.CheckpointMismatch(
            f"checkpoint {path} is at segment {done}, past this sweep's {n_segments}: to start "
            f"afresh, pass --restart or use a new --workdir")
    member, replicated = member_shardings(mesh)
    pad = [(0, target - m)]  # repeat the last member, as _pad does, on the host
    state = _map_axes(lambda a, x: jax.device_put(np.pad(x, pad + [(0, 0)] * (x.ndim - 1),
                                                         mode="edge"), member) if a == 0
                      else jax.device_put(x, replicated), key_axis, state)
    logging.info("%s: resumed from %s at segment %d/%d", name, path, done, n_segments)
    return state, history


def member(result: SweepResult, i: int) -> tuple[TrainState, dict]:
    """Member i's final state and history, as a run made alone returns them."""
    return (jax.tree.map(lambda x: x[i], result.state),
            {k: v[i] for k, v in result.history.items()})


def sample_log_uniform(key: jax.Array, n: int, l_min: float, l_max: float) -> jax.Array:
    """lambda = 10^l with l = l_min + (l_max - l_min) U(0, 1), the course's coarse-to-fine rule."""
    if not l_max > l_min:
        raise ValueError(f"empty range: l_max={l_max} must exceed l_min={l_min}")
    return 10.0 ** (l_min + (l_max - l_min) * jax.random.uniform(key, (n,)))
