"""Entry-point runs for the suite from a pre-imported Python: a fork server.

Each `python -m experiments.X` the tests make spends about 0.8 s importing jax, optax, flax and
absl before its first line runs, and the suite makes about a hundred. The server imports those
once (it never starts a JAX backend, so it holds no XLA threads) and forks one child per run: the
child takes the run's working folder, environment, arguments and output files, and runs the
module as `__main__` (runpy, as `python -m` does), then exits with its status; a signal sent to
its pid reaches it as it would a `python -m` process. Only what is read at import cannot change
per run (JAX_* settings, numpy's OPENBLAS_*): a run whose environment differs from the server's in
anything but the variables read later (`tests/conftest.py`: _ForkServer.PER_RUN) goes through a
plain subprocess instead.

Started as `python tests/forkserver.py`; one request per line on stdin (JSON: module, args, cwd,
env, stdout, stderr), answered on stdout by `{"pid": ...}` then `{"exit": ...}`.
"""

import json
import os
import sys

PRELOADED = ("jax", "jax.numpy", "numpy", "optax", "chex", "flax.struct", "flax.serialization",
             "absl.app", "absl.flags", "absl.logging")


def _child(request: dict) -> None:
    """In the forked child: becomes the run, then exits as `python -m` would."""
    import runpy
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, mode in ((0, os.devnull, os.O_RDONLY),
                           (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                           (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, mode, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.path[0] = request["cwd"]  # as `python -m` puts the working folder first
    sys.argv = ["-m", *request["args"]]
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    sys.exit(0)


def serve() -> None:
    import importlib
    for name in PRELOADED:
        importlib.import_module(name)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
