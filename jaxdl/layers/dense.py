"""Fully connected layer s = x W^T + b, with W_kxd as the course writes it (one row per output)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl.layers import initializers
from jaxdl.layers.core import Layer


def dense(n_out: int, w_init: initializers.Initializer | None = None,
          b_init: initializers.Initializer | None = None, use_bias: bool = True) -> Layer:
    """Dense layer; default init He for W and zeros for b.

    Backward (G = dJ/ds, n x k):  dW = G^T X,  db = G^T 1,  dX = G W.
    The 1/n of the mean loss is already inside G (the loss layer puts it there).
    """
    w_init = w_init or initializers.he()
    b_init = b_init or initializers.zeros()

    def init(key, in_shape):
        (d,) = in_shape
        kw, kb = jax.random.split(key)
        params = {"W": w_init(kw, (n_out, d), d, n_out)}
        if use_bias:
            params["b"] = b_init(kb, (n_out,), d, n_out)
        return params, {}, (n_out,)

    def forward(params, state, x_nxd, *, train=False, key=None):
        s_nxk = x_nxd @ params["W"].T
        if use_bias:
            s_nxk = s_nxk + params["b"][None, :]
        return s_nxk, x_nxd, state

    def backward(params, x_nxd, g_nxk):
        grads = {"W": g_nxk.T @ x_nxd}
        if use_bias:
            grads["b"] = jnp.sum(g_nxk, axis=0)
        return g_nxk @ params["W"], grads

    return Layer(init, forward, backward)
