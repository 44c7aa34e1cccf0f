"""Where the A1 training step's time goes: hand-written variants of the 4000-step loop (gather,
forward GEMM, gradient GEMM, layouts), each one jitted lax.scan, timed interleaved in one process.

    python benchmarks/a1_variants.py [--repeats 5] [--only full,fwdT] [--hlo_dir DIR]

Same data and minibatch sequence as benchmarks/run.py's A1 workload (CIFAR-10 batch 1 when found,
else random). Every full variant's per-step costs are checked against "full" first. --hlo_dir
writes each variant's optimized HLO (compile().as_text()). Findings: benchmarks/NOTES.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from variant_cli import parse_args  # noqa: E402

args = parse_args(__doc__)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import run  # noqa: E402
from jaxdl import train  # noqa: E402

B = jax.lax.optimization_barrier
ETA, LAM, N = 0.001, 0.1, 100


def _update(W, b, Xb, Yb, S, dW_of):
    P = jax.nn.softmax(S)
    G = (P - Yb) / N
    loss = -jnp.mean(jnp.sum(Yb * jax.nn.log_softmax(S), 1)) + LAM * jnp.sum(W * W)
    return (W - ETA * (dW_of(G) + 2 * LAM * W), b - ETA * G.sum(0)), loss


def full(c, X, Y, r):  # what jaxdl's dense layer computed before: s = X W^T, dW = G^T X
    W, b = c
    Xb, Yb = X[r], Y[r]
    return _update(W, b, Xb, Yb, Xb @ W.T + b, lambda G: G.T @ Xb)


def denseT(c, X, Y, r):  # the same written W X^T: XLA folds the transposes back (same HLO)
    W, b = c
    Xb, Yb = X[r], Y[r]
    return _update(W, b, Xb, Yb, (W @ Xb.T).T + b, lambda G: G.T @ Xb)


def denseB(c, X, Y, r):  # as denseT, transposes behind barriers (jaxdl's dense for n_out <= 16)
    W, b = c
    Xb, Yb = X[r], Y[r]
    return _update(W, b, Xb, Yb, B(W @ Xb.T).T + b, lambda G: B(G.T) @ Xb)


def denseB_fwd(c, X, Y, r):  # barrier on the forward product only
    W, b = c
    Xb, Yb = X[r], Y[r]
    return _update(W, b, Xb, Yb, B(W @ Xb.T).T + b, lambda G: G.T @ Xb)


def fwdT(c, X, Y, r):  # the whole step in k x n layout (scores transposed)
    W, b = c
    Xb, Yb = X[r], Y[r]
    St = W @ Xb.T + b[:, None]
    Gt = (jax.nn.softmax(St, axis=0) - Yb.T) / N
    loss = -jnp.mean(jnp.sum(Yb.T * jax.nn.log_softmax(St, axis=0), 0)) + LAM * jnp.sum(W * W)
    return (W - ETA * (Gt @ Xb + 2 * LAM * W), b - ETA * Gt.sum(1)), loss


def pad16(c, X, Y, r):  # forward with W padded to 16 classes (AVX2: 8 lanes)
    W, b = c
    Xb, Yb = X[r], Y[r]
    S = (Xb @ jnp.pad(W, ((0, 6), (0, 0))).T)[:, :10] + b
    return _update(W, b, Xb, Yb, S, lambda G: G.T @ Xb)


def blocked4(c, X, Y, r):  # 4 row blocks of 25 (300 KB: fits L2) per step, unrolled
    W, b = c
    dW, db, loss = 0.0, 0.0, 0.0
    for rb in jnp.split(r, 4):
        Xb, Yb = X[rb], Y[rb]
        S = Xb @ W.T + b
        G = (jax.nn.softmax(S) - Yb) / N
        loss = loss - jnp.sum(Yb * jax.nn.log_softmax(S)) / N
        dW, db = dW + G.T @ Xb, db + G.sum(0)
    return (W - ETA * (dW + 2 * LAM * W), b - ETA * db), loss + LAM * jnp.sum(W * W)


def gather_only(c, X, Y, r):
    return c, jnp.sum(X[r])


def fwd_only(c, X, Y, r):  # gather + forward GEMM
    return c, jnp.sum(X[r] @ c[0].T)


def both_gemms(c, X, Y, r):  # gather + forward + gradient GEMM, no softmax
    W, b = c
    Xb = X[r]
    S = Xb @ W.T
    return (W - 1e-9 * (S.T @ Xb), b), jnp.sum(S)


VARIANTS = {f.__name__: f for f in (full, denseT, denseB, denseB_fwd, fwdT, pad16, blocked4,
                                    gather_only, fwd_only, both_gemms)}
CHECKED = ("denseT", "denseB", "denseB_fwd", "fwdT", "pad16", "blocked4")


def main():
    X, Y, source = run.data()
    idx = jnp.asarray(run.batch_indices(len(X), 4000, N))
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    W0 = jnp.asarray(0.01 * np.random.default_rng(0).normal(size=(10, X.shape[1])), jnp.float32)
    b0 = jnp.zeros(10, jnp.float32)
    names = [v for v in args.only.split(",") if v] or list(VARIANTS)
    names = ["full"] + [v for v in names if v != "full"]
    compiled = {}
    for name in names:
        body = VARIANTS[name]

        def loop(W, b, X, Y, idx, body=body):
            return jax.lax.scan(lambda c, r: body(c, X, Y, r), (W, b), idx)[1]
        compiled[name] = jax.jit(loop).lower(W0, b0, X, Y, idx).compile(
            train.compiler_options())  # as jaxdl's own loops
        if args.hlo_dir:
            os.makedirs(args.hlo_dir, exist_ok=True)
            with open(os.path.join(args.hlo_dir, f"{name}.hlo"), "w") as f:
                f.write(compiled[name].as_text())
    ref = np.asarray(compiled["full"](W0, b0, X, Y, idx))
    for name in names:
        if name in CHECKED:
            np.testing.assert_allclose(np.asarray(compiled[name](W0, b0, X, Y, idx)), ref,
                                       rtol=1e-4, err_msg=name)
    times = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            t0 = time.perf_counter()
            jax.block_until_ready(compiled[name](W0, b0, X, Y, idx))
            times[name].append(time.perf_counter() - t0)
    print(f"data: {source}; 4000 steps, batch {N}; median (min) seconds of {args.repeats}")
    for name, t in times.items():
        print(f"  {name:<12} {statistics.median(t):7.3f} ({min(t):.3f})")


if __name__ == "__main__":
    main()
