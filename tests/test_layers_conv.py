"""conv2d / maxpool / flatten: forward vs flax.linen, hand-written backward vs jax.grad vs centred
differences (float64), the starter networks' gradients, and the FMAN45 optimiser step by hand."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import gradcheck
from jaxdl import model as model_lib
from jaxdl import optimizers
from jaxdl.layers import conv2d, dense, flatten, initializers, losses, maxpool, relu
from jaxdl.layers.conv2d import conv_backward, conv_forward, gemm_filter_grad, gemm_forward
from jaxdl.models import cnn as cnn_models


@pytest.mark.parametrize("kernel,pad,stride", [(5, 2, 1), (3, 0, 2), (4, 1, 3)])
def test_conv_forward_matches_flax(kernel, pad, stride):
    kx, ki = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (3, 11, 10, 4))
    layer = conv2d(6, kernel, pad=pad, stride=stride, b_init=initializers.normal(0.5))
    params, _, out_shape = layer.init(ki, (11, 10, 4))
    y, _, _ = layer.forward(params, {}, x)
    ref = nn.Conv(6, (kernel, kernel), strides=stride, padding=[(pad, pad), (pad, pad)])
    y_ref = ref.apply({"params": {"kernel": params["F"], "bias": params["b"]}}, x)
    assert y.shape[1:] == out_shape
    chex.assert_trees_all_close(y, y_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 9, 2)])
def test_maxpool_forward_matches_flax(shape):
    x = jax.random.normal(jax.random.PRNGKey(1), shape)
    layer = maxpool(2)
    _, _, out_shape = layer.init(None, shape[1:])
    y, _, _ = layer.forward({}, {}, x)
    assert y.shape[1:] == out_shape
    chex.assert_trees_all_close(y, nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID"))


def _check_net(layers, in_shape, n, k=10, lam=0.0, seed=0, h=1e-5):
    model = model_lib.sequential(layers)
    params, state, X, Y, _ = gradcheck.random_problem(model, in_shape, n, k, seed)
    return gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y, lam,
                                 h=h, methods=("forward", "centred"), count_kinks=False)


def _assert_report(report, centred=1e-6):
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-10, (name, row)
        assert row["manual_vs_centred"] <= centred, (name, row)


@pytest.mark.parametrize("kernel,pad,stride", [(3, 1, 1), (4, 1, 3)])
def test_conv_layer_gradients_float64(x64, kernel, pad, stride):
    # stride 3 with a remainder: the padded rows no window reaches must get zero gradient
    layers = [conv2d(3, kernel, pad=pad, stride=stride, b_init=initializers.normal(0.1)),
              flatten(), dense(4)]
    _assert_report(_check_net(layers, (6, 7, 2), n=2, k=4, lam=0.1))


def test_maxpool_gradients_float64(x64):
    # odd sizes: the trailing row/column the pool drops must get zero gradient
    layers = [conv2d(3, 3, pad=1), maxpool(2), flatten(), dense(4)]
    _assert_report(_check_net(layers, (7, 6, 2), n=3, k=4))


def test_maxpool_backward_routes_to_max_and_splits_ties():
    x = jnp.array([[1.0, 5.0], [2.0, 3.0]])[None, :, :, None]
    _, cache, _ = maxpool(2).forward({}, {}, x)
    dx, _ = maxpool(2).backward({}, cache, jnp.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 1], [0, 0]])
    _, cache, _ = maxpool(2).forward({}, {}, jnp.zeros((1, 2, 2, 1)))
    dx, _ = maxpool(2).backward({}, cache, jnp.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, :, :, 0], np.full((2, 2), 0.25))


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_starter_network_gradients_float64(x64, dataset):
    """The starter layer stacks exactly (kernels, paddings, init), on two random 4 x 4 images.

    Manual == autodiff to round-off. Every entry within 1e-6 relative of the kink-free reference
    (ReLU masks and max-pool argmaxes frozen, per-entry steps up to 10, Richardson; forward passes
    only): these nets have gradient entries of ~1e-8, where the plain centred difference at
    h = 1e-5 is at its rounding floor, eps |J| / h ~ 1e-11 absolute, which it still meets.
    """
    model = cnn_models.starter(dataset)
    shape = (4, 4, {"mnist": 1, "cifar10": 3}[dataset])
    params, state, X, Y, key = gradcheck.random_problem(model, shape, 2)
    report = gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y,
                                   0.0025, key=key, methods=("centred", "smooth"),
                                   count_kinks=False, h_smooth=10.0, levels=3, output_step=0.03,
                                   chunk=1)
    assert set(report) == {"F1", "b1", "F2", "b2", "W3", "b3"}
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-10, (name, row)
        assert row["manual_vs_smooth"] <= 1e-6, (name, row)
        assert row["max_abs_manual_vs_centred"] <= 1e-9, (name, row)


def test_smooth_reference_freezes_maxpool_and_relu(x64):
    """Steps of 0.1 move many ReLU masks and max-pool argmaxes of this net; on the frozen piece
    such steps still give a derivative estimate."""
    model = model_lib.sequential([conv2d(2, 3, pad=1), relu(), maxpool(2), flatten(), dense(3)])
    params, state = model.init(jax.random.PRNGKey(0), (4, 4, 1))
    X = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 4, 1))
    Y = jax.nn.one_hot(jnp.array([0, 2]), 3)
    params, state, X, Y = gradcheck.to_float64((params, state, X, Y))
    kinks = gradcheck.kinks.kink_crossings(model, params, state, X, 0.1)
    assert float(sum(jnp.sum(k) for k in jax.tree.leaves(kinks))) >= 10
    loss = losses.softmax_cross_entropy
    _, g = jax.jit(model_lib.value_and_grad(model, loss, "manual"))(params, state, X, Y, 0.01)
    ref = gradcheck.kinks.smooth_piece_gradient(model, loss, params, state, X, Y, 0.01, h=0.1,
                                                levels=3, output_step=0.03)
    for a, n in zip(jax.tree.leaves(g), jax.tree.leaves(ref)):
        assert gradcheck.relative_error(a, n) <= 1e-6


def test_smooth_reference_takes_the_pool_window_from_the_layer(x64):
    """A 3 x 3 pool on an 8 x 8 input (2 x 2 windows, two rows/cols dropped): the window is the
    layer's own, not 8 // 2 = 4 inferred from shapes, so the frozen piece reproduces the net."""
    model = model_lib.sequential([conv2d(2, 3, pad=1), relu(), maxpool(3), flatten(), dense(3)])
    params, state, X, Y, _ = gradcheck.random_problem(model, (8, 8, 1), 2, 3)
    report = gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y, 0.01,
                                   methods=("smooth",), count_kinks=False, chunk=1)
    assert set(report) == {"F1", "b1", "W2", "b2"}
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-9, (name, row)
        assert row["manual_vs_smooth"] <= 1e-6, (name, row)


