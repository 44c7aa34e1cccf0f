"""conv1d: the course's MF / MX matrices, the five forms agreeing, and the surname ConvNet's
hand-written gradients against jax.grad and centred differences (float64)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.models import names as names_model
from jaxdl import gradcheck
from jaxdl import model as model_lib
from jaxdl.data import names as names_data
from jaxdl.layers import conv1d as conv
from jaxdl.layers import losses


def _names_batch(n, d=28, n_len=19, seed=0):
    """Random 'names' of random lengths 2..n_len as character indices (d = empty column)."""
    rng = np.random.default_rng(seed)
    c = np.full((n, n_len), d, np.int32)
    for i, m in enumerate(rng.integers(2, n_len + 1, n)):
        c[i, :m] = rng.integers(0, d, m)
    return c


def _mf_by_definition(F, n_len):
    """M_F as DD2424 Assignment 3 defines it: block row j puts V_F at rows j nf.., columns
    j d .. j d + d k - 1."""
    d, k, nf = F.shape
    V = np.stack([F[:, :, f].ravel(order="F") for f in range(nf)])
    MF = np.zeros(((n_len - k + 1) * nf, n_len * d))
    for j in range(n_len - k + 1):
        MF[j * nf:(j + 1) * nf, j * d:j * d + d * k] = V
    return MF


def _mx_by_kron(X_dxl, k, nf):
    """Block row j = kron(I_nf, vec(X[:, j:j+k-1])^T), the slow-but-obvious construction."""
    d, n_len = X_dxl.shape
    return np.concatenate([np.kron(np.eye(nf), X_dxl[:, j:j + k].ravel(order="F")[None, :])
                           for j in range(n_len - k + 1)])


def test_mf_mx_match_the_sheet_definitions(x64):
    rng = np.random.default_rng(0)
    d, k, nf, n_len = 5, 3, 4, 8
    F = rng.standard_normal((d, k, nf))
    X_dxl = rng.standard_normal((d, n_len))  # the course's d x n_len matrix
    x_vec = X_dxl.ravel(order="F")  # vec(X), column-major
    MF = np.asarray(conv.make_mf_matrix(jnp.asarray(F), n_len))
    MX = np.asarray(conv.make_mx_matrix(jnp.asarray(x_vec), d, k, nf))
    np.testing.assert_array_equal(MF, _mf_by_definition(F, n_len))
    np.testing.assert_array_equal(MX, _mx_by_kron(X_dxl, k, nf))
    # the debug check of the sheet: MX F(:) = MF vec(X) = vec(S), S[f, j] = <F_f, X[:, j:j+k-1]>
    S = np.array([[np.sum(F[:, :, f] * X_dxl[:, j:j + k]) for j in range(n_len - k + 1)]
                  for f in range(nf)])
    np.testing.assert_allclose(MF @ x_vec, S.ravel(order="F"), rtol=1e-12)
    np.testing.assert_allclose(MX @ F.ravel(order="F"), S.ravel(order="F"), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(conv.vec_filters(jnp.asarray(F))), F.ravel(order="F"))


def _layer_input(form, c, d, k):
    X = jnp.asarray(names_data.one_hot(c, d), jnp.float64)
    return {"gather": jnp.asarray(c), "precomputed": conv.input_patches(X, k)}.get(form, X)


def test_all_forms_agree_on_one_hot_input(x64):
    d, k, nf = 28, 5, 4
    c = _names_batch(6, d)
    F = {"F": jax.random.normal(jax.random.PRNGKey(1), (d, k, nf), jnp.float64)}
    G = jax.random.normal(jax.random.PRNGKey(2), (6, 19 - k + 1, nf), jnp.float64)
    ref = None
    for form in conv.FORMS:
        layer = conv.conv1d(nf, k, form, d=d)
        S, cache, _ = layer.forward(F, {}, _layer_input(form, c, d, k))
        dx, grads = layer.backward(F, cache, G)
        if ref is None:
            ref = (S, grads["F"], dx)
        chex.assert_trees_all_close((S, grads["F"]), ref[:2], rtol=1e-12, atol=1e-12)
        if form in ("patches", "lax"):
            chex.assert_trees_all_close(dx, ref[2], rtol=1e-12, atol=1e-12)


def test_gather_scatters_per_tap_and_all_at_once_agree(x64):
    """The gather form's two backward scatters (per tap: the CPU's; all taps at once: a GPU's)
    give the patches form's dF; the test machine runs only the first inside the layer."""
    d, k, nf = 28, 5, 4
    c = _names_batch(6, d)
    F = {"F": jax.random.normal(jax.random.PRNGKey(1), (d, k, nf), jnp.float64)}
    G = jax.random.normal(jax.random.PRNGKey(2), (6, 19 - k + 1, nf), jnp.float64)
    patches = conv.conv1d(nf, k, "patches")
    _, cache, _ = patches.forward(F, {}, _layer_input("patches", c, d, k))
    ref = patches.backward(F, cache, G)[1]["F"]
    for scatter in (conv.gather_grad_per_tap, conv.gather_grad_all_taps):
        np.testing.assert_allclose(scatter(jnp.asarray(c), G, k, d), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("form", ["matrix", "patches", "lax"])
def test_dense_input_backward_matches_jax_grad_float64(x64, form):
    """Layer 2's situation: real-valued input, both dF and dX needed."""
    layer = conv.conv1d(3, 3, form)
    params, _, out_shape = layer.init(jax.random.PRNGKey(0), (7, 4))
    params = gradcheck.to_float64(params)
    X = jax.random.normal(jax.random.PRNGKey(1), (2, 7, 4), jnp.float64)
    G = jax.random.normal(jax.random.PRNGKey(2), (2, *out_shape), jnp.float64)

    def f(p, x):
        return jnp.sum(G * layer.forward(p, {}, x)[0])

    @jax.jit
    def manual(params, X):
        _, cache, _ = layer.forward(params, {}, X)
        dX, grads = layer.backward(params, cache, G)
        return grads, dX

    chex.assert_trees_all_close(manual(params, X), jax.jit(jax.grad(f, (0, 1)))(params, X),
                                rtol=1e-12, atol=1e-12)


CHECK_CFG = dict(n1=5, k1=5, n2=5, k2=5)


@pytest.mark.parametrize("n,forms", [(1, ("gather", "patches")), (2, ("gather", "patches")),
                                     (3, ("gather", "patches")), (3, ("matrix", "matrix"))])
def test_convnet_gradient_check_float64(x64, n, forms):
    """n1 = n2 = 5, k1 = k2 = 5, batches of 1, 2, 3 (the full table for every form:
    python -m experiments.gradcheck --model names)."""
    cfg = names_model.Config(**CHECK_CFG, form1=forms[0], form2=forms[1])
    model = names_model.build(cfg)
    params, state = model.init(jax.random.PRNGKey(n), names_model.in_shape(cfg))
    c = _names_batch(n, seed=n)
    X = names_model.encode(c, cfg)
    Y = jax.nn.one_hot(jnp.arange(n) * 5 % 18, 18)
    report = gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y, 0.0,
                                   methods=("centred",), count_kinks=False)
    assert set(report) == {"F1", "F2", "W3"}
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-9, (name, row)
        assert row["manual_vs_centred"] <= 1e-6, (name, row)


