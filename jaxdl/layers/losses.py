"""Losses as the last layer: forward(s, Y, w) -> (mean loss, cache); backward(cache) -> dL/ds.

The loss is the weighted mean (1/n) sum_i w_i l_i over the batch (w = 1 by default; a
class-weighted loss passes w_i = n / (K n_{y_i})), so dL/ds carries the 1/n.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp


class Loss(NamedTuple):
    forward: Callable[..., tuple[jax.Array, Any]]
    backward: Callable[[Any], jax.Array]
    probabilities: Callable[[jax.Array], jax.Array]  # scores -> class probabilities


def _weights(s_nxk, w_n):
    return jnp.ones(s_nxk.shape[0], s_nxk.dtype) if w_n is None else w_n.astype(s_nxk.dtype)


def _softmax_forward(s_nxk, Y_nxk, w_n=None):
    """l_i = -log p_{y_i}, p = softmax(s); computed with log-sum-exp for stability."""
    w_n = _weights(s_nxk, w_n)
    logp = jax.nn.log_softmax(s_nxk, axis=-1)
    loss = -jnp.sum(w_n * jnp.sum(Y_nxk * logp, axis=-1)) / s_nxk.shape[0]
    return loss, (jnp.exp(logp), Y_nxk, w_n)


def _softmax_backward(cache):
    """dL/ds = w_i (p_i - y_i) / n   (the course's G = -(Y - P), with the 1/n)."""
    P_nxk, Y_nxk, w_n = cache
    return (w_n[:, None] * (P_nxk - Y_nxk)) / P_nxk.shape[0]


softmax_cross_entropy = Loss(_softmax_forward, _softmax_backward,
                             lambda s: jax.nn.softmax(s, axis=-1))


def _mbce_forward(s_nxk, Y_nxk, w_n=None):
    """Multiple binary cross-entropy, l = -(1/K) sum_k [(1-y_k) log(1-p_k) + y_k log p_k], p = sigmoid(s)."""
    w_n = _weights(s_nxk, w_n)
    k = s_nxk.shape[-1]
    # log p = -softplus(-s), log(1-p) = -softplus(s): stable for large |s|.
    per_class = Y_nxk * jax.nn.softplus(-s_nxk) + (1 - Y_nxk) * jax.nn.softplus(s_nxk)
    loss = jnp.sum(w_n * jnp.sum(per_class, axis=-1)) / (k * s_nxk.shape[0])
    return loss, (jax.nn.sigmoid(s_nxk), Y_nxk, w_n)


def _mbce_backward(cache):
    """dL/ds = w_i (p_i - y_i) / (K n): the softmax path with a 1/K factor."""
    P_nxk, Y_nxk, w_n = cache
    return (w_n[:, None] * (P_nxk - Y_nxk)) / (P_nxk.shape[-1] * P_nxk.shape[0])


multiple_binary_cross_entropy = Loss(_mbce_forward, _mbce_backward, jax.nn.sigmoid)

LOSSES = {"softmax_ce": softmax_cross_entropy, "mbce": multiple_binary_cross_entropy}


def by_name(name: str) -> Loss:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}: expected one of {sorted(LOSSES)}")
    return LOSSES[name]
