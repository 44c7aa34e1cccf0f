"""Element-wise activations with hand-written backward passes."""
from __future__ import annotations
import jax.numpy as jnp
from jaxdl.layers.core import Layer


def relu() -> Layer:
    """max(0, x); backward passes dy where x > 0 (the course's Ind(x > 0))."""

    def init(key, in_shape):
        return {}, {}, tuple(in_shape)

    def forward(params, state, x, *, train=False, key=None):
        return jnp.maximum(x, 0), x > 0, state

    def backward(params, mask, dy):
        return jnp.where(mask, dy, 0), {}

    return Layer(init, forward, backward)
