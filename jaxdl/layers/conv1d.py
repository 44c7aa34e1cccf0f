"""1-D convolution (stride 1, no padding, no bias) over a sequence, in the course's matrix forms.

Layouts (batch first; the row-major flatten of each equals the course's column-major vec):
  input   X (n_len, d): row i = column i of the course's d x n_len matrix, so X.ravel() = vec(X);
  filters F (d, k, nf): the course's F, filter f = F[:, :, f] (d x k);
  output  S (n_out, nf) with n_out = n_len - k + 1: S.ravel() = vec(S) of the nf x n_out matrix.

  S[j, f] = sum_{t < k, c < d} X[j + t, c] F[c, t, f]

The course's matrices (DD2424 Assignment 3, the ConvNet option):
  MF = make_mf_matrix(F, n_len), (n_out nf) x (n_len d):  vec(S) = MF vec(X);
  MX = make_mx_matrix(vec(X), d, k, nf), (n_out nf) x (k nf d):  vec(S) = MX vec(F), vec(F) = F(:);
  M^input_{x,k} = input_patches(X, k), n_out x (k d), row j = vec(X[:, j:j+k-1])^T (eq 21).

Backward (the same sheet): with G = dJ/dS (n_out x nf per example),
  dvec(F) = sum_i MX_i^T vec(G_i)    (eqs 38/44; the "matrix" form builds MX literally)
          = sum_i vec(M^input_{x_i,k}^T G_i)   (eq 46: the same numbers without I_nf (x) .)
  dvec(X) = MF^T vec(G).

Forms, one constructor each (`conv1d_<form>`, or `conv1d(..., form=...)`), all with hand-written
backward passes, all equal (tests):
  "matrix"      forward MF vec(X); backward MX built every step, as the sheet's eqs 38/44;
  "patches"     forward M^input_{x,k} V_F^T, backward eq 46 (the sheet's efficiency trick b);
  "lax"         forward lax.conv_general_dilated, backward eq 46 (dF as one convolution);
  "precomputed" the input is M^input_{x,k} itself, precomputed once per name (trick a);
  "gather"      the input is the name's character indices (d = empty column): with one-hot input
                S[j, f] = sum_t F[c_{j+t}, t, f] is a lookup of filter columns, and the backward
                a scatter-add of G into those columns. Trick a taken to its limit.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.layers import initializers
from jaxdl.layers.convolution import conv
from jaxdl.layers.core import Layer
from jaxdl.layers.reshape import flatten  # noqa: F401  (re-exported)

def filter_matrix(F_dxkxnf: jax.Array) -> jax.Array:
    """V_F (nf x k d): row f = vec(F_f)^T, the column-major flatten of the d x k filter."""
    d, k, nf = F_dxkxnf.shape
    return F_dxkxnf.transpose(2, 1, 0).reshape(nf, k * d)


def filters_from_matrix(V_nfxkd: jax.Array, d: int) -> jax.Array:
    """Inverse of filter_matrix: (nf x k d) -> F (d, k, nf)."""
    nf, kd = V_nfxkd.shape
    return V_nfxkd.reshape(nf, kd // d, d).transpose(2, 1, 0)


def vec_filters(F_dxkxnf: jax.Array) -> jax.Array:
    """vec(F_all) = F(:) in Matlab's column-major order: filter 1 first, d fastest."""
    return filter_matrix(F_dxkxnf).reshape(-1)


def make_mf_matrix(F_dxkxnf: jax.Array, n_len: int) -> jax.Array:
    """MakeMFMatrix(F, n_len): block row j holds V_F at columns j d .. j d + k d - 1."""
    d, k, nf = F_dxkxnf.shape
    n_out = n_len - k + 1
    # shift_jtp = [p == j + t]: places filter column t of window j at input position p
    shift_jtp = (np.arange(n_len)[None, None, :] ==
                 np.arange(n_out)[:, None, None] + np.arange(k)[None, :, None])
    MF = jnp.einsum("jtp,ctf->jfpc", jnp.asarray(shift_jtp, F_dxkxnf.dtype), F_dxkxnf)
    return MF.reshape(n_out * nf, n_len * d)


