"""Numerical gradients of ReLU (and max-pool) networks that do not straddle a kink.

A centred difference (J(theta + h e_i) - J(theta - h e_i)) / 2h is only a derivative estimate
when J is smooth on [theta - h, theta + h]. In a ReLU net J is smooth only piece-wise: a
perturbation that moves any pre-activation across 0 mixes two pieces and the difference is off
by up to half the jump in slope. In a deep BN net with a few thousand parameters and h = 1e-5,
several such crossings are the rule, not the exception (relative errors near 2 in a 9-layer BN
net look like this). Two remedies, both exact statements about the derivative at theta:

* `kink_crossings`: counts, per parameter entry, whether +-h changes the ReLU pattern (so the
  plain centred difference for that entry is not a derivative estimate);
* `smooth_piece_gradient`: centred differences of J with every ReLU mask frozen at theta's pattern
  (the smooth piece that contains theta: same value and same derivative at theta, no kink), with
  Richardson extrapolation (4 C(h) - C(2h)) / 3 to cancel the h^2 truncation error, which BN on a
  tiny batch makes large (third derivatives in the thousands).

Max pooling is piece-wise linear too: the piece is the one that keeps, in every window, the entry
that is the maximum at theta (ties at theta shared equally, which equals the max at theta and has
jax.grad's derivative). `kink_patterns` / `frozen` freeze both; on that piece no step h is too
large for a kink, so h can be large enough for the rounding floor of the difference quotient,
~eps |J| / h, to lie far below small gradient entries, and `levels` Richardson steps
(h, 2h, ..., 2^levels h) cancel the truncation error up to order h^(2 levels + 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxdl import model as model_lib
from jaxdl.layers.conv2d import max_shares, pool_windows, unpool
from jaxdl.layers.core import Layer
from jaxdl.layers.losses import Loss


def _is_relu(layer: Layer) -> bool:
    return layer.forward.__qualname__.startswith("relu.")


def _is_maxpool(layer: Layer) -> bool:
    return layer.forward.__qualname__.startswith("maxpool.")


def _is_branch(layer: Layer) -> bool:
    return layer.forward.__qualname__.startswith("branch.")


def has_kinks(model: model_lib.Model) -> bool:
    """True when the model has ReLU or max-pool layers and `frozen` can fix every one of them:
    False for a kink-free model, and for one with skip-connection branches (a branch hides its
    inner layer, which may be a ReLU this module cannot see)."""
    return (any(_is_relu(layer) or _is_maxpool(layer) for layer in model.layers)
            and not any(_is_branch(layer) for layer in model.layers))


def _fixed_mask(mask) -> Layer:
    """y = x * mask with a constant mask: the ReLU restricted to one smooth piece."""
    def init(key, in_shape):
        return {}, {}, tuple(in_shape)

    def forward(params, state, x, *, train=False, key=None):
        return x * mask.astype(x.dtype), mask, state

    def backward(params, m, dy):
        return dy * m.astype(dy.dtype), {}

    return Layer(init, forward, backward)


def _fixed_selection(share) -> Layer:
    """Max pooling restricted to one linear piece: y = sum over the window of x * share, share the
    one-hot (ties: equal shares) pattern of the window maxima at theta, n x Ho x k x Wo x k x C."""
    size = share.shape[2]

    def init(key, in_shape):
        H, W, C = in_shape
        return {}, {}, (H // size, W // size, C)

    def forward(params, state, x, *, train=False, key=None):
        return jnp.sum(pool_windows(x, size) * share.astype(x.dtype), axis=(2, 4)), x.shape, state

    def backward(params, shape, dy):
        return unpool(share * dy[:, :, None, :, None, :], shape), {}

    return Layer(init, forward, backward)


def kink_patterns(model: model_lib.Model, params, state, X, *, train: bool = True, key=None):
    """The pattern of every kinked layer at params, in order: the ReLU's x > 0 (bool) and the
    max pool's window-maximum shares (from the windows and maxima in the layer's own cache, a
    conv2d.PoolCache: the pool's window size is never inferred from shapes)."""
    keys = ([None] * len(model.layers) if key is None
            else list(jax.random.split(key, len(model.layers))))
    patterns, x = [], X
    for layer, p, s, k in zip(model.layers, params, state, keys):
        y, cache, _ = layer.forward(p, s, x, train=train, key=k)
        if _is_relu(layer):
            patterns.append(x > 0)
        elif _is_maxpool(layer):
            patterns.append(max_shares(cache.windows, cache.maxima))
        x = y
    return patterns


