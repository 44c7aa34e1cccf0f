"""Dense layer and the two losses: hand-written backward vs jax.grad vs centred differences."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import gradcheck
from jaxdl import model as model_lib
from jaxdl.layers import dense, initializers, losses


def _problem(n, d=20, k=10, seed=0):
    key = jax.random.PRNGKey(seed)
    k1, k2, k3 = jax.random.split(key, 3)
    model = model_lib.sequential([dense(k, initializers.normal(0.01), initializers.normal(0.01))])
    params, state = model.init(k1, (d,))
    X = jax.random.normal(k2, (n, d))
    Y = jax.nn.one_hot(jax.random.randint(k3, (n,), 0, k), k)
    return model, params, state, X, Y


@pytest.mark.parametrize("loss_name", ["softmax_ce", "mbce"])
@pytest.mark.parametrize("n,lam", [(1, 0.0), (2, 0.0), (20, 0.0), (20, 0.1)])
def test_linear_gradients_float64(x64, loss_name, n, lam):
    model, params, state, X, Y = _problem(n)
    report = gradcheck.check_model(model, losses.by_name(loss_name), params, state, X, Y,
                                   lam)
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-10, (name, row)
        assert row["manual_vs_centred"] <= 1e-6, (name, row)
        # forward differences (h = 1e-6) are only O(h) accurate, hence the wider bound
        assert row["manual_vs_forward"] <= 1e-3, (name, row)


@pytest.mark.parametrize("loss_name", ["softmax_ce", "mbce"])
def test_manual_matches_autodiff_float32_jit(loss_name):
    model, params, state, X, Y = _problem(50, d=3072)
    loss = losses.by_name(loss_name)
    lam = jnp.float32(0.1)
    (J_m, _), g_m = jax.jit(model_lib.value_and_grad(model, loss, "manual"))(
        params, state, X, Y, lam)
    (J_a, _), g_a = jax.jit(model_lib.value_and_grad(model, loss, "autodiff"))(
        params, state, X, Y, lam)
    chex.assert_trees_all_close(J_m, J_a, rtol=1e-6)
    chex.assert_trees_all_close(g_m, g_a, rtol=1e-5, atol=1e-7)


def test_weighted_loss_gradient(x64):
    model, params, state, X, Y = _problem(6)
    w = jnp.array([0.5, 2.0, 1.0, 0.1, 3.0, 1.0])
    report = gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y,
                                   0.05, weights=w)
    assert max(r["manual_vs_centred"] for r in report.values()) <= 1e-6


def test_losses_match_definitions(x64):
    s = jnp.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    Y = jnp.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    ce, _ = losses.softmax_cross_entropy.forward(s, Y)
    p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    np.testing.assert_allclose(ce, -np.mean(np.log([p[0, 2], p[1, 1]])), rtol=1e-12)
    mb, _ = losses.multiple_binary_cross_entropy.forward(s, Y)
    q = 1 / (1 + np.exp(-np.asarray(s)))
    ref = -np.mean(np.mean((1 - Y) * np.log(1 - q) + Y * np.log(q), axis=1))
    np.testing.assert_allclose(mb, ref, rtol=1e-12)


def test_l2_penalty_covers_weights_only():
    params = [{"W": jnp.ones((2, 3)), "b": jnp.ones(2)}, {"gamma": jnp.ones(2)}]
    assert float(model_lib.l2_penalty(params)) == 6.0


def test_relative_error_definition():
    a, n = np.array([1.0, 0.0, -2.0]), np.array([1.1, 0.0, -2.0])
    assert gradcheck.relative_error(a, n) == pytest.approx(0.1 / 2.1)


@pytest.mark.parametrize("shape", [(1,), (10,), (3072, 50), (5, 5, 1, 4), (7, 3)])
def test_standard_normal_is_jax_random_normal_bit_for_bit(shape):
    """The initialisers' draw (a prefix of a power-of-two draw) equals jax.random.normal at the
    shape, alone, under vmap and scaled under jit, in float32 and float64."""
    key = jax.random.PRNGKey(5)
    np.testing.assert_array_equal(initializers.standard_normal(key, shape),
                                  jax.random.normal(key, shape, jnp.float32))
    keys = jax.random.split(key, 3)
    np.testing.assert_array_equal(
        jax.vmap(lambda k: initializers.standard_normal(k, shape))(keys),
        jax.vmap(lambda k: jax.random.normal(k, shape, jnp.float32))(keys))
    # scaled inside jit, as a traced model init is: the program (and its fusion) is unchanged
    np.testing.assert_array_equal(
        jax.jit(lambda k: 0.01 * initializers.standard_normal(k, shape))(key),
        jax.jit(lambda k: 0.01 * jax.random.normal(k, shape, jnp.float32))(key))
    with jax.enable_x64(True):
        np.testing.assert_array_equal(initializers.standard_normal(key, shape, jnp.float64),
                                      jax.random.normal(key, shape, jnp.float64))
