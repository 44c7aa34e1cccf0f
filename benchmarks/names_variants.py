"""Where the surname ConvNet training step's time goes on the CPU: variants of the conv1d layers,
each a jitted lax.scan of benchmarks/run.py's `names` steps, timed interleaved (A B A B ...) in
one process.

    python benchmarks/names_variants.py [--steps 985] [--repeats 5] [--only base,g_onehot]
        [--hlo_dir DIR]

Same model (n1 = n2 = 5, k1 = k2 = 5), optimiser, data and minibatch sequence as run.py's `names`
workload. Every variant's per-step costs are checked against "base" (rtol 1e-4) before timing.
--hlo_dir writes each variant's optimized HLO. Variant names are "+"-joined parts (see
variant_model): "base" is the current code (layer 1 "gather" with a segment-sum backward, layer 2
"lax" with dF as one convolution); "patches2+g_scatter" is the code before issue 9d (layer 2
"patches", a 2-D scatter-add). Findings: benchmarks/NOTES.md (issue 9d).
"""

from __future__ import annotations

import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from variant_cli import parse_args  # noqa: E402

args = parse_args(__doc__, steps=985)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import run  # noqa: E402
from jaxdl.models import names as names_model
from jaxdl import train  # noqa: E402
from jaxdl.layers import conv1d as conv1d_mod  # noqa: E402
from jaxdl.layers import losses  # noqa: E402
from jaxdl.layers.core import Layer  # noqa: E402
from jaxdl import model as model_lib  # noqa: E402
from jaxdl.layers import dense  # noqa: E402
from jaxdl.layers.activations import relu  # noqa: E402


def gather_backward(kind, k, nf, d):
    """The "gather" layer's backward dF with the scatter-add replaced."""
    def backward(params, x, G):
        idx = conv1d_mod.window_indices(x, k)  # n, n_out, k
        if kind == "onehot":  # dF[c, t, f] = sum_{n,j} [idx[n,j,t] = c] G[n,j,f]
            oh = jax.nn.one_hot(idx, d + 1, dtype=G.dtype)  # n, j, t, c
            dF = jnp.einsum("njtc,njf->ctf", oh, G)
        elif kind == "onehot_mm":  # one (t c) x (n j) @ (n j) x f matmul
            n, j, _ = G.shape
            oh = jax.nn.one_hot(idx, d + 1, dtype=G.dtype).reshape(n * j, k * (d + 1))
            dF = (oh.T @ G.reshape(n * j, nf)).reshape(k, d + 1, nf).transpose(1, 0, 2)
        elif kind == "scatter":  # conv1d.py before 2026-11-22: a scatter-add with a 2-D index
            t_grid = jnp.broadcast_to(jnp.arange(k)[None, None, :], idx.shape)
            G_rep = jnp.broadcast_to(G[:, :, None, :], (*idx.shape, nf))
            dF = jnp.zeros((d + 1, k, nf), G.dtype).at[idx, t_grid].add(G_rep)
        elif kind == "segsum":  # conv1d's backward off the CPU
            return None, {"F": conv1d_mod.gather_grad_all_taps(x, G, k, d)}
        return None, {"F": dF[:d]}
    return backward


def gather_forward_onehot(k, nf, d):
    def forward(params, state, x, *, train=False, key=None):
        n = x.shape[0]
        idx = conv1d_mod.window_indices(x, k)
        oh = jax.nn.one_hot(idx, d + 1, dtype=params["F"].dtype)[..., :d]  # n, j, t, c
        j = idx.shape[1]
        V = params["F"].transpose(1, 0, 2).reshape(k * d, nf)
        return (oh.reshape(n * j, k * d) @ V).reshape(n, j, nf), x, state
    return forward


def conv2_backward(params, x, G):
    """Layer 2's backward as two convolutions in XLA CPU's canonical (Eigen) form: dx with the
    flipped filter's in/out axes swapped explicitly (WIO), dF with the channels as the batch and
    the examples as the contracted features."""
    F = params["F"]  # c_in, k, nf
    k = F.shape[1]
    dn = ("NWC", "WIO", "NWC")
    dx = jax.lax.conv_general_dilated(G, jnp.flip(F, 1).transpose(1, 2, 0), (1,),
                                      [(k - 1, k - 1)], dimension_numbers=dn)
    dF = jax.lax.conv_general_dilated(x.transpose(2, 1, 0), G.transpose(1, 0, 2), (1,),
                                      "VALID", dimension_numbers=dn)  # c_in, k, nf
    return dx, {"F": dF}


