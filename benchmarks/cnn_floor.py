"""The improved CIFAR-10 CNN's floor on this backend's kernels: what its step's convolutions and
GEMMs cost alone, against jaxdl's and PyTorch's whole step, in one process.

    JAXDL_DATA_DIR=... python benchmarks/cnn_floor.py [--steps 200] [--repeats 3]

Every form of the step that keeps the backend's own kernels runs at least these pieces, each
timed alone inside a jitted lax.scan (buffers reused as in training; the output summed into the
carry so that nothing is hoisted or dropped): the forward and dx convolutions that conv2d leaves
to lax (layers 2 and up), the filter gradients as one GEMM per kernel offset with the views
given (no view copies), and layer 1's forward and filter gradient as single GEMMs with the
columns given. What is left of a step for pooling, ReLU, view copies, the dense layer, the loss
and the updates is the whole step less their sum; jaxdl reaches 1.2x PyTorch only if the pieces
fit in PyTorch's step / 1.2 with room for that rest. Findings: benchmarks/NOTES.md (issue 18).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import run  # noqa: E402
from jaxdl.layers.conv2d import (  # noqa: E402
    conv_backward, conv_forward, gemm_filter_grad, gemm_forward)
from jaxdl.models import cnn  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200,
                        help="steps of the whole-step timers (PyTorch's first steps are slower)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be >= 1")
    return args


def scan_time(f, args, length: int = 10) -> float:
    """Milliseconds per call of f(*args) inside a jitted lax.scan of `length` calls."""
    def loop(first, *rest):
        def body(s, _):
            return s + jnp.sum(f(first + s, *rest)) * 1e-30, None
        return jax.lax.scan(body, jnp.zeros((), first.dtype), None, length=length)[0]
    compiled = jax.jit(loop)
    compiled(*args).block_until_ready()
    t0 = time.perf_counter()
    compiled(*args).block_until_ready()
    return (time.perf_counter() - t0) * 1e3 / length


def pieces(batch: int, image_shape=(32, 32, 3)) -> dict:
    """{name: (f, args, calls per step)} for the improved net's convolution layers."""
    rng = np.random.default_rng(0)

    def rand(*shape):
        return jnp.asarray(rng.normal(size=shape), jnp.float32)

    out, shape, layer_no = {}, tuple(image_shape), 0
    for layer in cnn.improved().layers:
        params, _, out_shape = layer.init(jax.random.PRNGKey(0), shape)
        if "F" in params:
            layer_no += 1
            k, _, c_in, c_out = params["F"].shape
            pad = k // 2  # the improved net's convolutions keep the size (3x3, pad 1, stride 1)
            rows = batch * out_shape[0] * out_shape[1]
            F, g = rand(k, k, c_in, c_out), rand(batch, *out_shape)
            if gemm_forward(F):  # columns given: conv2d builds them from the views
                cols = rand(rows, k * k * c_in)
                out[f"layer {layer_no} forward GEMM"] = (lambda c, F: c @ F,
                                                         (cols, F.reshape(-1, c_out)), 1)
            else:
                x = rand(batch, *shape)
                out[f"layer {layer_no} forward (lax)"] = (
                    lambda x, F: conv_forward(x, F, pad, 1, gemm=False), (x, F), 1)
                out[f"layer {layer_no} dx (lax)"] = (
                    lambda g, x, F: conv_backward(x, F, g, pad, 1)[0], (g, x, F), 1)
            if not gemm_filter_grad(g):  # conv2d leaves this layer's dF to lax
                x = rand(batch, *shape)
                out[f"layer {layer_no} dF (lax)"] = (
                    lambda g, x, F: conv_backward(x, F, g, pad, 1, gemm=False)[1], (g, x, F), 1)
            elif gemm_forward(F):  # one GEMM of the columns: the cheapest form measured
                out[f"layer {layer_no} dF GEMM"] = (lambda g, c: c.T @ g,
                                                    (g.reshape(rows, c_out), cols), 1)
            else:
                out[f"layer {layer_no} dF, one of {k * k} GEMMs"] = (
                    lambda g, v: v.T @ g, (g.reshape(rows, c_out), rand(rows, c_in)), k * k)
        shape = out_shape
    return out


def main(argv=None):
    args = parse_args(argv)
    run.setup(0, 1)
    X, Y, _ = run.data()
    impls, idx, _ = run.WORKLOADS["cnn_improved"][1](X, Y, "manual")
    if "pytorch" not in impls:
        sys.exit("cnn_floor.py compares with PyTorch's step: pip install torch==2.13.0")
    idx = idx[:args.steps]
    impls["jaxdl"].compile(idx)
    # both steps compute the same function (and are warm) before anything is timed
    run.assert_same_function("cnn_improved", {k: impls[k] for k in ("jaxdl", "pytorch")}, idx[:5])
    whole = {"jaxdl whole step": impls["jaxdl"], "PyTorch whole step": impls["pytorch"]}
    parts = pieces(idx.shape[1])
    times = {name: [] for name in list(parts) + list(whole)}
    for _ in range(args.repeats):  # interleaved
        for name, fn in whole.items():
            t0 = time.perf_counter()
            fn(idx)
            times[name].append((time.perf_counter() - t0) * 1e3 / len(idx))
        for name, (f, f_args, _) in parts.items():
            times[name].append(scan_time(f, f_args))
    ms = {name: statistics.median(t) for name, t in times.items()}
    print(f"jax {jax.__version__} on {jax.default_backend()}, batch {idx.shape[1]}, medians of "
          f"{args.repeats} (ms per call)")
    for name, t in ms.items():
        calls = parts[name][2] if name in parts else 1
        print(f"  {name:34s} {t:7.2f}" + (f"  x {calls} = {t * calls:.2f}" if calls > 1 else ""))
    floor = sum(ms[name] * parts[name][2] for name in parts)
    torch_step, jaxdl_step = ms["PyTorch whole step"], ms["jaxdl whole step"]
    print(f"pieces {floor:.2f} ms; jaxdl's step {jaxdl_step:.2f} ms, {jaxdl_step - floor:.2f} of "
          f"it outside them; 1.2x PyTorch ({torch_step:.2f} ms) needs a step <= "
          f"{torch_step / 1.2:.2f} ms, {torch_step / 1.2 - floor:.2f} of it outside them")


if __name__ == "__main__":
    main()