def test_class_weighted_convnet_gradient_float64(x64):
    cfg = names_model.Config(**CHECK_CFG, form1="lax", form2="lax")
    model = names_model.build(cfg)
    params, state = model.init(jax.random.PRNGKey(7), names_model.in_shape(cfg))
    X = names_model.encode(_names_batch(3, seed=7), cfg)
    Y = jax.nn.one_hot(jnp.array([0, 14, 17]), 18)
    report = gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y, 0.0,
                                   weights=jnp.array([0.5, 0.1, 3.0]), methods=("centred",),
                                   count_kinks=False)
    # Relative error is not the measure here: with weights up to 3 the cost is larger and the
    # centred differences' rounding error (~eps J / h, measured 1.4e-10) reaches 1e-6 relative on
    # entries whose gradient is ~1e-4; autodiff shows exactly the same distance to them.
    # A wrong backward would be off by the size of the gradient itself.
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-9, (name, row)
        assert row["max_abs_manual_vs_centred"] <= 1e-9, (name, row)


@pytest.mark.parametrize("forms", [("gather", "patches"), ("precomputed", "lax")])
def test_manual_matches_autodiff_float32_jit(forms):
    cfg = names_model.Config(n1=8, n2=8, form1=forms[0], form2=forms[1])
    model = names_model.build(cfg)
    params, state = model.init(jax.random.PRNGKey(0), names_model.in_shape(cfg))
    X = names_model.encode(_names_batch(50), cfg)
    Y = jax.nn.one_hot(jnp.arange(50) % 18, 18)
    lam = jnp.float32(0.0)
    loss = losses.softmax_cross_entropy
    (J_m, _), g_m = jax.jit(model_lib.value_and_grad(model, loss, "manual"))(
        params, state, X, Y, lam)
    (J_a, _), g_a = jax.jit(model_lib.value_and_grad(model, loss, "autodiff"))(
        params, state, X, Y, lam)
    chex.assert_trees_all_close(J_m, J_a, rtol=1e-6)
    chex.assert_trees_all_close(g_m, g_a, rtol=1e-4, atol=1e-6)


def test_he_init_for_one_hot_input():
    cfg = names_model.Config(n1=200, k1=5, n2=200, k2=3)
    params, _ = names_model.build(cfg).init(jax.random.PRNGKey(0), names_model.in_shape(cfg))
    np.testing.assert_allclose(float(jnp.std(params[0]["F"])), np.sqrt(2 / 5), rtol=0.03)
    np.testing.assert_allclose(float(jnp.std(params[2]["F"])), np.sqrt(2 / (200 * 3)), rtol=0.03)
    np.testing.assert_allclose(float(jnp.std(params[5]["W"])), np.sqrt(2 / cfg.fsize), rtol=0.03)
