"""The jitted trainer: cost goes down, manual and autodiff train identically, compiles once."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.models import mlp
from jaxdl import train
from jaxdl.layers import losses


def _data(n=200, d=30, k=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (k, d))
    y = rng.integers(0, k, n)
    X = centres[y] + rng.normal(0, 1.0, (n, d))
    Y = np.eye(k)[y]
    return train.to_device({"X_train": X[:150].astype(np.float32), "Y_train": Y[:150],
                            "X_val": X[150:].astype(np.float32), "Y_val": Y[150:]})


def _trainer(grad, data, batch=10, **kw):
    return train.make_trainer(mlp.linear(4), losses.softmax_cross_entropy,
                              lambda hp: optax.sgd(hp["eta"]),
                              train.shuffled_batches(batch, data["X_train"].shape[0]),
                              grad=grad, **kw)


def test_short_run_lowers_the_cost():
    data = _data()
    trainer = _trainer("manual", data)
    result = train.fit(trainer, train.as_hparams(lam=0.01, eta=0.05), jax.random.PRNGKey(0),
                       data, 5)
    costs = [h["train_cost"] for h in result.history]
    assert len(costs) == 5
    assert costs[-1] < 0.5 * costs[0]
    assert result.history[-1]["val_accuracy"] > 0.8
    assert result.history[-1]["step"] == 5 * 15


def test_manual_and_autodiff_train_the_same():
    data = _data()
    hp = train.as_hparams(lam=0.1, eta=0.05)
    runs = [train.fit(_trainer(g, data), hp, jax.random.PRNGKey(1), data, 3)
            for g in ("manual", "autodiff")]
    chex.assert_trees_all_close(runs[0].state.params, runs[1].state.params, rtol=1e-4, atol=1e-6)


def test_run_matches_fit_and_compiles_once():
    data = _data()
    trainer = _trainer("manual", data, epochs_per_eval=2)
    hp = train.as_hparams(lam=0.0, eta=0.05)
    fitted = train.fit(trainer, hp, jax.random.PRNGKey(2), data, 4)
    run = jax.jit(chex.assert_max_traces(trainer.run, n=1), static_argnums=3)
    ts, history = run(hp, jax.random.PRNGKey(2), data, 2)
    chex.assert_trees_all_close(ts.params, fitted.state.params, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(history["val_accuracy"], [h["val_accuracy"] for h in fitted.history])
    run(train.as_hparams(lam=0.5, eta=0.01), jax.random.PRNGKey(3), data, 2)  # no retrace
    assert len(trainer.compiled) == 1


def test_every_epoch_reshuffles_and_drops_the_partial_batch():
    sampler = train.shuffled_batches(7, 30)
    a = sampler(jax.random.PRNGKey(0), {})
    b = sampler(jax.random.PRNGKey(1), {})
    assert a.shape == (4, 7)
    assert len(set(np.asarray(a).ravel())) == 28
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match="larger than"):
        train.shuffled_batches(31, 30)


def test_divergence_stops_the_run_with_a_warning():
    data = _data()
    trainer = _trainer("manual", data)
    result = train.fit(trainer, train.as_hparams(lam=0.0, eta=1e30), jax.random.PRNGKey(0),
                       data, 5)
    assert not np.isfinite(result.history[-1]["batch_cost"])
    assert len(result.history) < 5


def test_random_batches_draw_distinct_uniform_subsets():
    """randsample(n, k) per step: k distinct indices; every k-subset equally likely."""
    idx = np.asarray(jax.jit(train.random_batches(16, 1000, 200))(jax.random.PRNGKey(0), None))
    assert idx.shape == (200, 16) and idx.min() >= 0 and idx.max() < 1000
    assert all(len(set(row)) == 16 for row in idx)
    pairs = np.sort(np.asarray(train.random_batches(2, 4, 12000)(jax.random.PRNGKey(1), None)), 1)
    _, counts = np.unique(pairs, axis=0, return_counts=True)
    assert len(counts) == 6 and counts.min() > 1800 and counts.max() < 2200  # 2000 +- 4.5 sd
    with_repeats = train.random_batches(16, 20, 100, replace=True)(jax.random.PRNGKey(2), None)
    assert any(len(set(row)) < 16 for row in np.asarray(with_repeats))
    with pytest.raises(ValueError):
        train.random_batches(5, 4, 1)
