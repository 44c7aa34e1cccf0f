"""The jitted trainer: cost goes down, manual and autodiff train identically, compiles once."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.models import mlp
from jaxdl import samplers, train
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
                              samplers.shuffled_batches(batch, data["X_train"].shape[0]),
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
    (segment,) = trainer.compiled.values()
    # a second fit with other hyper-parameter values and key reuses fit's compiled segment
    train.fit(trainer, train.as_hparams(lam=0.5, eta=0.01), jax.random.PRNGKey(3), data, 2)
    assert len(trainer.compiled) == 1 and next(iter(trainer.compiled.values())) is segment


def test_divergence_stops_the_run_with_a_warning():
    data = _data()
    trainer = _trainer("manual", data)
    result = train.fit(trainer, train.as_hparams(lam=0.0, eta=1e30), jax.random.PRNGKey(0),
                       data, 5)
    assert not np.isfinite(result.history[-1]["batch_cost"])
    assert len(result.history) < 5


def _with_test(data):
    return {**data, "X_test": data["X_val"], "Y_test": data["Y_val"]}


def test_fit_and_test_is_fit_then_the_test_evaluation():
    data = _data()
    hp = train.as_hparams(lam=0.01, eta=0.05)
    key = jax.random.PRNGKey(4)
    fitted = train.fit(_trainer("manual", data), hp, key, data, 3)
    trainer = _trainer("manual", data)
    r = train.fit_and_test(trainer, hp, key, _with_test(data), 3, eval_at_start=True)
    assert r.history[1:] == fitted.history
    start = r.history[0]
    assert start["step"] == 0 and np.isnan(start["batch_cost"])
    ts0 = trainer.init(hp, key, data["X_train"].shape[1:])
    first = trainer.evaluate(ts0.params, ts0.state, hp, data["X_val"], data["Y_val"])
    assert start["val_cost"] == pytest.approx(float(first["cost"]), rel=1e-6)
    chex.assert_trees_all_equal(r.state.params, fitted.state.params)
    last = fitted.history[-1]
    for split in ("train", "val"):
        for m in ("loss", "cost", "accuracy"):
            assert r.metrics[f"{split}_{m}"] == last[f"{split}_{m}"]
    # the test set here is the validation set: the same numbers
    assert r.metrics["test_accuracy"] == pytest.approx(last["val_accuracy"])
    assert r.metrics["test_cost"] == pytest.approx(last["val_cost"], rel=1e-6)
    assert r.metrics["steps"] == 3 * 15 and r.metrics["diverged"] is False
    assert r.snapshots == []


def test_fit_and_test_init_model_and_snapshots():
    data = _with_test(_data())
    trainer = _trainer("manual", data)
    hp = train.as_hparams(lam=0.0, eta=0.05)
    key = jax.random.PRNGKey(5)
    init_model = mlp.linear(4, init_std=1.0)
    r = train.fit_and_test(trainer, hp, key, data, 4, init_model=init_model,
                           snapshot_every=30, eval_at_start=True)
    params0, state0 = init_model.init(jax.random.split(key)[0], data["X_train"].shape[1:])
    start = trainer.evaluate(params0, state0, hp, data["X_train"], data["Y_train"])
    assert r.history[0]["train_cost"] == pytest.approx(float(start["cost"]), rel=1e-6)
    assert len(r.snapshots) == 2  # steps 30 and 60 of 4 x 15
    chex.assert_trees_all_equal(r.snapshots[-1][0], jax.device_get(r.state.params))
