"""Batch samplers for `train.make_trainer`: which training samples make each minibatch of an epoch.

A sampler is (key, data) -> idx [steps, batch] with `steps` fixed, so an epoch stays one compiled
lax.scan. Class weights for a weighted loss are `jaxdl.data.names.class_weights`
(data["w_train"]), not a sampler.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

Sampler = Callable[[jax.Array, dict], jax.Array]  # (key, data) -> idx [steps, batch]


def _steps(batch_size: int, n: int) -> int:
    steps = n // batch_size
    if steps < 1:
        raise ValueError(f"batch size {batch_size} is larger than the {n} training samples")
    return steps


def shuffled_batches(batch_size: int, n: int) -> Sampler:
    """Every epoch a fresh permutation of the n training samples, cut into n // batch_size batches
    (the last partial batch is dropped so shapes never change)."""
    steps = _steps(batch_size, n)

    def sample(key, data):
        return jax.random.permutation(key, n)[: steps * batch_size].reshape(steps, batch_size)
    return sample


def sequential_batches(batch_size: int, n: int) -> Sampler:
    """The sheets' unshuffled mini-batches 1..n/batch_size, in order, every epoch."""
    steps = _steps(batch_size, n)
    return lambda key, data: jnp.arange(steps * batch_size).reshape(steps, batch_size)


def epoch_batches(batch_size: int, n: int, *, shuffle: bool = True) -> Sampler:
    """One pass over the n samples per epoch: shuffled_batches, or sequential_batches when
    shuffle is False (the DD2424 sheets' fixed mini-batches)."""
    return (shuffled_batches if shuffle else sequential_batches)(batch_size, n)


def random_batches(batch_size: int, n: int, steps: int, *, replace: bool = False) -> Sampler:
    """FMAN45 training.m's randsample(n, batch_size) per iteration: `steps` batches, each of
    batch_size distinct samples drawn uniformly from the n, independently of the other batches
    (Floyd's algorithm: a uniform subset in batch_size draws). replace=True: every draw
    independent (a sample may repeat within a batch)."""
    if not 0 < batch_size <= n:
        raise ValueError(f"batch size {batch_size} must lie in 1..{n} (the training samples)")
    if replace:
        return lambda key, data: jax.random.randint(key, (steps, batch_size), 0, n)

    def floyd(key):
        keys = jax.random.split(key, batch_size)

        def body(i, chosen):
            j = n - batch_size + i  # draw t from 0..j; if already chosen take j (never chosen yet)
            t = jax.random.randint(keys[i], (), 0, j + 1)
            return chosen.at[i].set(jnp.where(jnp.any(chosen == t), j, t))
        return jax.lax.fori_loop(0, batch_size, body, jnp.full((batch_size,), -1, jnp.int32))

    return lambda key, data: jax.vmap(floyd)(jax.random.split(key, steps))


def fixed_step_batches(batch_size: int, n: int, steps: int) -> Sampler:
    """`steps` batches from consecutive fresh permutations of the n samples (each pass without
    replacement; the last pass is cut short): lets a trainer "epoch" be e.g. exactly 500 updates."""
    passes = -(-steps * batch_size // n)

    def sample(key, data):
        perms = [jax.random.permutation(k, n) for k in jax.random.split(key, passes)]
        return jnp.concatenate(perms)[: steps * batch_size].reshape(steps, batch_size)

    return sample


def undersampled_batches(batch_size: int, counts: np.ndarray) -> Sampler:
    """Per-epoch random undersampling, a class-imbalance compensation of DD2424 Assignment 3's
    surname ConvNet (option 2): every epoch draws n_min = min(counts) samples without replacement
    from each class, anew; the K n_min set is shuffled and cut into K n_min // batch_size batches
    (the remainder is dropped so shapes never change).

    Needs data["y_train"] (n,) int labels. `counts` are the per-class training counts (host numpy,
    static: they fix the shapes).
    """
    counts = np.asarray(counts)
    k, n_min = len(counts), int(counts.min())
    if n_min < 1:
        raise ValueError("every class needs at least one training sample to undersample")
    steps = k * n_min // batch_size
    if steps < 1:
        raise ValueError(f"batch size {batch_size} is larger than the balanced set K n_min = "
                         f"{k * n_min}")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take_kxm = jnp.asarray(starts[:, None] + np.arange(n_min)[None, :])  # first n_min of each class

    def sample(key, data):
        y = data["y_train"]
        k_within, k_shuffle = jax.random.split(key)
        # sort by class (primary key), in a random order within each class
        order = jnp.lexsort((jax.random.uniform(k_within, y.shape), y))
        chosen = order[take_kxm.reshape(-1)]
        chosen = jax.random.permutation(k_shuffle, chosen)
        return chosen[: steps * batch_size].reshape(steps, batch_size)

    return sample


# Class-imbalance compensation of the surname ConvNet (DD2424 Assignment 3, the ConvNet option).
MODES = ("none", "undersample", "weighted")


def compensation_sampler(mode: str, batch_size: int, counts: np.ndarray, updates_per_eval: int
                         ) -> tuple[Sampler, int, int]:
    """(sampler, trainer epochs per evaluation, updates per evaluation) for one of MODES.

    "undersample": undersampled_batches, the whole number of its epochs (at least one) closest to
    updates_per_eval updates; "none" and "weighted" (whose weights are data["w_train"]):
    fixed_step_batches over all sum(counts) samples, one "epoch" of updates_per_eval updates.
    """
    if mode not in MODES:
        raise ValueError(f"unknown compensation {mode!r}: expected one of {MODES}")
    if mode == "undersample":
        sampler = undersampled_batches(batch_size, counts)  # checks steps >= 1
        steps = len(counts) * int(np.min(counts)) // batch_size
        epochs = max(1, round(updates_per_eval / steps))
        return sampler, epochs, epochs * steps
    sampler = fixed_step_batches(batch_size, int(np.sum(counts)), updates_per_eval)
    return sampler, 1, updates_per_eval