def input_patches(X_nxlxd: jax.Array, k: int) -> jax.Array:
    """M^input_{x,k} for a batch: (n, n_out, k d), row j = vec(X[:, j:j+k-1]) (eq 21)."""
    n, n_len, d = X_nxlxd.shape
    n_out = n_len - k + 1
    windows = jnp.stack([X_nxlxd[:, t:t + n_out] for t in range(k)], axis=2)  # n, n_out, k, d
    return windows.reshape(n, n_out, k * d)


def make_mx_matrix(x_vec: jax.Array, d: int, k: int, nf: int) -> jax.Array:
    """MakeMXMatrix(x_input, d, k, nf): block row j = I_nf (x) vec(X[:, j:j+k-1])^T, built directly."""
    P_jxq = input_patches(x_vec.reshape(1, -1, d), k)[0]
    n_out = P_jxq.shape[0]
    MX = jnp.einsum("jq,fg->jfgq", P_jxq, jnp.eye(nf, dtype=x_vec.dtype))
    return MX.reshape(n_out * nf, nf * k * d)


def fold_patches(dP_nxjxkd: jax.Array, k: int, d: int) -> jax.Array:
    """Adjoint of input_patches: scatter each window's gradient back to its input positions."""
    n, n_out, _ = dP_nxjxkd.shape
    dP = dP_nxjxkd.reshape(n, n_out, k, d)
    return sum(jnp.pad(dP[:, :, t], ((0, 0), (t, k - 1 - t), (0, 0))) for t in range(k))


def tap_indices(c_nxl: jax.Array, k: int, t: int) -> jax.Array:
    """(n, n_len) character indices -> (n, n_out): the character under tap t of each window."""
    return c_nxl[:, t:t + c_nxl.shape[1] - k + 1]


def window_indices(c_nxl: jax.Array, k: int) -> jax.Array:
    """(n, n_len) character indices -> (n, n_out, k): the characters under each window."""
    return jnp.stack([tap_indices(c_nxl, k, t) for t in range(k)], axis=2)


def gather_grad_per_tap(c_nxl: jax.Array, G_nxjxf: jax.Array, k: int, d: int) -> jax.Array:
    """The "gather" form's dF (d, k, nf): G scattered into the filter columns it came from, as
    one segment sum per tap t over the rows of F_pad[:, t]. G is scattered as it is, without the
    (n, n_out, k, nf) copy that one segment sum over all taps needs: the faster form on the CPU
    (benchmarks/NOTES.md)."""
    G_rows = G_nxjxf.reshape(-1, G_nxjxf.shape[-1])
    dF_pad = jnp.stack([jax.ops.segment_sum(G_rows, tap_indices(c_nxl, k, t).reshape(-1), d + 1)
                        for t in range(k)], axis=1)
    return dF_pad[:d]


def gather_grad_all_taps(c_nxl: jax.Array, G_nxjxf: jax.Array, k: int, d: int) -> jax.Array:
    """The same dF as one segment sum over all taps (rows c k + t of F_pad viewed as ((d + 1) k,
    nf)): one scatter instead of k, the faster form on a GPU, where this loop is launch-bound
    (benchmarks/NOTES.md)."""
    nf = G_nxjxf.shape[-1]
    idx = window_indices(c_nxl, k) * k + jnp.arange(k)[None, None, :]  # n, n_out, k
    G_rep = jnp.broadcast_to(G_nxjxf[:, :, None, :], (*idx.shape, nf)).reshape(-1, nf)
    dF_pad = jax.ops.segment_sum(G_rep, idx.reshape(-1), (d + 1) * k).reshape(d + 1, k, nf)
    return dF_pad[:d]


