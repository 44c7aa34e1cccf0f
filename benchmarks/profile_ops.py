"""Where one workload's training loop spends its time, op by op: run.py's jaxdl loop under the JAX
profiler, with XLA CPU's per-thunk trace events on, summed per fused op (from the optimized HLO).

    JAXDL_DATA_DIR=... python benchmarks/profile_ops.py --workload sweep [--top 25]

Times are the thunks' own spans, summed over the loop's steps and over the executor's threads;
ops handed to the Eigen pool asynchronously (plain `dot`s) show only their launch, so compare the
sum with the loop's time. Names are those of the optimized HLO (`compile().as_text()`; the
variant scripts' --hlo_dir writes it). Findings: benchmarks/NOTES.md.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--workload", default="sweep", help="a1, mlp, names, sweep or cnn")
parser.add_argument("--top", type=int, default=25)
args = parser.parse_args()
if "--xla_cpu_enable_xprof_traceme" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_cpu_enable_xprof_traceme=true").strip()

sys.argv = sys.argv[:1]  # run.py parses its own flags at import
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.profiler import ProfileData  # noqa: E402

import run  # noqa: E402


def main():
    X, Y, _ = run.data()
    title, build = run.WORKLOADS[args.workload]
    impls, idx, _ = build(X, Y)
    loop = impls["jaxdl"]
    loop(idx)  # compile and warm up
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            t0 = time.perf_counter()
            np.asarray(loop(idx))
            wall = time.perf_counter() - t0
        (path,) = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
        profile = ProfileData.from_file(path)
    total, count = collections.Counter(), collections.Counter()
    for plane in profile.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_XLAEigen"):
                continue
            for event in line.events:
                if event.name != "ThunkExecutor::Execute":
                    total[event.name] += event.duration_ns / 1e6
                    count[event.name] += 1
    print(f"{title}\n{wall:.3f} s for the loop under the profiler; the thunks sum to "
          f"{sum(total.values()):.0f} ms")
    for name, ms in total.most_common(args.top):
        print(f"  {ms:8.1f} ms  {count[name]:6d} calls  {name}")


if __name__ == "__main__":
    main()
