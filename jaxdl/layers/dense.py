"""Fully connected layer s = x W^T + b, with W_kxd as the course writes it (one row per output)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl.layers import initializers
from jaxdl.layers.core import Layer


def dense(n_out: int, w_init: initializers.Initializer | None = None,
          b_init: initializers.Initializer | None = None, use_bias: bool = True) -> Layer:
    """Dense layer; default init He for W and zeros for b.

    Backward (G = dJ/ds, n x k):  dW = G^T X,  db = G^T 1,  dX = G W.
    The 1/n of the mean loss is already inside G (the loss layer puts it there).

    Speed: for narrow layers (n_out <= 16: the classifiers) s is computed as (W X^T)^T and dW
    from an explicit G^T, each transpose behind an optimization_barrier. Without the barriers XLA
    folds the transposes into the dots, and on CPU the n x 10 product X W^T and G^T X take slower
    kernels; at n_out = 50 the barriers cost more than they save (figures in benchmarks/NOTES.md).
    Same values up to float32 rounding.
    """
    w_init = w_init or initializers.he()
    b_init = b_init or initializers.zeros()
    narrow = n_out <= 16

    def init(key, in_shape):
        (d,) = in_shape
        kw, kb = jax.random.split(key)
        params = {"W": w_init(kw, (n_out, d), d, n_out)}
        if use_bias:
            params["b"] = b_init(kb, (n_out,), d, n_out)
        return params, {}, (n_out,)

    def forward(params, state, x_nxd, *, train=False, key=None):
        if narrow:
            s_nxk = lax.optimization_barrier(params["W"] @ x_nxd.T).T
        else:
            s_nxk = x_nxd @ params["W"].T
        if use_bias:
            s_nxk = s_nxk + params["b"][None, :]
        return s_nxk, x_nxd, state

    def backward(params, x_nxd, g_nxk):
        g_kxn = lax.optimization_barrier(g_nxk.T) if narrow else g_nxk.T
        grads = {"W": g_kxn @ x_nxd}
        if use_bias:
            grads["b"] = jnp.sum(g_nxk, axis=0)
        return g_nxk @ params["W"], grads

    return Layer(init, forward, backward)