def test_improved_network_manual_matches_autodiff_float32_jit():
    model = cnn_models.improved(widths=(4, 8, 8), convs_per_block=2)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    params, state = model.init(k1, (16, 16, 3))
    X = jax.random.normal(k2, (4, 16, 16, 3))
    Y = jax.nn.one_hot(jax.random.randint(k3, (4,), 0, 10), 10)
    lam = jnp.float32(0.001)
    (J_m, _), g_m = jax.jit(model_lib.value_and_grad(model, losses.softmax_cross_entropy,
                                                     "manual"))(params, state, X, Y, lam)
    (J_a, _), g_a = jax.jit(model_lib.value_and_grad(model, losses.softmax_cross_entropy,
                                                     "autodiff"))(params, state, X, Y, lam)
    chex.assert_trees_all_close(J_m, J_a, rtol=1e-6)
    chex.assert_trees_all_close(g_m, g_a, rtol=1e-4, atol=1e-6)


def test_starter_parameter_counts():
    counts = cnn_models.parameter_counts(cnn_models.starter("mnist"), (28, 28, 1))
    assert [c for _, c in counts] == [416, 6416, 7850]
    assert sum(c for _, c in counts) == 14682
    counts = cnn_models.parameter_counts(cnn_models.starter("cifar10"), (32, 32, 3))
    assert [c for _, c in counts] == [1216, 6416, 40970]


