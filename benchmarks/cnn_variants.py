"""Where the MNIST starter CNN training step's time goes on the CPU: variants of the hand-written
backward (conv dx, conv dF, maxpool), each a jitted lax.scan of --steps training steps, timed
interleaved (A B A B ...) in one process.

    python benchmarks/cnn_variants.py [--steps 200] [--repeats 5] [--only base,dF_im2col]
        [--hlo_dir DIR]

Same model, optimiser, data and minibatch sequence as benchmarks/run.py's `cnn` workload (MNIST when
JAXDL_DATA_DIR has it, else random images). Every variant's per-step costs are checked against
"base" (rtol 1e-4) before timing. --hlo_dir writes each variant's optimized HLO. Findings:
benchmarks/NOTES.md.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from variant_cli import parse_args  # noqa: E402

args = parse_args(__doc__, steps=200)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

import run  # noqa: E402
from jaxdl.models import cnn
from jaxdl import optimizers, train  # noqa: E402
from jaxdl import model as model_lib  # noqa: E402
from jaxdl.layers import losses  # noqa: E402

conv_mod = sys.modules["jaxdl.layers.conv2d"]  # (jaxdl.layers.conv2d is also the layer function)
BASE_CONV_BACKWARD = conv_mod.conv_backward


def dx_oi(x, F, g, pad, stride):
    """dx as before 2026-11-22: the flipped filter read as HWOI (dimension numbers swap in/out),
    which XLA CPU lowers to a naive loop rather than Eigen."""
    k_h, k_w = F.shape[:2]
    H, W = x.shape[1:3]
    r_h = (H + 2 * pad - k_h) % stride
    r_w = (W + 2 * pad - k_w) % stride
    return lax.conv_general_dilated(
        g, jnp.flip(F, (0, 1)), (1, 1),
        [(k_h - 1 - pad, k_h - 1 - pad + r_h), (k_w - 1 - pad, k_w - 1 - pad + r_w)],
        lhs_dilation=(stride, stride), dimension_numbers=("NHWC", "HWOI", "NHWC"))


def dF_im2col(x, F, g, pad, stride):
    """dF as before 2026-11-22: one matmul of the k*k shifted (strided) views of x_pad, stacked
    im2col-style, with G."""
    k_h, k_w = F.shape[:2]
    n, H_out, W_out, c_out = g.shape
    x_pad = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h_end, w_end = stride * (H_out - 1) + 1, stride * (W_out - 1) + 1
    views = [x_pad[:, a:a + h_end:stride, c:c + w_end:stride, :]
             for a in range(k_h) for c in range(k_w)]
    cols = jnp.stack(views, axis=3).reshape(n * H_out * W_out, -1)
    return (cols.T @ g.reshape(-1, c_out)).reshape(F.shape)


def conv_dx_oi(x, F, g, pad, stride):
    _, dF = BASE_CONV_BACKWARD(x, F, g, pad, stride)
    return dx_oi(x, F, g, pad, stride), dF


def conv_dF_im2col(x, F, g, pad, stride):
    dx, _ = BASE_CONV_BACKWARD(x, F, g, pad, stride)
    return dx, dF_im2col(x, F, g, pad, stride)


def conv_before(x, F, g, pad, stride):  # both, i.e. conv2d.py before 2026-11-22
    return dx_oi(x, F, g, pad, stride), dF_im2col(x, F, g, pad, stride)


VARIANTS = {"base": BASE_CONV_BACKWARD, "dx_oi": conv_dx_oi, "dF_im2col": conv_dF_im2col,
            "before": conv_before}


def build(name, Xm, Ym, params):
    conv_mod.conv_backward = VARIANTS[name]  # the conv2d layer looks it up at trace time
    try:
        model = cnn.starter("mnist")
        trainer = train.make_trainer(
            model, losses.softmax_cross_entropy,
            lambda hp: optimizers.fman45_momentum(hp["lr"], hp["momentum"], hp["weight_decay"]),
            train.shuffled_batches(16, len(Xm)), eval_splits=())
        hp = train.as_hparams(lam=0.0, lr=0.1, momentum=0.9, weight_decay=0.005)
        jx = run.JaxRun(trainer, hp, params, Xm, Ym)
        jx.compile(IDX)
    finally:
        conv_mod.conv_backward = BASE_CONV_BACKWARD
    return jx


def main():
    global IDX
    Xm, Ym, source = run.mnist_data()
    IDX = run.batch_indices(len(Xm), args.steps, 16)
    params, _ = cnn.starter("mnist").init(jax.random.PRNGKey(0),
                                                                      Xm.shape[1:])
    names = [v for v in args.only.split(",") if v] or list(VARIANTS)
    names = ["base"] + [v for v in names if v != "base"]
    runs = {name: build(name, Xm, Ym, params) for name in names}
    run.time_variants(runs, IDX, args.repeats, args.hlo_dir, f"data: {source}; batch 16")

if __name__ == "__main__":
    main()
