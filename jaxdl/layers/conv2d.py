"""2-D convolution, 2x2 max pooling and flatten, NHWC (batch first), backward passes by hand.

Convolution (cross-correlation, as every framework computes it) with filters F_kxkxcinxcout
(HWIO), zero padding p and stride s:

    y[n, i, j, o] = b[o] + sum_{a, c, ci} x_pad[n, s i + a, s j + c, ci] F[a, c, ci, o]

Backward, with G = dL/dy:
    db = sum_{n,i,j} G[n, i, j, :]
    dF[a, c, ci, o] = sum_{n,i,j} x_pad[n, s i + a, s j + c, ci] G[n, i, j, o]
        (a correlation of x_pad, n and ci swapped, with G dilated by s as the filter)
    dx = G dilated by s, padded by k-1-p, correlated with F flipped in space and in/out swapped
        (a `lax.conv_general_dilated`, as is the forward).

On a CPU two of these run as matrix products over the k*k shifted views of x_pad instead, where
XLA CPU's convolution kernel is measured to be slow (benchmarks/NOTES.md, issue 18): the forward
of a layer with a short contraction (k*k*c_in <= 32: a 5x5 layer on grey images, a 3x3 one on
RGB), as one GEMM of the concatenated views with F as (k*k*c_in) x c_out; and dF of a layer with
c_out >= 32 over at least 8192 output positions, as one GEMM per kernel offset (the view
transposed times G). Both compute the convolutions' sums in another order (float rounding apart).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxdl.layers import initializers
from jaxdl.layers.convolution import conv
from jaxdl.layers.core import Layer
from jaxdl.layers.reshape import flatten  # noqa: F401  (re-exported)


def _out_size(size: int, k: int, pad: int, stride: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def gemm_forward(F_hwio) -> bool:
    """Whether the forward runs as one GEMM of shifted views (module docstring): on a CPU, for
    layers with k*k*c_in <= 32 (XLA CPU's convolution is slow with so short a contraction)."""
    k_h, k_w, c_in, _ = F_hwio.shape
    return jax.default_backend() == "cpu" and k_h * k_w * c_in <= 32


def gemm_filter_grad(g_nhwc) -> bool:
    """Whether dF runs as one GEMM per kernel offset (module docstring): on a CPU, for c_out >= 32
    over >= 8192 output positions (XLA CPU runs dF's large-window convolution slowly there)."""
    n, H_out, W_out, c_out = g_nhwc.shape
    return jax.default_backend() == "cpu" and c_out >= 32 and n * H_out * W_out >= 8192


def shifted_views(x_nhwc, k_h: int, k_w: int, pad: int, stride: int,
                  out_hw: tuple[int, int]) -> list[jax.Array]:
    """[x_pad[:, a + stride*i, b + stride*j, :] for i, j over the output] for each kernel offset
    (a, b), row-major: the k_h*k_w views (n x H_out x W_out x c_in) that F[a, b] multiplies."""
    x_pad = jnp.pad(x_nhwc, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    n, _, _, c = x_pad.shape
    H_out, W_out = out_hw
    return [jax.lax.slice(x_pad, (0, a, b, 0),
                          (n, a + stride * (H_out - 1) + 1, b + stride * (W_out - 1) + 1, c),
                          (1, stride, stride, 1))
            for a in range(k_h) for b in range(k_w)]


def conv_forward(x_nhwc, F_hwio, pad: int, stride: int, gemm: bool | None = None):
    """The bare correlation (no bias): lax.conv_general_dilated in NHWC / HWIO (through
    convolution.conv, which vmaps it member by member), or with `gemm` (default: gemm_forward)
    the concatenated shifted views times F reshaped to (k*k*c_in) x c_out."""
    if not (gemm_forward(F_hwio) if gemm is None else gemm):
        return conv(x_nhwc, F_hwio, (stride, stride), [(pad, pad), (pad, pad)])
    k_h, k_w, c_in, c_out = F_hwio.shape
    out_hw = (_out_size(x_nhwc.shape[1], k_h, pad, stride),
              _out_size(x_nhwc.shape[2], k_w, pad, stride))
    cols = jnp.concatenate(shifted_views(x_nhwc, k_h, k_w, pad, stride, out_hw), axis=-1)
    return cols @ F_hwio.reshape(k_h * k_w * c_in, c_out)


def conv_backward(x_nhwc, F_hwio, g_nhwc, pad: int, stride: int, gemm: bool | None = None):
    """(dx, dF) of the correlation above for upstream gradient g (see the module docstring);
    with `gemm` (default: gemm_filter_grad) dF is one GEMM per kernel offset."""
    k_h, k_w = F_hwio.shape[:2]
    H, W = x_nhwc.shape[1:3]
    # rows/cols of the padded input that no output window reaches when stride does not divide
    r_h = (H + 2 * pad - k_h) % stride
    r_w = (W + 2 * pad - k_w) % stride
    # in/out swapped by an explicit transpose, not by "HWOI" dimension numbers: XLA CPU gives only
    # the canonical b01f_01io->b01f form to Eigen and lowers 01oi to a naive loop (a much slower
    # CNN step; benchmarks/NOTES.md)
    F_flip_t = jnp.swapaxes(jnp.flip(F_hwio, (0, 1)), 2, 3)
    dx = conv(g_nhwc, F_flip_t, (1, 1),
              [(k_h - 1 - pad, k_h - 1 - pad + r_h), (k_w - 1 - pad, k_w - 1 - pad + r_w)],
              lhs_dilation=(stride, stride))
    if gemm_filter_grad(g_nhwc) if gemm is None else gemm:
        # dF[a, b] = (view (a, b) of x_pad)^T G, over all n * H_out * W_out output positions
        views = shifted_views(x_nhwc, k_h, k_w, pad, stride, g_nhwc.shape[1:3])
        g = g_nhwc.reshape(-1, g_nhwc.shape[-1])
        dF = jnp.stack([v.reshape(-1, v.shape[-1]).T @ g for v in views])
        return dx, dF.reshape(F_hwio.shape)
    # dF: one correlation of x_pad (batch and channels swapped: c_in images of n features) with G
    # (as c_out filters over n inputs), transposed explicitly into the canonical b01f_01io->b01f
    # form that XLA CPU runs with Eigen; on the MNIST starter's layers faster than the GEMMs above
    # (figures in benchmarks/NOTES.md)
    dF = conv(jnp.transpose(x_nhwc, (3, 1, 2, 0)), jnp.transpose(g_nhwc, (1, 2, 0, 3)), (1, 1),
              [(pad, pad), (pad, pad)], rhs_dilation=(stride, stride))
    # dF is c_in x (k_h + r_h) x (k_w + r_w) x c_out here
    dF = jnp.transpose(dF[:, :k_h, :k_w, :], (1, 2, 0, 3))
    return dx, dF


def conv2d(n_filters: int, kernel: int, *, pad: int = 0, stride: int = 1,
           w_init: initializers.Initializer | None = None,
           b_init: initializers.Initializer | None = None) -> Layer:
    """Convolution layer with filters "F" (k x k x c_in x n_filters, weight-decayed) and bias "b".

    Default init He (fan_in = k*k*c_in) and zero bias. Input and output are n x H x W x C.
    """
    w_init = w_init or initializers.he()
    b_init = b_init or initializers.zeros()
    if kernel < 1 or stride < 1 or pad < 0:
        raise ValueError(f"conv2d needs kernel >= 1, stride >= 1, pad >= 0; got {kernel}, "
                         f"{stride}, {pad}")

    def init(key, in_shape):
        H, W, c_in = in_shape
        kf, kb = jax.random.split(key)
        fan_in, fan_out = kernel * kernel * c_in, kernel * kernel * n_filters
        params = {"F": w_init(kf, (kernel, kernel, c_in, n_filters), fan_in, fan_out),
                  "b": b_init(kb, (n_filters,), fan_in, fan_out)}
        H_out, W_out = _out_size(H, kernel, pad, stride), _out_size(W, kernel, pad, stride)
        if H_out < 1 or W_out < 1:
            raise ValueError(f"conv2d: a {kernel}x{kernel} kernel does not fit input {in_shape}")
        return params, {}, (H_out, W_out, n_filters)

    def forward(params, state, x_nhwc, *, train=False, key=None):
        y = conv_forward(x_nhwc, params["F"], pad, stride) + params["b"][None, None, None, :]
        return y, x_nhwc, state

    def backward(params, x_nhwc, g_nhwc):
        dx, dF = conv_backward(x_nhwc, params["F"], g_nhwc, pad, stride)
        return dx, {"F": dF, "b": jnp.sum(g_nhwc, axis=(0, 1, 2))}

    return Layer(init, forward, backward)


def pool_windows(x_nhwc, size: int):
    """The size x size windows of x, n x Ho x size x Wo x size x C (trailing rows/cols that do not
    fill a window dropped)."""
    n, H, W, C = x_nhwc.shape
    Ho, Wo = H // size, W // size
    return x_nhwc[:, :Ho * size, :Wo * size, :].reshape(n, Ho, size, Wo, size, C)


def window_views(xw) -> list[list[jax.Array]]:
    """The windows' entries by position: views[a][b] = xw[:, :, a, :, b, :] (n x Ho x Wo x C).
    Pooling works on these k*k strided views elementwise: XLA CPU fuses that into a few loops,
    where a reduction over the small window axes was several times slower (benchmarks/NOTES.md)."""
    return [[xw[:, :, a, :, b, :] for b in range(xw.shape[4])] for a in range(xw.shape[2])]


def stack_windows(views) -> jax.Array:
    """window_views' inverse: views[a][b] (n x Ho x Wo x C) -> n x Ho x k x Wo x k x C."""
    return jnp.stack([jnp.stack(row, axis=3) for row in views], axis=2)


def window_max(xw) -> jax.Array:
    """Each window's maximum, n x Ho x Wo x C."""
    return functools.reduce(jnp.maximum, [v for row in window_views(xw) for v in row])


def max_share_views(xw, y) -> list[list[jax.Array]]:
    """max_shares as window_views: views[a][b] is entry (a, b)'s share of its window's gradient."""
    hits = [[(v == y).astype(xw.dtype) for v in row] for row in window_views(xw)]
    count = sum(h for row in hits for h in row)
    return [[h / count for h in row] for row in hits]


def max_shares(xw, y):
    """Per window (pool_windows) with maxima y: 1 at the maximum, 1/m on each of m tied maxima,
    0 elsewhere (jax.grad's rule for max)."""
    return stack_windows(max_share_views(xw, y))


def unpool(dxw, shape):
    """Window-shaped values (n x Ho x k x Wo x k x C) back to an input of `shape`, zero on the
    rows/cols that pool_windows dropped."""
    n, Ho, k, Wo, _, C = dxw.shape
    dx = dxw.reshape(n, Ho * k, Wo * k, C)
    return jnp.pad(dx, ((0, 0), (0, shape[1] - Ho * k), (0, shape[2] - Wo * k), (0, 0)))


class PoolCache(NamedTuple):
    """What maxpool's forward keeps: its windows (pool_windows, n x Ho x size x Wo x size x C,
    so the window size is the layer's own), their maxima and the input shape."""
    windows: jax.Array
    maxima: jax.Array
    in_shape: tuple[int, ...]


def maxpool(size: int = 2) -> Layer:
    """size x size max pooling with stride size (floor: trailing rows/cols that do not fill a
    window are dropped, as flax's VALID max_pool does).

    Backward routes dy to the window's maximum; ties share it equally (jax.grad's rule for max; after
    a ReLU the only ties are all-zero windows, whose gradient the ReLU then blocks anyway).
    The cache is a PoolCache (gradcheck.kinks reads the windows from it).
    """

    def init(key, in_shape):
        H, W, C = in_shape
        if H < size or W < size:
            raise ValueError(f"maxpool {size}x{size} does not fit input {in_shape}")
        return {}, {}, (H // size, W // size, C)

    def forward(params, state, x_nhwc, *, train=False, key=None):
        xw = pool_windows(x_nhwc, size)
        y = window_max(xw)
        return y, PoolCache(xw, y, x_nhwc.shape), state

    def backward(params, cache, g_nhwc):
        shares = max_share_views(cache.windows, cache.maxima)
        return unpool(stack_windows([[s * g_nhwc for s in row] for row in shares]),
                      cache.in_shape), {}

    return Layer(init, forward, backward)