@pytest.mark.parametrize("decay_biases", [True, False])
def test_fman45_momentum_two_steps_by_hand(decay_biases):
    mu, alpha, wd = 0.9, 0.1, 0.005
    params = [{"F": jnp.array([1.0, -2.0]), "b": jnp.array([0.5])}]
    g1 = [{"F": jnp.array([0.3, 0.1]), "b": jnp.array([-1.0])}]
    g2 = [{"F": jnp.array([-0.2, 0.4]), "b": jnp.array([2.0])}]
    opt = optimizers.fman45_momentum(alpha, mu, wd, decay_biases=decay_biases)
    state = opt.init(params)
    w = {k: np.asarray(v, np.float64) for k, v in params[0].items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    for g in (g1, g2):
        updates, state = opt.update(g, state, params)
        params = optax.apply_updates(params, updates)
        for k in w:  # the sheet: m = mu m + (1 - mu) g;  w -= alpha (m + wd w), biases too
            m[k] = mu * m[k] + (1 - mu) * np.asarray(g[0][k])
            w[k] = w[k] - alpha * (m[k] + (wd * w[k] if k == "F" or decay_biases else 0.0))
        for k in w:
            np.testing.assert_allclose(params[0][k], w[k], rtol=1e-6)
    penalty = optimizers.decayed_sum_of_squares(params, decay_biases=decay_biases)
    np.testing.assert_allclose(penalty, np.sum(w["F"] ** 2) + decay_biases * np.sum(w["b"] ** 2),
                               rtol=1e-6)


@pytest.mark.parametrize("kernel,pad,stride", [(5, 2, 1), (3, 1, 1), (3, 0, 2), (4, 1, 3)])
def test_gemm_forms_equal_the_convolutions_float64(x64, kernel, pad, stride):
    # the forward and dF as GEMMs over shifted views (what a CPU runs for some shapes) compute
    # the convolutions' sums: equal to float64 rounding, whichever form the shapes pick by default
    kx, kf, kg = jax.random.split(jax.random.PRNGKey(3), 3)
    x = jax.random.normal(kx, (3, 11, 10, 4), jnp.float64)
    F = jax.random.normal(kf, (kernel, kernel, 4, 6), jnp.float64)
    y = conv_forward(x, F, pad, stride, gemm=False)
    g = jax.random.normal(kg, y.shape, jnp.float64)
    chex.assert_trees_all_close(conv_forward(x, F, pad, stride, gemm=True), y,
                                rtol=1e-12, atol=1e-12)
    dx, dF = conv_backward(x, F, g, pad, stride, gemm=False)
    dx_gemm, dF_gemm = conv_backward(x, F, g, pad, stride, gemm=True)
    chex.assert_trees_all_close((dx_gemm, dF_gemm), (dx, dF), rtol=1e-12, atol=1e-12)
    _, vjp = jax.vjp(lambda x, F: conv_forward(x, F, pad, stride, gemm=False), x, F)
    chex.assert_trees_all_close((dx, dF_gemm), vjp(g), rtol=1e-12, atol=1e-12)


def test_gemm_forms_chosen_by_shape():
    # on a CPU: the forward for short contractions (first layers), dF for wide layers over many
    # output positions; the MNIST starter's second layer keeps both convolutions
    on_cpu = jax.default_backend() == "cpu"
    assert gemm_forward(jnp.zeros((5, 5, 1, 16))) == on_cpu
    assert not gemm_forward(jnp.zeros((5, 5, 16, 16)))
    assert gemm_filter_grad(jnp.zeros((128, 16, 16, 64))) == on_cpu
    assert not gemm_filter_grad(jnp.zeros((16, 14, 14, 16)))
