"""PreciseBN (Wu & Johnson, "Rethinking 'Batch' in BatchNorm"; the DD2424 Assignment 3 bonus):
population statistics recomputed from the fixed, trained model instead of the EMA collected while
it was changing.

The EMA with alpha = .9 averages the last ~10 minibatches, each computed by a slightly different
model. Here the model is frozen and each BN layer gets the exact mean and biased variance of its
input over X_nxd (a large chunk of training data), layer by layer: the statistics of layer l are
measured with layers < l already using their precise statistics, i.e. on the inputs that layer
will see at test time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import model as model_lib

BN_STATE_KEYS = {"mean", "var", "count"}


def is_bn_state(state: dict) -> bool:
    return set(state) == BN_STATE_KEYS


def recompute(model: model_lib.Model, params: list, state: list, X_nxd: jax.Array) -> list:
    """The model state with every BN layer's mean/var replaced by its population statistics
    over X_nxd (eval-mode forward pass; non-BN state is returned unchanged)."""
    x, new_state = X_nxd, []
    for layer, p, s in zip(model.layers, params, state):
        if is_bn_state(s) and not isinstance(x, tuple):
            mu_m = jnp.mean(x, axis=0)
            s = {**s, "mean": mu_m, "var": jnp.mean((x - mu_m[None, :]) ** 2, axis=0)}
        x, _, _ = layer.forward(p, s, x, train=False)
        new_state.append(s)
    return new_state
