"""The one idea: a layer is three pure functions.

    init(key, in_shape)                      -> params, state, out_shape
    forward(params, state, x, *, train, key) -> y, cache, new_state
    backward(params, cache, dy)              -> dx, dparams      # the chain rule, written by hand

Shapes exclude the batch axis, which is always first. `params` and `state` are dicts of arrays
(empty for parameter-free layers); `cache` is whatever backward needs from forward.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

Array = jax.Array
Params = dict[str, Any]
Shape = tuple[int, ...]

# Parameter names that carry the L2 penalty lam * ||.||^2 (weight matrices and filters, never
# biases or batch-norm scales and shifts).
WEIGHT_KEYS = ("W", "F")


class Layer(NamedTuple):
    init: Callable[..., tuple[Params, Params, Shape]]
    forward: Callable[..., tuple[Array, Any, Params]]
    backward: Callable[[Params, Any, Array], tuple[Array, Params]]
