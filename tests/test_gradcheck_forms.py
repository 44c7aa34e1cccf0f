"""Float64 gradient checks of the layer and loss forms no other test checks: the precomputed
conv1d input, batch norm in eval mode (running statistics) and the per-sample weighted losses.
Each: manual == jax.grad to 1e-9 and manual == centred differences to 1e-6 (relative)."""

import jax
import jax.numpy as jnp
import pytest

from jaxdl import gradcheck
from jaxdl import model as model_lib
from jaxdl.layers import batchnorm, dense, flatten, losses
from jaxdl.layers import conv1d as conv


def _assert_checked(report):
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-9, (name, row)
        assert row["manual_vs_centred"] <= 1e-6, (name, row)


def test_precomputed_conv1d_float64(x64):
    """Input = input_patches(one-hot names, k): the form that never sees the alphabet."""
    d, k, n_len = 5, 3, 6
    model = model_lib.sequential([conv.conv1d_precomputed(2, k, d), flatten(), dense(3)])
    c = jax.random.randint(jax.random.PRNGKey(1), (2, n_len), 0, d)
    X = conv.input_patches(jax.nn.one_hot(c, d), k)
    params, state = model.init(jax.random.PRNGKey(0), X.shape[1:])
    Y = jax.nn.one_hot(jnp.array([0, 2]), 3)
    report = gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y, 0.01,
                                   methods=("centred",), count_kinks=False, chunk=1)
    assert set(report) == {"F1", "W2", "b2"}
    _assert_checked(report)


def test_batchnorm_eval_mode_float64(x64):
    """train=False: BN normalises with its running mean and variance (constants), not the batch's."""
    model = model_lib.sequential([dense(4), batchnorm(), dense(3)])
    params, state, X, Y, _ = gradcheck.random_problem(model, (5,), 3, 3)
    k_mean, k_var = jax.random.split(jax.random.PRNGKey(9))
    state[1] = {**state[1], "mean": jax.random.normal(k_mean, (4,)),
                "var": jax.random.uniform(k_var, (4,), minval=0.5, maxval=2.0)}
    params[1] = {"gamma": jnp.linspace(0.5, 1.5, 4), "beta": jnp.linspace(-0.2, 0.3, 4)}
    report = gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y, 0.01,
                                   methods=("centred",), train=False, count_kinks=False, chunk=1)
    assert set(report) == {"W1", "b1", "gamma1", "beta1", "W2", "b2"}
    _assert_checked(report)


@pytest.mark.parametrize("loss", [losses.softmax_cross_entropy,
                                  losses.multiple_binary_cross_entropy],
                         ids=["softmax_ce", "mbce"])
def test_weighted_losses_float64(x64, loss):
    """Per-sample loss weights w_i (the class-weighted training's n / (K n_{y_i}))."""
    model = model_lib.sequential([dense(4), dense(3)])
    params, state, X, Y, _ = gradcheck.random_problem(model, (5,), 3, 3)
    report = gradcheck.check_model(model, loss, params, state, X, Y, 0.01,
                                   weights=jnp.array([0.5, 1.0, 2.0]), methods=("centred",),
                                   count_kinks=False, chunk=1)
    assert set(report) == {"W1", "b1", "W2", "b2"}
    _assert_checked(report)
