"""flatten: every sample's feature array as one row, the way dense layers take it."""

from __future__ import annotations

import math

from jaxdl.layers.core import Layer


def flatten() -> Layer:
    """n x (any shape) -> n x (product), row-major; backward reshapes back.

    For the ConvNet's (n_out, nf) activations this is the course's vec(X2) (column by column of
    the nf x n_out matrix); for images, H x W x C in row-major order.
    """

    def init(key, in_shape):
        return {}, {}, (math.prod(in_shape),)

    def forward(params, state, x, *, train=False, key=None):
        return x.reshape(x.shape[0], -1), x.shape, state

    def backward(params, shape, dy):
        return dy.reshape(shape), {}

    return Layer(init, forward, backward)
