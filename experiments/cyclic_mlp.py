"""Shared by the A2 and A3 scripts: an MLP trained by plain SGD under the cyclical learning rate,
evaluated from step 0, then on the test set.

Hyper-parameters live in `hp` arrays (lam, eta_min, eta_max, n_s), so runs that differ only in
them reuse one compiled program; the initialiser may differ too (the sensitivity study), because
the initial parameters are made outside the compiled training segment.
"""

from __future__ import annotations

import os

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from jaxdl import model as model_lib
from jaxdl import optimizers, samplers, train
from jaxdl.layers import losses


optimizer = optimizers.cyclical_sgd


def hparams(lam: float, eta_min: float, eta_max: float, n_s: int) -> dict:
    return train.as_hparams(lam=lam, eta_min=eta_min, eta_max=eta_max, n_s=n_s)


def n_epochs_for(n_s: int, n_cycles: int, steps_per_epoch: int) -> int | None:
    """Epochs covering exactly n_cycles cycles (2 n_s updates each), or None if not whole."""
    steps = 2 * n_s * n_cycles
    return steps // steps_per_epoch if steps % steps_per_epoch == 0 else None


def make_trainer(model: model_lib.Model, n_train: int, n_batch: int, *, shuffle: bool = True,
                 grad: str = "manual", epochs_per_eval: int = 1) -> train.Trainer:
    sampler = (samplers.shuffled_batches if shuffle else samplers.sequential_batches)(n_batch, n_train)
    return train.make_trainer(model, losses.softmax_cross_entropy, optimizer, sampler, grad=grad,
                              epochs_per_eval=epochs_per_eval)


class RunResult(NamedTuple):
    history: list[dict]  # step 0 first, then one entry per evaluation
    metrics: dict  # final train/val/test loss, cost, accuracy and timings
    state: train.TrainState


def run(trainer: train.Trainer, hp: dict, key: jax.Array, data: dict, test: tuple, n_epochs: int,
        *, name: str, init_model: model_lib.Model | None = None,
        checkpoint: str | os.PathLike | None = None) -> RunResult:
    """Trains one run with `fit`; init_model (same architecture) overrides the initial params;
    with `checkpoint` an interrupted run resumes where it stopped."""
    shape = tuple(data["X_train"].shape[1:])
    ts = jax.jit(trainer.init, static_argnums=2)(hp, key, shape)
    if init_model is not None:  # trainer.init draws its params from the first half of key
        params, _ = init_model.init(jax.random.split(key)[0], shape)
        ts = ts.replace(params=params)
    evaluate = jax.jit(trainer.evaluate)
    start = {"batch_cost": float("nan"), "step": 0.0, "epoch": 0.0}
    for split in trainer.eval_splits:
        for k, v in evaluate(ts.params, ts.state, hp, data[f"X_{split}"],
                             data[f"Y_{split}"]).items():
            start[f"{split}_{k}"] = float(v)
    fit = train.fit(trainer, hp, key, data, n_epochs, name=name, init_state=ts,
                    checkpoint=checkpoint)
    test_metrics = jax.device_get(evaluate(fit.state.params, fit.state.state, hp, *test))
    last = fit.final_metrics
    metrics = {f"{s}_{m}": last[f"{s}_{m}"] for s in trainer.eval_splits
               for m in ("loss", "cost", "accuracy")}
    metrics.update({"test_loss": float(test_metrics["loss"]),
                    "test_cost": float(test_metrics["cost"]),
                    "test_accuracy": float(test_metrics["accuracy"]),
                    "steps": int(last["step"]),
                    "diverged": fit.diverged,
                    "compile_seconds": fit.compile_seconds, "train_seconds": fit.train_seconds})
    logging.info("%s: test accuracy %.4f (%.1fs training)", name, metrics["test_accuracy"],
                 fit.train_seconds)
    return RunResult([start] + fit.history, metrics, fit.state)


def device_split(split) -> tuple[jax.Array, jax.Array]:
    return jnp.asarray(split.X), jnp.asarray(split.Y)
