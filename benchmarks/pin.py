"""--threads N for the benchmark scripts: every library of this process on N CPUs."""

from __future__ import annotations

import os
import sys

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads(n: int) -> None:
    """Makes this process run on its first n CPUs, with numpy's BLAS and OpenMP told n threads.

    XLA CPU sizes its thread pool by the CPUs the process may run on (its affinity mask; XLA_FLAGS
    has no thread-count flag for it), and numpy's BLAS reads these variables when it loads, so
    both must be set before the libraries start their threads. Unless the process already runs
    that way, this sets the mask and the variables and restarts the same command line in this
    process (os.execv: the new program keeps the mask and the environment), so a script may import
    its libraries at the top and call this first thing in main().
    """
    if not hasattr(os, "sched_setaffinity"):
        raise SystemExit("--threads needs os.sched_setaffinity (Linux); run without it")
    if (len(os.sched_getaffinity(0)) <= n
            and all(os.environ.get(var) == str(n) for var in THREAD_VARS)):
        return  # started pinned (by the restart below, or by the caller)
    os.environ.update({var: str(n) for var in THREAD_VARS})
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
