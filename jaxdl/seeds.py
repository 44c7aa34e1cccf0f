"""Seeds: a run's PRNG key from its own identity, and N seeds of one run as one vmapped program.

A run's key is `PRNGKey(seed)` folded with a stable hash of the run's name, never with its
position among other runs: a run made alone equals the same run made among others. N seeds of
one run train as one `jaxdl.sweep` program, the seed as the member axis (same data, sharded over
the devices as any sweep), and each seed's result is shaped as `train.fit_and_test` returns it,
equal to that seed's run made alone within float rounding (vmap may batch a product differently).
`jaxdl.results.seeded_run` turns the per-seed metrics into a results.json entry with their mean,
std, min, max and n.
"""

from __future__ import annotations

import os
import time
import zlib
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxdl import sweep, train


def run_key(seed: int, name: str) -> jax.Array:
    """PRNGKey(seed) folded with the CRC-32 of the run's name: the same name and seed give the
    same key whatever other runs the invocation holds."""
    return jax.random.fold_in(jax.random.PRNGKey(int(seed)),
                              zlib.crc32(name.encode()) & 0x7FFFFFFF)


def seed_values(first: int, n: int) -> list[int]:
    """The seeds first, first + 1, ..., first + n - 1 (--seed, --seeds)."""
    if n < 1:
        raise ValueError(f"n={n}: at least one seed")
    return list(range(int(first), int(first) + int(n)))


def fit_and_test(trainer: train.Trainer, hp: dict, seeds: Sequence[int], data: dict,
                 n_epochs: int, *, name: str, eval_at_start: bool = False,
                 checkpoint: str | os.PathLike | None = None, identity: dict | None = None,
                 mesh=None) -> list[train.TestedRun]:
    """One run (`name`, scalar hyper-parameters `hp`) at every seed; one TestedRun per seed.

    One seed is `train.fit_and_test` with key run_key(seed, name). Several train as one sweep
    (`jaxdl.sweep.run`, the seed as member axis): checkpointed after every segment under
    `checkpoint` with `identity` plus the seeds, then every seed's final state is evaluated on
    data["X_test"]. Their metrics have the keys of `train.fit_and_test`'s, except that
    train_seconds is the wall time of all seeds together and there is no compile_seconds.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) == 1:
        return [train.fit_and_test(trainer, hp, run_key(seeds[0], name), data, n_epochs,
                                   name=name, eval_at_start=eval_at_start, checkpoint=checkpoint,
                                   identity=identity)]
    t0 = time.perf_counter()
    fits = fit_seeds(trainer, hp, seeds, data, n_epochs, name=name, checkpoint=checkpoint,
                     identity=identity, mesh=mesh)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[f.state for f in fits])
    evaluate = jax.jit(jax.vmap(trainer.evaluate, in_axes=(0, 0, None, None, None)))
    test = jax.device_get(evaluate(stacked.params, stacked.state, hp, data["X_test"],
                                   data["Y_test"]))
    start = None
    if eval_at_start:
        shape = tuple(data["X_train"].shape[1:])
        keys = jnp.stack([run_key(s, name) for s in seeds])
        ts0 = jax.jit(jax.vmap(lambda k: trainer.init(hp, k, shape)))(keys)
        start = {split: jax.device_get(evaluate(ts0.params, ts0.state, hp, data[f"X_{split}"],
                                                data[f"Y_{split}"]))
                 for split in trainer.eval_splits}
    seconds = time.perf_counter() - t0
    out = []
    for i, fit in enumerate(fits):
        history = list(fit.history)
        if start is not None:
            history.insert(0, {"batch_cost": float("nan"), "step": 0.0, "epoch": 0.0,
                               **{f"{s}_{k}": float(v[i]) for s, ev in start.items()
                                  for k, v in ev.items()}})
        last = history[-1]
        metrics = {f"{s}_{k}": last[f"{s}_{k}"] for s in trainer.eval_splits
                   for k in ("loss", "cost", "accuracy")}
        metrics.update({f"test_{k}": float(test[k][i]) for k in ("loss", "cost", "accuracy")})
        metrics.update({"steps": int(last["step"]), "diverged": fit.diverged,
                        "train_seconds": seconds})
        logging.info("%s, seed %d: test accuracy %.4f", name, fit.seed, metrics["test_accuracy"])
        out.append(train.TestedRun(history, metrics, fit.state, []))
    m = len(seeds)
    accs = np.array([r.metrics["test_accuracy"] for r in out])
    logging.info("%s: test accuracy %.4f +- %.4f over %d seeds (%.1fs for all)", name,
                 accs.mean(), accs.std(ddof=1), m, seconds)
    return out


class SeedRun(NamedTuple):
    """One seed's share of `fit_seeds`: what `train.fit` returns for that seed's run alone."""
    seed: int
    state: train.TrainState
    history: list[dict]  # one dict of floats per evaluation
    diverged: bool  # a non-finite cost or metric at some evaluation (the sweep goes on)


def fit_seeds(trainer: train.Trainer, hp: dict, seeds: Sequence[int], data: dict,
              n_epochs: int, *, name: str, checkpoint: str | os.PathLike | None = None,
              identity: dict | None = None, mesh=None) -> list[SeedRun]:
    """One run (`name`, scalar hyper-parameters `hp`) at every seed, trained as one sweep
    (`jaxdl.sweep.run`, the seed as member axis, keys run_key(seed, name)), for studies that
    evaluate the trained states their own way (`fit_and_test` evaluates them on the test split).

    Checkpointed after every segment under `checkpoint` with `identity` plus the seeds. Each
    seed's final state and history equal those of `train.fit` for that seed alone within float
    rounding; unlike `train.fit`, a seed that diverges is not stopped (its state is not finite).
    """
    seeds = [int(s) for s in seeds]
    if n_epochs % trainer.epochs_per_eval:
        raise ValueError(f"n_epochs={n_epochs} is not a multiple of epochs_per_eval="
                         f"{trainer.epochs_per_eval}")
    m = len(seeds)
    keys = jnp.stack([run_key(s, name) for s in seeds])
    hp_m = {k: jnp.full((m,), v, jnp.float32) for k, v in hp.items()}
    res = sweep.run(trainer, hp_m, keys, data, n_epochs // trainer.epochs_per_eval,
                    mesh=mesh, checkpoint=checkpoint, name=f"{name} ({m} seeds)",
                    identity={**(identity or {}), "seeds": seeds})
    out = []
    for i, seed in enumerate(seeds):
        state, hist = sweep.member(res, i)
        history = [{k: float(v[j]) for k, v in hist.items()}
                   for j in range(len(hist["batch_cost"]))]
        out.append(SeedRun(seed, state, history, bool(res.diverged[i])))
    return out
