"""Models as compositions of layers, the regularised cost, and its gradient two ways.

`sequential` keeps the layer protocol: forward stores each layer's cache, backward walks them in
reverse. The cost is J = loss + lam * sum ||W||^2 over weight matrices only (core.WEIGHT_KEYS).
`value_and_grad(model, loss, "manual")` differentiates with the hand-written backward passes;
`"autodiff"` with `jax.grad` of the same cost: the reference every manual gradient is held to.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from jaxdl.layers.core import WEIGHT_KEYS, Layer
from jaxdl.layers.losses import Loss

GRAD_KINDS = ("manual", "autodiff")


class Model(NamedTuple):
    init: Callable[..., tuple[list, list]]  # (key, in_shape) -> params, state
    forward: Callable[..., tuple[jax.Array, list, list]]  # -> scores, caches, new_state
    backward: Callable[[list, list, jax.Array], list]  # (params, caches, dscores) -> grads
    apply: Callable[..., tuple[jax.Array, list]]  # -> scores, new_state (no caches)
    layers: tuple[Layer, ...]


def sequential(layers: Sequence[Layer]) -> Model:
    """Chains layers; params and state are lists with one dict per layer."""
    layers = tuple(layers)

    def init(key, in_shape):
        params, state, shape = [], [], tuple(in_shape)
        for layer, k in zip(layers, jax.random.split(key, len(layers))):
            p, s, shape = layer.init(k, shape)
            params.append(p)
            state.append(s)
        return params, state

    def forward(params, state, x, *, train=False, key=None):
        keys = [None] * len(layers) if key is None else list(jax.random.split(key, len(layers)))
        caches, new_state = [], []
        for layer, p, s, k in zip(layers, params, state, keys):
            x, cache, s = layer.forward(p, s, x, train=train, key=k)
            caches.append(cache)
            new_state.append(s)
        return x, caches, new_state

    def backward(params, caches, g):
        grads = [None] * len(layers)
        for i in reversed(range(len(layers))):
            g, grads[i] = layers[i].backward(params[i], caches[i], g)
        return grads

    def apply(params, state, x, *, train=False, key=None):
        scores, _, new_state = forward(params, state, x, train=train, key=key)
        return scores, new_state

    return Model(init, forward, backward, apply, layers)


def l2_penalty(params: Any) -> jax.Array:
    """sum ||W||^2 over every weight matrix / filter bank (biases, gamma, beta excluded)."""
    total = jnp.zeros(())
    for layer_params in params:
        for name in WEIGHT_KEYS:
            if name in layer_params:
                total = total + jnp.sum(layer_params[name] ** 2)
    return total


def add_l2_gradient(grads: list, params: list, lam: jax.Array) -> list:
    """grads + 2 lam W for every weight entry (the penalty's gradient)."""
    return [{name: g + 2 * lam * p[name] if name in WEIGHT_KEYS else g
             for name, g in gl.items()} for gl, p in zip(grads, params)]


class Aux(NamedTuple):
    loss: jax.Array  # the data term alone
    state: list  # new model state (batch-norm running statistics)
    scores: jax.Array  # n x K pre-activation scores


def cost(model: Model, loss: Loss, params, state, X, Y, lam, *, train: bool = False,
         key=None, weights=None) -> tuple[jax.Array, Aux]:
    """J = loss(model(X), Y) + lam * sum ||W||^2, and the auxiliaries."""
    scores, new_state = model.apply(params, state, X, train=train, key=key)
    data_loss, _ = loss.forward(scores, Y, weights)
    return data_loss + lam * l2_penalty(params), Aux(data_loss, new_state, scores)


def value_and_grad(model: Model, loss: Loss, kind: str = "manual", *, train: bool = True
                   ) -> Callable[..., tuple[tuple[jax.Array, Aux], list]]:
    """f(params, state, X, Y, lam, key=None, weights=None) -> ((J, Aux), dJ/dparams).

    kind="manual": forward with caches, the loss's and every layer's hand-written backward.
    kind="autodiff": jax.value_and_grad of `cost`. Both are plain functions, ready for jit/vmap.
    """
    if kind == "manual":
        def manual(params, state, X, Y, lam, key=None, weights=None):
            scores, caches, new_state = model.forward(params, state, X, train=train, key=key)
            data_loss, loss_cache = loss.forward(scores, Y, weights)
            grads = model.backward(params, caches, loss.backward(loss_cache))
            J = data_loss + lam * l2_penalty(params)
            return (J, Aux(data_loss, new_state, scores)), add_l2_gradient(grads, params, lam)
        return manual
    if kind == "autodiff":
        def autodiff(params, state, X, Y, lam, key=None, weights=None):
            def f(p):
                return cost(model, loss, p, state, X, Y, lam, train=train, key=key, weights=weights)
            return jax.value_and_grad(f, has_aux=True)(params)
        return autodiff
    raise ValueError(f"unknown gradient kind {kind!r}: expected one of {GRAD_KINDS}")


def param_names(params: list) -> list[str]:
    """Per-parameter names numbered by weight layer, as the sheets write them: W1, b1, gamma1,
    beta1, W2, ... (a layer without a weight matrix or filter bank, e.g. batch norm, takes the
    number of the weight layer before it)."""
    names, i = [], 0
    for layer_params in params:
        if any(name in layer_params for name in WEIGHT_KEYS) or (layer_params and i == 0):
            i += 1
        names += [f"{name}{i}" for name in layer_params]
    return names


def flat_params(params: list) -> dict[str, jax.Array]:
    """{'W1': ..., 'b1': ...}: the per-parameter view used in gradient tables."""
    return dict(zip(param_names(params),
                    [v for layer_params in params for v in layer_params.values()]))
