"""Batch samplers: which training samples make each minibatch of an epoch."""

import jax
import numpy as np
import pytest

from jaxdl import samplers


def test_every_epoch_reshuffles_and_drops_the_partial_batch():
    sampler = samplers.shuffled_batches(7, 30)
    a = sampler(jax.random.PRNGKey(0), {})
    b = sampler(jax.random.PRNGKey(1), {})
    assert a.shape == (4, 7)
    assert len(set(np.asarray(a).ravel())) == 28
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match="larger than"):
        samplers.shuffled_batches(31, 30)


def test_random_batches_draw_distinct_uniform_subsets():
    """randsample(n, k) per step: k distinct indices; every k-subset equally likely."""
    idx = np.asarray(jax.jit(samplers.random_batches(16, 1000, 200))(jax.random.PRNGKey(0), None))
    assert idx.shape == (200, 16) and idx.min() >= 0 and idx.max() < 1000
    assert all(len(set(row)) == 16 for row in idx)
    pairs = np.sort(np.asarray(samplers.random_batches(2, 4, 12000)(jax.random.PRNGKey(1), None)),
                    1)
    _, counts = np.unique(pairs, axis=0, return_counts=True)
    assert len(counts) == 6 and counts.min() > 1800 and counts.max() < 2200  # 2000 +- 4.5 sd
    with_repeats = samplers.random_batches(16, 20, 100, replace=True)(jax.random.PRNGKey(2), None)
    assert any(len(set(row)) < 16 for row in np.asarray(with_repeats))
    with pytest.raises(ValueError):
        samplers.random_batches(5, 4, 1)


def test_sequential_batches_are_the_sheets_fixed_batches():
    idx = np.asarray(samplers.sequential_batches(7, 30)(jax.random.PRNGKey(0), {}))
    np.testing.assert_array_equal(idx, np.arange(28).reshape(4, 7))
    with pytest.raises(ValueError, match="larger than"):
        samplers.sequential_batches(31, 30)
    unshuffled = samplers.epoch_batches(7, 30, shuffle=False)(jax.random.PRNGKey(1), {})
    np.testing.assert_array_equal(unshuffled, idx)
    shuffled = samplers.epoch_batches(7, 30)(jax.random.PRNGKey(1), {})
    np.testing.assert_array_equal(shuffled,
                                  samplers.shuffled_batches(7, 30)(jax.random.PRNGKey(1), {}))