def frozen(model: model_lib.Model, patterns) -> model_lib.Model:
    """The same model with its i-th kinked layer fixed to patterns[i] (kink_patterns): a ReLU
    becomes multiplication with its mask, a max pool the selection of its maxima at theta."""
    patterns, layers = list(patterns), []
    for layer in model.layers:
        if _is_relu(layer):
            layer = _fixed_mask(patterns.pop(0))
        elif _is_maxpool(layer):
            layer = _fixed_selection(patterns.pop(0))
        layers.append(layer)
    return model_lib.sequential(layers)


def kink_crossings(model: model_lib.Model, params, state, X, h: float, *, train: bool = True,
                   key=None, chunk: int = 512):
    """Per entry (same pytree as params): 1 if theta +- h e_i changes any ReLU mask or max-pool
    pattern, else 0."""
    @jax.jit
    def run(params):  # everything inside: no eager ops on new shapes
        flat, unravel = ravel_pytree(params)
        base = kink_patterns(model, params, state, X, train=train, key=key)

        def changed(p):
            return sum(jnp.sum(m != b) for m, b in
                       zip(kink_patterns(model, p, state, X, train=train, key=key), base))

        def one(i):
            e = jnp.zeros_like(flat).at[i].set(h)
            return ((changed(unravel(flat + e)) + changed(unravel(flat - e))) > 0).astype(flat.dtype)
        return unravel(jax.lax.map(one, jnp.arange(flat.size), batch_size=chunk))

    return run(params)


def smooth_piece_gradient(model: model_lib.Model, loss: Loss, params, state, X, Y, lam, *,
                          h: float = 1e-4, levels: int = 1, output_step: float | None = None,
                          train: bool = True, key=None, weights=None, chunk: int = 512):
    """Richardson-extrapolated centred differences of the cost on theta's smooth piece.

    With step s: C_0(s) = (J(theta + s e_i) - J(theta - s e_i)) / 2s and, for l = 1..levels,
    C_l(s) = (4^l C_{l-1}(s) - C_{l-1}(2s)) / (4^l - 1): error O(s^(2 levels + 2)), from the
    steps s, 2s, ..., 2^levels s. Forward passes only (no autodiff).

    s = h for every entry, or, with output_step, per entry s_i = min(h, output_step / a_i) where
    a_i = max_k |f_k(theta + h e_i) - f_k(theta - h e_i)| / 2h is the slope of the network's
    scores f in that entry (two more forward passes): every entry's step then moves the scores by
    about output_step, the scale on which the loss is curved. An entry that barely moves the
    scores gets the large step h, where the rounding floor ~eps |J| / s is lowest; on a piece whose
    scores are affine in each entry (ReLU / max-pool / conv / dense stacks) that step has no
    truncation error in the scores, only in the loss.
    """
    if levels < 0:
        raise ValueError(f"levels must be >= 0, got {levels}")
    if output_step is not None and output_step <= 0:
        raise ValueError(f"output_step must be > 0, got {output_step}")
    @jax.jit
    def at_theta(params):  # one compiled program, not eager ops on new shapes
        patterns = kink_patterns(model, params, state, X, train=train, key=key)
        out, out_piece = (m.apply(params, state, X, train=train, key=key)[0]
                          for m in (model, frozen(model, patterns)))
        return patterns, jnp.allclose(out_piece, out, rtol=1e-12, atol=1e-12)

    patterns, reproduced = at_theta(params)
    if not reproduced:
        raise ValueError("the frozen piece does not reproduce the network at theta")
    piece = frozen(model, patterns)

    def J(p):
        return model_lib.cost(piece, loss, p, state, X, Y, lam, train=train, key=key,
                              weights=weights)[0]

    def scores(p):
        return piece.apply(p, state, X, train=train, key=key)[0]

    @jax.jit
    def run(params):  # ravel and unravel inside: no eager ops on new shapes
        flat, unravel = ravel_pytree(params)

        def one(i):
            e = jnp.zeros_like(flat).at[i].set(1.0)
            step = h
            if output_step is not None:
                slope = jnp.max(jnp.abs(scores(unravel(flat + h * e)) -
                                        scores(unravel(flat - h * e)))) / (2 * h)
                step = jnp.minimum(h, output_step / jnp.maximum(slope, output_step / h))
            c = [(J(unravel(flat + 2 ** j * step * e)) - J(unravel(flat - 2 ** j * step * e)))
                 / (2 ** (j + 1) * step) for j in range(levels + 1)]
            for level in range(1, levels + 1):
                c = [(4 ** level * c[j] - c[j + 1]) / (4 ** level - 1) for j in range(len(c) - 1)]
            return c[0]
        return unravel(jax.lax.map(one, jnp.arange(flat.size), batch_size=chunk))

    return run(params)