def _filters(key, d: int, k: int, nf: int, w_init, fan_in: int | None) -> dict:
    """{"F": (d, k, nf)} drawn by w_init (default He) with fan_in (default d k)."""
    return {"F": (w_init or initializers.he())(key, (d, k, nf), fan_in or d * k, nf)}


def _windows(n_len: int, k: int) -> int:
    n_out = n_len - k + 1
    if n_out < 1:
        raise ValueError(f"filter width {k} is longer than the input")
    return n_out


def _sequence_init(nf: int, k: int, w_init, fan_in: int | None):
    """init for an (n_len, d) sequence input -> (n_out, nf)."""
    def init(key, in_shape):
        n_len, d = in_shape
        return _filters(key, d, k, nf, w_init, fan_in), {}, (_windows(n_len, k), nf)
    return init


def conv1d_matrix(nf: int, k: int, *, w_init: initializers.Initializer | None = None,
                  fan_in: int | None = None) -> Layer:
    """Forward MF vec(X); backward with MX built every step, literally as the sheet's eqs 38/44.
    Input (n_len, d)."""

    init = _sequence_init(nf, k, w_init, fan_in)

    def forward(params, state, x, *, train=False, key=None):
        n = x.shape[0]
        S = (x.reshape(n, -1) @ make_mf_matrix(params["F"], x.shape[1]).T).reshape(n, -1, nf)
        return S, x, state

    def backward(params, x, G_nxjxf):
        F = params["F"]
        d, n = F.shape[0], G_nxjxf.shape[0]
        g = G_nxjxf.reshape(n, -1)
        MX = jax.vmap(lambda xv: make_mx_matrix(xv, d, k, nf))(x.reshape(n, -1))
        dvecF = jnp.einsum("nr,nrc->c", g, MX)  # sum_i vec(G_i)^T MX_i
        dx = (g @ make_mf_matrix(F, x.shape[1])).reshape(x.shape)
        return dx, {"F": filters_from_matrix(dvecF.reshape(nf, k * d), d)}

    return Layer(init, forward, backward)


def _patches_grads(F, P_nxjxq, G_nxjxf):
    """eq 46 summed over the batch: dV_F = sum_i G_i^T M^input_{x_i,k}; and dP = G V_F."""
    d = F.shape[0]
    dV = jnp.einsum("njf,njq->fq", G_nxjxf, P_nxjxq)
    return G_nxjxf @ filter_matrix(F), {"F": filters_from_matrix(dV, d)}


def conv1d_patches(nf: int, k: int, *, w_init: initializers.Initializer | None = None,
                   fan_in: int | None = None) -> Layer:
    """Forward M^input_{x,k} V_F^T, backward eq 46 (the sheet's efficiency trick b).
    Input (n_len, d)."""

    init = _sequence_init(nf, k, w_init, fan_in)

    def forward(params, state, x, *, train=False, key=None):
        return input_patches(x, k) @ filter_matrix(params["F"]).T, x, state

    def backward(params, x, G_nxjxf):
        F = params["F"]
        dP, grads = _patches_grads(F, input_patches(x, k), G_nxjxf)
        return fold_patches(dP, k, F.shape[0]), grads

    return Layer(init, forward, backward)


def conv1d_precomputed(nf: int, k: int, d: int, *,
                       w_init: initializers.Initializer | None = None,
                       fan_in: int | None = None) -> Layer:
    """The input is M^input_{x,k} itself, (n_out, k d), precomputed once per name (trick a);
    d is the one-hot alphabet size, which the input's shape does not show."""

    def init(key, in_shape):
        n_out, kd = in_shape
        if kd != k * d:
            raise ValueError(f"precomputed input rows have {kd} entries, expected k d = {k * d}")
        return _filters(key, d, k, nf, w_init, fan_in), {}, (n_out, nf)

    def forward(params, state, x, *, train=False, key=None):
        return x @ filter_matrix(params["F"]).T, x, state

    def backward(params, x, G_nxjxf):
        return _patches_grads(params["F"], x, G_nxjxf)

    return Layer(init, forward, backward)


