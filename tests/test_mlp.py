"""k-layer MLP pieces: relu, batchnorm, dropout, initialisers, and float64 gradient checks."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import gradcheck
from jaxdl import model as model_lib
from jaxdl.layers import batchnorm, dropout, initializers, losses, relu
from jaxdl.models import mlp

GRAD_CASES = [  # (hidden, bn, lam, n): 2, 3, 4 and 9 layers, with and without BN, lam 0 and > 0
    ([12], False, 0.0, 5),
    ([12], True, 0.01, 4),
    ([12, 8], False, 0.01, 5),
    ([12, 8], True, 0.0, 6),
    ([12, 8, 8], True, 0.01, 6),
    ([12, 8, 8], False, 0.0, 3),
    ([8, 6, 6, 6, 5, 5, 5, 5], True, 0.01, 8),
    ([8, 6, 6, 6, 5, 5, 5, 5], False, 0.005, 8),
]  # DD2424 A3's 9-layer widths 50, 30, 20, 20, 10, ...: experiments.gradcheck --model mlp.
# Here the 9-layer nets are narrower (457 and 411 entries, one vmapped batch of the checks'
# default 512: one compiled program, where more entries would add a scan and a remainder).


def check_mlp(hidden, *, bn, lam, n, d, methods, count_kinks=False, **model_options):
    """gradcheck.check_model of mlp(hidden) (He init) on a random n x d problem."""
    model = mlp.mlp(hidden, bn=bn, **model_options)
    params, state, X, Y, key = gradcheck.random_problem(model, (d,), n)
    return gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y, lam,
                                 key=key, methods=methods, count_kinks=count_kinks)


@pytest.mark.parametrize("hidden,bn,lam,n", GRAD_CASES)
def test_mlp_gradients_float64(x64, hidden, bn, lam, n):
    """Manual vs jax.grad, and vs kink-free centred differences (jaxdl/gradcheck/kinks.py)."""
    report = check_mlp(hidden, bn=bn, lam=lam, n=n, d=10, methods=("smooth",))
    expected = {f"{p}{l}" for l in range(1, len(hidden) + 2)
                for p in (("W", "gamma", "beta") if bn and l <= len(hidden) else ("W", "b"))}
    assert set(report) == expected
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-9, (name, row)
        assert row["manual_vs_smooth"] <= 1e-6, (name, row)


def test_plain_centred_differences_where_no_kink_is_crossed(x64):
    report = check_mlp([12, 8], bn=True, lam=0.01, n=6, d=10, methods=("centred",),
                       count_kinks=True)
    for name, row in report.items():
        assert row["kink_entries"] == 0, (name, row)  # this small problem crosses no kink
        assert row["manual_vs_centred"] <= 1e-6, (name, row)


def test_superfluous_bias_before_bn_has_zero_gradient(x64):
    report = check_mlp([8, 6], bn=True, bn_bias=True, lam=0.01, n=5, d=6, methods=("smooth",))
    for name in ("b1", "b2"):  # the exact gradient is 0: compare absolute, not relative, errors
        assert report[name]["max_abs_manual_vs_smooth"] <= 1e-10, report[name]
    assert report["b3"]["manual_vs_smooth"] <= 1e-6


def test_mlp_with_dropout_gradients(x64):
    report = check_mlp([12, 8], bn=True, lam=0.01, n=6, d=10, dropout_rate=0.3,
                       methods=("smooth",))
    assert max(r["manual_vs_smooth"] for r in report.values()) <= 1e-6


@pytest.mark.parametrize("bn", [False, True])
def test_manual_matches_autodiff_float32_jit(bn):
    model = mlp.mlp([50, 50], bn=bn)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    params, state = model.init(k1, (3072,))
    X = jax.random.normal(k2, (100, 3072))
    Y = jax.nn.one_hot(jax.random.randint(k3, (100,), 0, 10), 10)
    lam = jnp.float32(0.005)
    loss = losses.softmax_cross_entropy
    (J_m, aux_m), g_m = jax.jit(model_lib.value_and_grad(model, loss, "manual"))(
        params, state, X, Y, lam)
    (J_a, aux_a), g_a = jax.jit(model_lib.value_and_grad(model, loss, "autodiff"))(
        params, state, X, Y, lam)
    chex.assert_trees_all_close(J_m, J_a, rtol=1e-6)
    chex.assert_trees_all_close(g_m, g_a, rtol=2e-4, atol=1e-6)
    chex.assert_trees_all_close(aux_m.state, aux_a.state, rtol=1e-6)


def test_relu_forward_backward():
    layer = relu()
    x = jnp.array([[-1.0, 0.0, 2.0]])
    y, cache, _ = layer.forward({}, {}, x)
    np.testing.assert_array_equal(y, [[0.0, 0.0, 2.0]])
    dx, _ = layer.backward({}, cache, jnp.array([[5.0, 6.0, 7.0]]))
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 7.0]])


def test_batchnorm_statistics_and_running_averages():
    layer = batchnorm(alpha=0.9, eps=0.0)
    params, state, shape = layer.init(jax.random.PRNGKey(0), (3,))
    assert shape == (3,) and int(state["count"]) == 0
    x1 = jax.random.normal(jax.random.PRNGKey(1), (8, 3)) * 3 + 1
    y, _, state1 = layer.forward(params, state, x1, train=True)
    # train mode: batch mean and the biased (1/n) variance
    np.testing.assert_allclose(jnp.mean(y, 0), 0, atol=1e-6)
    np.testing.assert_allclose(jnp.mean(y ** 2, 0), 1, rtol=1e-5)
    # the running averages start from the first minibatch...
    np.testing.assert_allclose(state1["mean"], np.mean(x1, 0), rtol=1e-6)
    np.testing.assert_allclose(state1["var"], np.var(x1, 0), rtol=1e-5)
    x2 = jax.random.normal(jax.random.PRNGKey(2), (8, 3))
    _, _, state2 = layer.forward(params, state1, x2, train=True)
    # ...then move with alpha = 0.9
    np.testing.assert_allclose(state2["mean"], 0.9 * np.mean(x1, 0) + 0.1 * np.mean(x2, 0),
                               rtol=1e-5)
    np.testing.assert_allclose(state2["var"], 0.9 * np.var(x1, 0) + 0.1 * np.var(x2, 0),
                               rtol=1e-5)
    # eval mode uses them and leaves the state alone
    params = {"gamma": jnp.array([1.0, 2.0, 0.5]), "beta": jnp.array([0.0, 1.0, -1.0])}
    y_eval, _, state3 = layer.forward(params, state2, x2, train=False)
    expected = (params["gamma"][None, :] * (x2 - state2["mean"][None, :])
                / jnp.sqrt(state2["var"])[None, :] + params["beta"][None, :])
    np.testing.assert_allclose(y_eval, expected, rtol=1e-5, atol=1e-6)
    assert state3 is state2


def test_batchnorm_eval_mode_backward(x64):
    layer = batchnorm()
    params = {"gamma": jnp.array([1.5, -0.5]), "beta": jnp.array([0.1, 0.2])}
    state = {"mean": jnp.array([0.3, -1.0]), "var": jnp.array([2.0, 0.5]),
             "count": jnp.array(3, jnp.int32)}
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2), jnp.float64)
    dy = jax.random.normal(jax.random.PRNGKey(1), (4, 2), jnp.float64)
    _, cache, _ = layer.forward(params, state, x, train=False)
    dx, dp = layer.backward(params, cache, dy)

    def f(p, x):
        return jnp.sum(layer.forward(p, state, x, train=False)[0] * dy)
    dp_ref, dx_ref = jax.grad(f, argnums=(0, 1))(params, x)
    chex.assert_trees_all_close((dx, dp), (dx_ref, dp_ref), rtol=1e-12)


def test_dropout_train_and_eval():
    layer = dropout(0.25)
    x = jnp.ones((200, 50))
    y, scale, _ = layer.forward({}, {}, x, train=True, key=jax.random.PRNGKey(0))
    kept = np.asarray(y) != 0
    assert 0.7 < kept.mean() < 0.8  # keep probability 0.75
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.75, rtol=1e-6)  # inverted scaling
    dx, _ = layer.backward({}, scale, jnp.ones_like(x))
    np.testing.assert_array_equal(dx, y)
    y_eval, _, _ = layer.forward({}, {}, x, train=False)
    np.testing.assert_array_equal(y_eval, x)
    y2, _, _ = layer.forward({}, {}, x, train=True, key=jax.random.PRNGKey(1))
    assert not np.array_equal(y, y2)  # a fresh key, a fresh mask
    with pytest.raises(ValueError):
        dropout(1.0)


@pytest.mark.parametrize("name,std", [("he", np.sqrt(2 / 400)), ("xavier", np.sqrt(1 / 400)),
                                      ("normal", 1e-3)])
def test_initialiser_scales(name, std):
    init = initializers.by_name(name, std if name == "normal" else None)
    W = np.asarray(init(jax.random.PRNGKey(0), (300, 400), 400, 300))
    assert abs(W.mean()) < 0.02 * std
    np.testing.assert_allclose(W.std(), std, rtol=0.02)


def test_a2_initialisation():
    """A2: W1 ~ N(0, 1/d), W2 ~ N(0, 1/m), b = 0 is mlp([m], w_init=xavier())."""
    model = mlp.mlp([50], w_init=initializers.xavier())
    params, _ = model.init(jax.random.PRNGKey(0), (3072,))
    np.testing.assert_allclose(np.std(params[0]["W"]), 1 / np.sqrt(3072), rtol=0.02)
    np.testing.assert_allclose(np.std(params[2]["W"]), 1 / np.sqrt(50), rtol=0.1)
    assert not np.any(params[0]["b"]) and not np.any(params[2]["b"])


def test_mlp_structure():
    names = model_lib.param_names(mlp.mlp([5, 4], bn=True).init(jax.random.PRNGKey(0), (3,))[0])
    assert names == ["W1", "gamma1", "beta1", "W2", "gamma2", "beta2", "W3", "b3"]
