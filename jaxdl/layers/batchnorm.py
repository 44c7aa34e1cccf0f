"""Batch normalisation over the batch axis (DD2424 Assignment 3), backward by hand.

Train mode normalises with the minibatch mean mu and the biased variance v (divided by n):
    s_hat = (s - mu) / sqrt(v + eps),   y = gamma * s_hat + beta
and updates the running averages in `state` (an exponential moving average,
mu_av = alpha mu_av + (1 - alpha) mu, the same for v, initialised from the first minibatch).
Eval mode uses mu_av and v_av instead: an affine map. The running statistics are state threaded
through forward's return value, never globals.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxdl.layers.core import Layer


def batchnorm(alpha: float = 0.9, eps: float = 1e-8) -> Layer:
    """BN with learnt scale gamma (init 1) and shift beta (init 0), EMA momentum alpha.

    Backward (G = dJ/dy, n x m, the loss's 1/n already inside):
        dgamma = sum_i G_i * s_hat_i,   dbeta = sum_i G_i,   G <- G * gamma
        train:  with s1 = (v + eps)^-1/2, s2 = (v + eps)^-3/2, D = s - mu,
                G1 = G s1,  c = sum_i (G s2 * D)_i,  dS = G1 - mean_i G1 - D c / n   (eqs 31-37)
        eval:   dS = G s1 with the running variance (mu_av, v_av are constants).
    """

    def init(key, in_shape):
        (m,) = in_shape
        params = {"gamma": jnp.ones((m,), jnp.float32), "beta": jnp.zeros((m,), jnp.float32)}
        state = {"mean": jnp.zeros((m,), jnp.float32), "var": jnp.ones((m,), jnp.float32),
                 "count": jnp.zeros((), jnp.int32)}  # count = minibatches seen in train mode
        return params, state, (m,)

    def forward(params, state, s_nxm, *, train=False, key=None):
        if train:
            mu_m = jnp.mean(s_nxm, axis=0)
            D_nxm = s_nxm - mu_m[None, :]
            v_m = jnp.mean(D_nxm ** 2, axis=0)  # biased: 1/n, as the sheet asks
            first = state["count"] == 0
            new_state = {
                "mean": jnp.where(first, mu_m, alpha * state["mean"] + (1 - alpha) * mu_m),
                "var": jnp.where(first, v_m, alpha * state["var"] + (1 - alpha) * v_m),
                "count": state["count"] + 1}
        else:
            D_nxm = s_nxm - state["mean"][None, :]
            v_m = state["var"]
            new_state = state
        inv_std_m = (v_m + eps) ** -0.5
        s_hat_nxm = D_nxm * inv_std_m[None, :]
        y_nxm = params["gamma"][None, :] * s_hat_nxm + params["beta"][None, :]
        return y_nxm, (D_nxm, inv_std_m, s_hat_nxm, train), new_state

    def backward(params, cache, g_nxm):
        D_nxm, inv_std_m, s_hat_nxm, train = cache
        grads = {"gamma": jnp.sum(g_nxm * s_hat_nxm, axis=0), "beta": jnp.sum(g_nxm, axis=0)}
        g_nxm = g_nxm * params["gamma"][None, :]
        G1_nxm = g_nxm * inv_std_m[None, :]
        if not train:
            return G1_nxm, grads
        n = g_nxm.shape[0]
        c_m = jnp.sum(g_nxm * (inv_std_m ** 3)[None, :] * D_nxm, axis=0)
        dS_nxm = G1_nxm - jnp.mean(G1_nxm, axis=0)[None, :] - D_nxm * c_m[None, :] / n
        return dS_nxm, grads

    return Layer(init, forward, backward)