def conv1d_lax(nf: int, k: int, *, w_init: initializers.Initializer | None = None,
               fan_in: int | None = None) -> Layer:
    """Forward lax.conv_general_dilated, backward eq 46 with dF as one convolution.
    Input (n_len, d)."""

    init = _sequence_init(nf, k, w_init, fan_in)

    def forward(params, state, x, *, train=False, key=None):
        S = conv(x, params["F"].transpose(1, 0, 2), (1,), "VALID", specs=("NWC", "WIO", "NWC"))
        return S, x, state

    def backward(params, x, G_nxjxf):
        F = params["F"]
        dx = fold_patches(G_nxjxf @ filter_matrix(F), k, F.shape[0])
        # eq 46's sum as one convolution in XLA CPU's canonical form (no transposes back):
        # channels c as the batch, examples n as the contracted features, G as the kernel.
        # dF[c, t, f] = sum_{n, j} x[n, j + t, c] G[n, j, f].
        dF = conv(x.transpose(2, 1, 0), G_nxjxf.transpose(1, 0, 2), (1,), "VALID",
                  specs=("NWC", "WIO", "NWC"))
        return dx, {"F": dF}

    return Layer(init, forward, backward)


def conv1d_gather(nf: int, k: int, d: int, *, w_init: initializers.Initializer | None = None,
                  fan_in: int | None = None) -> Layer:
    """The input is the names' character indices (n_len,), index d marking the empty columns past
    a name's end. With one-hot input S[j, f] = sum_t F[c_{j+t}, t, f] is a lookup of filter
    columns, and dF a scatter-add of G into those columns (trick a taken to its limit)."""

    def init(key, in_shape):
        (n_len,) = in_shape
        return _filters(key, d, k, nf, w_init, fan_in), {}, (_windows(n_len, k), nf)

    def forward(params, state, x, *, train=False, key=None):
        F = params["F"]
        F_pad = jnp.concatenate([F, jnp.zeros((1, k, nf), F.dtype)])  # zero row: empty column
        # one lookup per tap, summed: XLA fuses the k gathers and adds into one loop
        return sum(F_pad[tap_indices(x, k, t), t] for t in range(k)), x, state

    def backward(params, x, G_nxjxf):
        scatter = (gather_grad_per_tap if jax.default_backend() == "cpu"
                   else gather_grad_all_taps)
        return None, {"F": scatter(x, G_nxjxf, k, d)}  # no gradient for integer input

    return Layer(init, forward, backward)


FORMS = {"matrix": conv1d_matrix, "patches": conv1d_patches, "lax": conv1d_lax,
         "precomputed": conv1d_precomputed, "gather": conv1d_gather}
NEEDS_D = ("precomputed", "gather")  # their inputs do not show the alphabet size


def conv1d(nf: int, k: int, form: str = "patches", *, d: int | None = None,
           w_init: initializers.Initializer | None = None, fan_in: int | None = None) -> Layer:
    """A layer of nf filters of width k (parameter "F", shape d x k x nf, no bias) in the named
    form. d: the one-hot alphabet size, needed by "gather" and "precomputed" only. Init: w_init
    (default He) with fan_in (default d k; for one-hot input the sheet's answer is k)."""
    if form not in FORMS:
        raise ValueError(f"unknown conv1d form {form!r}: expected one of {tuple(FORMS)}")
    if form in NEEDS_D:
        if d is None:
            raise ValueError(f"conv1d form {form!r} needs d (the one-hot alphabet size)")
        return FORMS[form](nf, k, d, w_init=w_init, fan_in=fan_in)
    return FORMS[form](nf, k, w_init=w_init, fan_in=fan_in)
