"""Where one workload's training loop spends its time, op by op: run.py's jaxdl loop under the JAX
profiler, compiled with XLA CPU's per-thunk trace events on, summed per fused op.

    JAXDL_DATA_DIR=... python benchmarks/profile_ops.py --workload sweep [--top 25] [--hlo FILE]

Times are the thunks' own spans, summed over the loop's steps and over the executor's threads;
ops handed to the Eigen pool asynchronously (plain `dot`s) show only their launch, so compare the
sum with the loop's time. Names are those of the loop's optimized HLO, which --hlo writes
(`compile().as_text()`; grep it for an op's fusion, or for `dim_labels` to see each convolution's
form). Findings: benchmarks/NOTES.md.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.profiler import ProfileData  # noqa: E402

import run  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="sweep", choices=list(run.WORKLOADS))
    parser.add_argument("--top", type=int, default=25, help="ops listed, slowest first")
    parser.add_argument("--hlo", default="", help="write the loop's optimized HLO to this file")
    return parser.parse_args(argv)


def op_times(trace_dir):
    """{op name: (milliseconds, calls)} of the XLA CPU thunks in a profiler trace."""
    (path,) = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    total, count = collections.Counter(), collections.Counter()
    for plane in ProfileData.from_file(path).planes:
        for line in plane.lines:
            if not line.name.startswith("tf_XLAEigen"):
                continue
            for event in line.events:
                if event.name != "ThunkExecutor::Execute":
                    total[event.name] += event.duration_ns / 1e6
                    count[event.name] += 1
    return {name: (ms, count[name]) for name, ms in total.most_common()}


def main(argv=None):
    args = parse_args(argv)
    run.setup()  # as run.py by default: one CPU device per core, float32 matmuls
    X, Y, _ = run.data()
    title, build = run.WORKLOADS[args.workload]
    impls, idx, _ = build(X, Y, "manual")
    loop = impls["jaxdl"]
    loop.options = {**loop.options, "xla_cpu_enable_xprof_traceme": True}
    loop(idx)  # compile and warm up
    if args.hlo:
        with open(args.hlo, "w") as f:
            f.write(loop.compiled[idx.shape].as_text())
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            t0 = time.perf_counter()
            np.asarray(loop(idx))
            wall = time.perf_counter() - t0
        ops = op_times(trace_dir)
    print(f"{title}\n{wall:.3f} s for the loop under the profiler; the thunks sum to "
          f"{sum(ms for ms, _ in ops.values()):.0f} ms")
    for name, (ms, calls) in list(ops.items())[:args.top]:
        print(f"  {ms:8.1f} ms  {calls:6d} calls  {name}")


if __name__ == "__main__":
    main()
