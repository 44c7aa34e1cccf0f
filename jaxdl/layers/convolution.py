"""`conv`: lax.conv_general_dilated (batch-first specs) with a batching rule fit for sweeps.

Under `jax.vmap` with both operands batched (every member of a seed sweep has its own images and
filters), jax's own rule turns the convolution into one grouped convolution with a group per
member, and XLA CPU runs grouped convolutions as a naive loop: a 5-seed CIFAR-10 starter CNN ran
about ten times slower than five single runs. The rule here keeps each member's convolution in
the plain form XLA gives to its fast kernels:
  - only the input batched (members share the filters): the members join the batch axis;
  - only the filters batched (members share the input, e.g. the first layer of a lambda sweep on
    one minibatch): the members join the output channels;
  - both batched: a `lax.map` over the members, the plain convolution in its body (on a CPU
    only: elsewhere jax's grouped convolution stays, which GPU libraries run well).
Each member's convolution is then the one an unbatched run computes. Forward-mode (and so
reverse-mode) autodiff differentiates the plain convolution, as it would without this module.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import custom_batching, lax


def _plain(lhs, rhs, strides, padding, lhs_dilation, rhs_dilation, specs):
    return lax.conv_general_dilated(lhs, rhs, strides, padding, lhs_dilation=lhs_dilation,
                                    rhs_dilation=rhs_dilation, dimension_numbers=specs)


def members_in_turn() -> bool:
    """Whether a convolution with both operands batched runs member by member (`lax.map`): on
    the CPU, whose grouped convolutions are slow."""
    return jax.default_backend() == "cpu"


def conv(lhs: jax.Array, rhs: jax.Array, strides: Sequence[int],
         padding: Sequence[tuple[int, int]] | str, *, lhs_dilation: Sequence[int] | None = None,
         rhs_dilation: Sequence[int] | None = None,
         specs: tuple[str, str, str] = ("NHWC", "HWIO", "NHWC")) -> jax.Array:
    """lax.conv_general_dilated(lhs, rhs, ...) with dimension numbers `specs` (lhs and output
    batch first, rhs output channels last), vmapped as the module docstring says."""
    if not (specs[0][0] == specs[2][0] == "N" and specs[1][-1] == "O" and specs[2][-1] == "C"):
        raise ValueError(f"conv needs batch-first lhs and output, channels-last rhs and output; "
                         f"got {specs}")
    n_spatial = lhs.ndim - 2
    padding = padding if isinstance(padding, str) else tuple(tuple(p) for p in padding)
    args = (tuple(strides), padding, tuple(lhs_dilation or (1,) * n_spatial),
            tuple(rhs_dilation or (1,) * n_spatial), tuple(specs))
    return _conv_fn(args)(lhs, rhs)


@functools.lru_cache(maxsize=None)
def _conv_fn(args: tuple):
    """The custom-batched convolution for one set of static settings, built once: the same
    function object on every call, so JAX's caches of traced and compiled calls apply."""

    @jax.custom_jvp
    @custom_batching.custom_vmap
    def f(lhs, rhs):
        return _plain(lhs, rhs, *args)

    @f.def_vmap
    def batched(axis_size, in_batched, lhs, rhs):
        lhs_batched, rhs_batched = in_batched
        if not rhs_batched:  # members as more images: m x n x ... -> (m n) x ...
            out = f(lhs.reshape((-1,) + lhs.shape[2:]), rhs)
            return out.reshape((axis_size, -1) + out.shape[1:]), True
        if not lhs_batched:  # members as more output channels: ... x I x (m O)
            o = rhs.shape[-1]
            out = f(lhs, jnp.moveaxis(rhs, 0, -2).reshape(rhs.shape[1:-1] + (axis_size * o,)))
            out = out.reshape(out.shape[:-1] + (axis_size, o))
            return jnp.moveaxis(out, -2, 0), True
        if members_in_turn():
            return lax.map(lambda pair: _plain(*pair, *args), (lhs, rhs)), True
        return jax.vmap(lambda l, r: _plain(l, r, *args))(lhs, rhs), True  # grouped

    @f.defjvp
    def jvp(primals, tangents):
        (lhs, rhs), (d_lhs, d_rhs) = primals, tangents
        return f(lhs, rhs), _plain(d_lhs, rhs, *args) + _plain(lhs, d_rhs, *args)

    return f
