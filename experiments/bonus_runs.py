"""Shared by the A2 and A3 bonus scripts: data loading, one training run with `train.fit`
(end-of-cycle snapshots optional), and test metrics."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxdl import train
from jaxdl.data import cifar10


def load(n_val: int, data_dir: str | None) -> tuple[dict, tuple[jax.Array, jax.Array]]:
    """All five batches minus n_val for validation, on the device; and (X_test, Y_test)."""
    s = cifar10.load_splits("all", data_dir, n_val=n_val)
    data = train.to_device({"X_train": s["train"].X, "Y_train": s["train"].Y,
                            "X_val": s["val"].X, "Y_val": s["val"].Y})
    return data, (jnp.asarray(s["test"].X), jnp.asarray(s["test"].Y))


class Run(NamedTuple):
    history: list[dict]
    metrics: dict  # final train/val/test loss, cost, accuracy, timings
    state: train.TrainState
    snapshots: list[tuple]  # (params, state) at every step that is a multiple of snapshot_every


def run(trainer: train.Trainer, hp: dict, key: jax.Array, data: dict, test: tuple,
        n_epochs: int, *, name: str, snapshot_every: int | None = None) -> Run:
    """Trains with `fit`, keeping (params, state) whenever the step count is a multiple of
    snapshot_every (2 n_s: the end of each cycle), and evaluates on the test set."""
    snapshots: list[tuple] = []

    def on_segment(ts, metrics):
        if snapshot_every and int(metrics["step"]) % snapshot_every == 0:
            snapshots.append(jax.device_get((ts.params, ts.state)))

    fit = train.fit(trainer, hp, key, data, n_epochs, name=name, on_segment=on_segment)
    test_m = jax.device_get(jax.jit(trainer.evaluate)(fit.state.params, fit.state.state, hp,
                                                      *test))
    last = fit.final_metrics
    metrics = {k: v for k, v in last.items() if k not in ("step", "epoch", "batch_cost")}
    metrics.update({f"test_{k}": float(v) for k, v in test_m.items()})
    metrics.update({"steps": int(last["step"]), "diverged": fit.diverged,
                    "compile_seconds": fit.compile_seconds, "train_seconds": fit.train_seconds})
    logging.info("%s: test accuracy %.4f (%.1fs training)", name, metrics["test_accuracy"],
                 fit.train_seconds)
    return Run(fit.history, metrics, fit.state, snapshots)


def test_accuracy(trainer: train.Trainer, params, state, hp: dict, test: tuple) -> float:
    return float(np.asarray(jax.jit(trainer.evaluate)(params, state, hp, *test)["accuracy"]))