def conv2_mixed(which):
    """Layer 2's backward with only dx ("dx") or only dF ("dF") taken from conv2_backward, the
    other as the "patches"/"lax" form computes it (eq 46, fold_patches)."""
    def backward(params, x, G):
        F = params["F"]
        dx_c, dF_c = conv2_backward(params, x, G)
        dF_c = dF_c["F"]
        P = conv1d_mod.input_patches(x, F.shape[1])
        if which == "dx":
            dV = jnp.einsum("njf,njq->fq", G, P)
            return dx_c, {"F": conv1d_mod.filters_from_matrix(dV, F.shape[0])}
        dP = G @ conv1d_mod.filter_matrix(F)
        return conv1d_mod.fold_patches(dP, F.shape[1], F.shape[0]), {"F": dF_c}
    return backward


def gather_forward_flat(k, nf, d):
    """The "gather" forward with one 1-D index into F_pad viewed as ((d + 1) k, nf) rows."""
    def forward(params, state, x, *, train=False, key=None):
        F = params["F"]
        F_rows = jnp.concatenate([F, jnp.zeros((1, k, nf), F.dtype)]).reshape(-1, nf)
        idx = conv1d_mod.window_indices(x, k) * k + jnp.arange(k)
        return jnp.sum(jnp.take(F_rows, idx, axis=0), axis=2), x, state
    return forward


def variant_model(name, cfg):
    """(cfg, model) for a variant: "+"-joined parts, each a config override or a layer swap."""
    parts = name.split("+")
    over = {"patches1": dict(form1="patches"), "lax1": dict(form1="lax"),
            "lax2": dict(form2="lax"), "patches2": dict(form2="patches"),
            "conv2": dict(form2="lax"), "conv2dx": dict(form2="lax"),
            "conv2dF": dict(form2="lax"),
            "precomputed1": dict(form1="precomputed")}
    for p in parts:
        cfg = dataclasses.replace(cfg, **over.get(p, {}))
    l1 = conv1d_mod.conv1d(cfg.n1, cfg.k1, cfg.form1, d=cfg.d, fan_in=cfg.k1)
    l2 = conv1d_mod.conv1d(cfg.n2, cfg.k2, cfg.form2)
    for p in parts:
        if p == "g_fwdflat":
            l1 = Layer(l1.init, gather_forward_flat(cfg.k1, cfg.n1, cfg.d), l1.backward)
        elif p == "g_fwdoh":
            l1 = Layer(l1.init, gather_forward_onehot(cfg.k1, cfg.n1, cfg.d), l1.backward)
        elif p.startswith("g_"):
            l1 = Layer(l1.init, l1.forward, gather_backward(p[2:], cfg.k1, cfg.n1, cfg.d))
        elif p == "conv2":
            l2 = Layer(l2.init, l2.forward, conv2_backward)
        elif p in ("conv2dx", "conv2dF"):
            l2 = Layer(l2.init, l2.forward, conv2_mixed(p[5:]))
    model = model_lib.sequential([l1, relu(), l2, relu(), conv1d_mod.flatten(),
                                  dense(cfg.n_classes, use_bias=False)])
    return cfg, model


VARIANTS = ["base", "g_onehot", "g_onehot_mm", "g_segsum", "g_fwdoh+g_onehot_mm", "patches1",
            "precomputed1", "lax1", "lax2", "conv2", "lax2+precomputed1", "conv2+g_segsum",
            "conv2+precomputed1", "lax2+g_segsum", "conv2dx", "conv2dF", "conv2dx+g_segsum",
            "patches2", "g_fwdflat", "g_fwdflat+g_segsum", "g_scatter", "patches2+g_scatter"]


def build(name, ind, Yn, cfg0, params):
    cfg, model = variant_model(name, cfg0)
    X = names_model.encode(ind, cfg)
    trainer = train.make_trainer(model, losses.softmax_cross_entropy,
                                 lambda hp: optax.sgd(hp["eta"], momentum=0.9),
                                 train.shuffled_batches(100, len(ind)))
    jx = run.JaxRun(trainer, train.as_hparams(lam=0.0, eta=0.001), params, X, Yn)
    jx.compile(IDX)
    return jx


def main():
    global IDX
    ind, y, d = run.names_data()
    cfg = names_model.Config(n1=5, k1=5, n2=5, k2=5, d=d, n_len=ind.shape[1])
    params, _ = names_model.build(cfg).init(jax.random.PRNGKey(0), names_model.in_shape(cfg))
    Yn = np.eye(18, dtype=np.float32)[y]
    IDX = run.batch_indices(len(ind), args.steps, 100)
    names = [v for v in args.only.split(",") if v] or VARIANTS
    names = ["base"] + [v for v in names if v != "base"]
    runs = {name: build(name, ind, Yn, cfg, params) for name in names}
    run.time_variants(runs, IDX, args.repeats, args.hlo_dir, "batch 100")

if __name__ == "__main__":
    main()
