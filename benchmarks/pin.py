"""--threads N for the benchmark scripts: every library of this process on N CPUs."""

from __future__ import annotations

import os


def pin_threads(n: int) -> None:
    """Runs this process on its first n CPUs and tells numpy's BLAS and OpenMP to use n threads.

    Call before importing jax, numpy or torch. XLA CPU sizes its thread pool by the CPUs the
    process may run on (its affinity mask); XLA_FLAGS has no thread-count flag for it.
    """
    if not hasattr(os, "sched_setaffinity"):
        raise SystemExit("--threads needs os.sched_setaffinity (Linux); run without it")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
