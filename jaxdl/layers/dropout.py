"""Inverted dropout: active in train mode only, with the PRNG key threaded in by the caller."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl.layers.core import Layer


def dropout(rate: float) -> Layer:
    """Train: y = x * mask / (1 - rate), mask_ij ~ Bernoulli(1 - rate); eval: y = x.

    The 1/(1 - rate) scaling keeps E[y] = x, so evaluation needs no rescaling. Backward multiplies
    by the same mask / (1 - rate). `rate` is a Python float (fixed per model).
    """
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must lie in [0, 1), got {rate}")

    def init(key, in_shape):
        return {}, {}, tuple(in_shape)

    def forward(params, state, x, *, train=False, key=None):
        if not train or rate == 0:
            return x, None, state
        if key is None:
            raise ValueError("dropout in train mode needs a PRNG key")
        scale = jax.random.bernoulli(key, 1 - rate, x.shape).astype(x.dtype) / (1 - rate)
        return x * scale, scale, state

    def backward(params, scale, dy):
        return (dy if scale is None else dy * scale), {}

    return Layer(init, forward, backward)
