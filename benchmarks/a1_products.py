"""A1's floor with the kernels at hand: only the step's two 10-wide products (the scores X_b W^T
and the gradient G^T X_b), 4000 dependent steps on one hot 100 x 3072 minibatch, in XLA (a jitted
lax.scan), numpy (its BLAS) and PyTorch (if installed).

    python benchmarks/a1_products.py [--steps 4000] [--repeats 5] [--threads 1]

No gather, softmax, bias or penalty: whatever a library needs here is a lower bound on its whole
A1 loop (benchmarks/run.py's 4000 steps). Medians (min) of --repeats timed loops are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from pin import pin_threads

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=4000)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--threads", type=int, default=0, help="0: each library's default")
args = parser.parse_args()
if args.steps < 1 or args.repeats < 1:
    parser.error("--steps and --repeats must be >= 1")
if args.threads:
    pin_threads(args.threads)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxdl import train  # noqa: E402

try:
    import torch  # noqa: E402
    if args.threads:
        torch.set_num_threads(args.threads)
except ImportError:
    torch = None

N, D, K, ETA = 100, 3072, 10, 1e-3


def xla_loop(W, Xb):
    def body(W, _):
        G = 1e-3 * (Xb @ W.T)  # stands in for softmax(S) - Y, elementwise and tiny
        return W - ETA * (G.T @ Xb), None
    return jax.lax.scan(body, W, None, length=args.steps)[0]


def numpy_loop(W, Xb):
    W = W.copy()
    for _ in range(args.steps):
        G = 1e-3 * (Xb @ W.T)
        W -= ETA * (G.T @ Xb)
    return W


def torch_loop(W, Xb):
    W, Xb = torch.from_numpy(W.copy()), torch.from_numpy(Xb)
    with torch.no_grad():
        for _ in range(args.steps):
            G = 1e-3 * (Xb @ W.T)
            W -= ETA * (G.T @ Xb)
    return W.numpy()


def main():
    rng = np.random.default_rng(0)
    Xb = rng.normal(size=(N, D)).astype(np.float32)
    W = (0.01 * rng.normal(size=(K, D))).astype(np.float32)
    compiled = jax.jit(xla_loop).lower(W, Xb).compile(train.compiler_options())
    impls = {"xla": lambda: np.asarray(compiled(W, Xb)), "numpy": lambda: numpy_loop(W, Xb)}
    if torch is not None:
        impls["pytorch"] = lambda: torch_loop(W, Xb)
    ref = impls["numpy"]()
    for name, f in impls.items():
        np.testing.assert_allclose(f(), ref, rtol=1e-3, atol=1e-5,
                                   err_msg=f"{name} computes another loop")
    times = {k: [] for k in impls}
    for _ in range(args.repeats):
        for k, f in impls.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    flops = 4 * N * D * K * args.steps
    print(f"{args.steps} steps of X_b W^T and G^T X_b ({N} x {D} -> {K}), {flops / 1e9:.1f} GFLOP; "
          f"jax {jax.__version__} on {jax.default_backend()}, threads {args.threads or 'default'}")
    for k, v in times.items():
        med = statistics.median(v)
        print(f"  {k:<8} {med:7.3f} s ({min(v):.3f})  {flops / med / 1e9:6.1f} GFLOP/s")


if __name__ == "__main__":
    main()
