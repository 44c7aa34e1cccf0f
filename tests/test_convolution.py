"""jaxdl.layers.convolution.conv: under vmap each member gets the unbatched convolution, in all
three batching patterns, and autodiff through it equals autodiff through lax's own."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxdl.layers import convolution
from jaxdl.layers.convolution import conv

SPECS = ("NHWC", "HWIO", "NHWC")
KW = dict(strides=(1, 1), padding=[(1, 2), (2, 1)], lhs_dilation=(2, 1), rhs_dilation=(1, 2))


def _lax(lhs, rhs):
    return lax.conv_general_dilated(lhs, rhs, KW["strides"], KW["padding"],
                                    lhs_dilation=KW["lhs_dilation"],
                                    rhs_dilation=KW["rhs_dilation"], dimension_numbers=SPECS)


def _ours(lhs, rhs):
    return conv(lhs, rhs, KW["strides"], KW["padding"], lhs_dilation=KW["lhs_dilation"],
                rhs_dilation=KW["rhs_dilation"])


@pytest.mark.parametrize("in_axes,in_turn", [((0, 0), True), ((0, 0), False),
                                             ((0, None), True), ((None, 0), True)])
def test_vmapped_conv_is_each_members_conv(in_axes, in_turn, monkeypatch):
    """Each batching pattern; both operands batched also as on a GPU (jax's grouped form)."""
    monkeypatch.setattr(convolution, "members_in_turn", lambda: in_turn)
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    lhs = jax.random.normal(k1, (3, 2, 5, 6, 4) if in_axes[0] == 0 else (2, 5, 6, 4))
    rhs = jax.random.normal(k2, (3, 3, 2, 4, 5) if in_axes[1] == 0 else (3, 2, 4, 5))
    got = jax.jit(jax.vmap(_ours, in_axes))(lhs, rhs)
    member = lambda x, axis, i: x if axis is None else x[i]  # noqa: E731
    want = np.stack([_lax(member(lhs, in_axes[0], i), member(rhs, in_axes[1], i))
                     for i in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv_1d_specs_and_bad_specs():
    x, F = jnp.ones((2, 7, 3)), jnp.ones((3, 3, 4))
    one_d = ("NWC", "WIO", "NWC")
    np.testing.assert_allclose(
        jax.vmap(lambda a, b: conv(a, b, (1,), "VALID", specs=one_d))(jnp.stack([x, 2 * x]),
                                                                        jnp.stack([F, F])),
        np.stack([lax.conv_general_dilated(x, F, (1,), "VALID", dimension_numbers=one_d),
                  lax.conv_general_dilated(2 * x, F, (1,), "VALID", dimension_numbers=one_d)]))
    with pytest.raises(ValueError, match="batch-first"):
        conv(x, F, (1,), "VALID", specs=("WNC", "WIO", "NWC"))


def test_autodiff_through_conv_equals_lax():
    """jax.grad through conv equals jax.grad through lax's convolution, alone and per member of a
    vmap (each member's gradient as lax gives it unbatched)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    lhs, rhs = jax.random.normal(k1, (2, 2, 5, 6, 4)), jax.random.normal(k2, (2, 3, 2, 4, 5))
    g = jax.random.normal(k3, (2,) + jax.eval_shape(_lax, lhs[0], rhs[0]).shape)
    grad = lambda f: jax.jit(jax.grad(lambda a, b, c: jnp.sum(f(a, b) * c), (0, 1)))  # noqa: E731
    theirs_fn, ours_fn = grad(_lax), grad(_ours)
    want = [theirs_fn(lhs[i], rhs[i], g[i]) for i in range(2)]
    got = [ours_fn(lhs[i], rhs[i], g[i]) for i in range(2)]
    batched = jax.jit(jax.vmap(ours_fn))(lhs, rhs, g)
    for i in range(2):
        for ours, member, theirs in zip(got[i], (b[i] for b in batched), want[i]):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(member, theirs, rtol=1e-5, atol=1e-5)
