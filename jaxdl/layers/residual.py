"""Skip connections inside `model.sequential`, as three small layers with hand-written backward.

A residual block y = x + f(x) becomes

    fork()  ->  branch(layer_1) ... branch(layer_j)  ->  merge()

`fork` duplicates x into a pair (x, x); `branch(layer)` applies a layer to the first element of
the pair and carries the second (the identity path) along; `merge` returns their sum. Because a
branch layer's params are its inner layer's own dict, W keeps its name and its L2 penalty, and the
parameter tables read W1, W2, ... as for any MLP. Backward, by the chain rule:
    merge:  dy -> (dy, dy);   branch: (da, db) -> (inner.backward(da), db);
    fork:   (da, db) -> da + db.
"""

from __future__ import annotations

from jaxdl.layers.core import Layer


def fork() -> Layer:
    """x -> (x, x): opens a skip connection."""

    def init(key, in_shape):
        shape = tuple(in_shape)
        return {}, {}, (shape, shape)

    def forward(params, state, x, *, train=False, key=None):
        return (x, x), None, state

    def backward(params, cache, dy):
        da, db = dy
        return da + db, {}

    return Layer(init, forward, backward)


def branch(layer: Layer) -> Layer:
    """(a, skip) -> (layer(a), skip): a layer on the residual path of an open skip connection."""

    def init(key, in_shape):
        shape_a, shape_skip = in_shape
        params, state, out_a = layer.init(key, shape_a)
        return params, state, (tuple(out_a), shape_skip)

    def forward(params, state, x, *, train=False, key=None):
        a, skip = x
        y, cache, new_state = layer.forward(params, state, a, train=train, key=key)
        return (y, skip), cache, new_state

    def backward(params, cache, dy):
        da, dskip = dy
        dx, grads = layer.backward(params, cache, da)
        return (dx, dskip), grads

    return Layer(init, forward, backward)


def merge() -> Layer:
    """(a, skip) -> a + skip: closes a skip connection (shapes must agree)."""

    def init(key, in_shape):
        shape_a, shape_skip = in_shape
        if tuple(shape_a) != tuple(shape_skip):
            raise ValueError(f"skip connection joins shapes {shape_a} and {shape_skip}: the "
                             "residual path must keep the width")
        return {}, {}, tuple(shape_a)

    def forward(params, state, x, *, train=False, key=None):
        a, skip = x
        return a + skip, None, state

    def backward(params, cache, dy):
        return (dy, dy), {}

    return Layer(init, forward, backward)
