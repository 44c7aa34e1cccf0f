"""Test set-up: 8 fake CPU devices (for sharding tests) and strict rank promotion, set before JAX
touches a device."""

import os
import signal

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The entry points run as subprocesses share one persistent XLA cache for the session, so the same
# program (the same script on the same fake data shapes) is compiled once, not once per process.
# Every program is cached, however quick: most of an entry point's ~100 programs are eager ops that
# compile in ~30 ms each, and a second run of a script (a resumed or a "run alone" one) reads them.
if "JAXDL_COMPILATION_CACHE" not in os.environ:
    import tempfile
    os.environ["JAXDL_COMPILATION_CACHE"] = tempfile.mkdtemp(prefix="jaxdl-test-xla-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# The suite's programs are small and each runs a few times, so compiling them is most of its time:
# LLVM at -O1 spends about 40 % less time on them than the default -O2, and XLA CPU's older
# elemental emitters compile the fusions about a quarter faster than its MLIR fusion emitters (the
# same XLA program, only the machine code is less tuned). Set here, before JAX starts a backend;
# subprocesses inherit them. A flag already in XLA_FLAGS is left as it is.
for _flag, _value in (("xla_backend_optimization_level", "1"),
                      ("xla_cpu_use_fusion_emitters", "false")):
    if _flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --{_flag}={_value}".strip()


def xla_flags(*extra: str) -> str:
    """The suite's XLA_FLAGS (the compile settings above) with `extra` flags added: for a
    subprocess that sets its own flags, e.g. a device count."""
    return " ".join([os.environ["XLA_FLAGS"], *extra])


import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")

from jaxdl.data.download import resolve_data_dir  # noqa: E402


@pytest.fixture
def x64():
    """Runs a test body in float64 (gradient checks), restoring the previous setting after."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def real_data_dir(subdir: str):
    """The real data set folder, or a pytest skip that says why (the data is not bundled)."""
    if not os.environ.get("JAXDL_DATA_DIR"):
        pytest.skip("real-data test: set JAXDL_DATA_DIR to a folder holding the real data sets "
                    "(.ci/run uses ../shared/data); not downloaded inside the test suite")
    folder = resolve_data_dir() / subdir
    if not folder.is_dir():
        pytest.skip(f"real-data test: {folder} does not exist")
    return resolve_data_dir()


ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _module_env(env: dict) -> dict:
    return {**os.environ, "JAXDL_NO_DOWNLOAD": "1", "JAX_PLATFORMS": "cpu", **env}


class _ForkServer:
    """The client of tests/forkserver.py: one server per pytest process, started on the first
    entry-point run, one run at a time. JAXDL_TEST_FORKSERVER=0 runs every entry point as a
    plain `python -m` subprocess instead."""

    # what may differ between a run's environment and the server's: read after the fork
    PER_RUN = ("JAXDL_", "XLA_FLAGS", "TF_CPP_", "PYTEST_")

    def __init__(self):
        import subprocess
        import sys
        self.env = _module_env({})
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "forkserver.py")],
                                     cwd=ROOT, env=self.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0)
        self.buffer = b""

    def serves(self, env: dict) -> bool:
        """Whether a run with this environment can be forked from the server."""
        keys = set(env) | set(self.env)
        return all(env.get(k) == self.env.get(k) for k in keys if not k.startswith(self.PER_RUN))

    def start(self, args: list[str], env: dict, stdout: str, stderr: str) -> int:
        """Forks `python -m <args>`; returns its pid."""
        import json
        request = {"module": args[0], "args": list(args[1:]), "cwd": str(ROOT), "env": env,
                   "stdout": stdout, "stderr": stderr}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        return self._reply(None)["pid"]

    def wait(self, timeout: float | None) -> int | None:
        """The run's exit status (negative: the signal that ended it), or None at the timeout."""
        reply = self._reply(timeout)
        return None if reply is None else reply["exit"]

    def _reply(self, timeout: float | None) -> dict | None:
        import json
        import select
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("the test fork server ended")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


_fork_server: list = []  # this pytest process's _ForkServer, once started


def _server_for(env: dict):
    """This process's fork server when it can run a process with `env`, else None."""
    if os.environ.get("JAXDL_TEST_FORKSERVER", "1") == "0":
        return None
    if not _fork_server or _fork_server[0].proc.poll() is not None:
        _fork_server[:] = [_ForkServer()]
    return _fork_server[0] if _fork_server[0].serves(env) else None


class _Run:
    """A started `python -m <args>` (forked by the server, or a subprocess): poll, signal, wait,
    and its captured output."""

    def __init__(self, args, env: dict):
        import subprocess
        import sys
        import tempfile
        self.folder = tempfile.mkdtemp(prefix="jaxdl-run-")
        self.out, self.err = (os.path.join(self.folder, n) for n in ("stdout", "stderr"))
        self.server, self.returncode = _server_for(env), None
        if self.server is not None:
            self.pid = self.server.start(list(args), env, self.out, self.err)
        else:
            with open(self.out, "wb") as out, open(self.err, "wb") as err:
                self.proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env,
                                             stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            self.pid = self.proc.pid

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status, or None if the run is still going after `timeout` seconds."""
        import subprocess
        if self.returncode is None:
            if self.server is not None:
                self.returncode = self.server.wait(timeout)
            else:
                try:
                    self.returncode = self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
        return self.returncode

    def poll(self) -> int | None:
        return self.wait(0)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:  # it has just ended
                pass

    def result(self, args):
        """The finished run as subprocess.run's CompletedProcess (text output); removes the
        captured output files."""
        import shutil
        import subprocess
        from pathlib import Path
        out, err = (Path(p).read_text(errors="replace") for p in (self.out, self.err))
        shutil.rmtree(self.folder, ignore_errors=True)
        return subprocess.CompletedProcess(["python", "-m", *args], self.returncode, out, err)


def run_module(args, **env):
    """`python -m <args>` from the repository root, on CPU, never downloading; output captured
    (a subprocess.CompletedProcess). Forked from the suite's fork server where it can be."""
    run = _Run(args, _module_env(env))
    if run.wait(600) is None:
        run.send_signal(signal.SIGKILL)
        run.wait()
        raise TimeoutError(f"python -m {' '.join(args)} ran over 600 s")
    return run.result(args)


def assert_seed_summary(run: dict, metric: str, seeds=(0, 1)) -> None:
    """A results.json run made at `seeds`: per-seed metrics, and the summary's and the metrics'
    mean, min, max and n of `metric` computed from them."""
    assert run["seeds"] == list(seeds) and len(run["per_seed"]) == len(seeds)
    values = [m[metric] for m in run["per_seed"]]
    stats = run["summary"][metric]
    assert stats["n"] == len(seeds) and stats["mean"] == pytest.approx(sum(values) / len(values))
    assert stats["min"] == min(values) and stats["max"] == max(values)
    assert run["metrics"][metric] == pytest.approx(stats["mean"])


def run_killed(args, checkpoint, sig: int = signal.SIGKILL, *, timeout: float = 300.0,
               **env) -> None:
    """`python -m <args>` as run_module, sent signal `sig` (default SIGKILL) as soon as the file
    `checkpoint` exists (train.fit's first save), and waited for: the interrupted half of a
    kill-and-resume test. Fails when the process ended before the signal (the run was too short
    to be interrupted) or the file never appeared within `timeout` seconds."""
    import time
    from pathlib import Path
    checkpoint = Path(checkpoint)
    run = _Run(args, _module_env(env))  # output to files, not pipes: a full pipe would block it
    deadline = time.monotonic() + timeout
    try:
        while not checkpoint.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        appeared = checkpoint.exists()
        run.send_signal(sig)
        run.wait(60)
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            run.wait()
    stderr = run.result(args).stderr[-3000:]
    assert appeared, f"{checkpoint} never appeared:\n{stderr}"
    assert run.returncode != 0, "the run ended before it could be interrupted"


@pytest.fixture(scope="session")
def fake_cifar_dir(tmp_path_factory):
    """A tiny CIFAR-10 folder in the official format (60 images per batch), shared by the
    end-to-end script tests."""
    from jaxdl.data import cifar10
    folder = tmp_path_factory.mktemp("cifar")
    cifar10.write_fake_dataset(folder, n_per_batch=60)
    return folder


@pytest.fixture(scope="session")
def sweep_setup():
    """tests/test_sweep.py's trainer and data, one for the session: test_sweep.py and
    test_sweep_resume.py share its compiled sweep programs (kept in trainer.compiled)."""
    from test_sweep import _setup
    return _setup()


# One pytest process per core (up to four): the suite is mostly single-threaded XLA compilation.
# The first process starts the others with its own command line; every process collects the same
# tests and runs a test file only after claiming it (a file created exclusively in a shared folder),
# so the files are dealt out as processes become free. JAXDL_TEST_PROCESSES=1 runs in one process.
CLAIMS_ENV = "JAXDL_TEST_CLAIMS"
_WORKERS = pytest.StashKey[list]()  # the first process's (worker process, its output file) pairs


def _processes() -> int:
    wanted = os.environ.get("JAXDL_TEST_PROCESSES")
    if not wanted:
        return min(len(os.sched_getaffinity(0)), 4)
    if not wanted.isdigit() or int(wanted) < 1:
        raise pytest.UsageError(f"JAXDL_TEST_PROCESSES={wanted!r}: expected a whole number >= 1")
    return int(wanted)


def _claim(folder: str, index: int) -> bool:
    try:
        os.close(os.open(os.path.join(folder, str(index)), os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def _start_workers(config, count: int, folder: str) -> list:
    import subprocess
    import sys
    import tempfile
    workers = []
    for _ in range(count):
        log = tempfile.TemporaryFile(mode="w+")
        command = [sys.executable, "-m", "pytest", *config.invocation_params.args,
                   "-p", "no:cacheprovider"]  # one process writes pytest's cache
        proc = subprocess.Popen(command, cwd=config.invocation_params.dir,
                                env={**os.environ, CLAIMS_ENV: folder},
                                stdout=log, stderr=subprocess.STDOUT)
        workers.append((proc, log))
    return workers


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """Runs the test files this process claims, in collection order (else pytest's own loop)."""
    import itertools
    import shutil
    import tempfile
    config = session.config
    groups = [list(g) for _, g in itertools.groupby(session.items, key=lambda item: item.path)]
    folder = os.environ.get(CLAIMS_ENV)
    if folder is None:
        if (session.testsfailed or config.option.collectonly or len(groups) < 2
                or _processes() < 2):
            return None
        folder = tempfile.mkdtemp(prefix="jaxdl-test-claims-")
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
        config.stash[_WORKERS] = _start_workers(config, _processes() - 1, folder)

    def next_claimed(start: int):
        return next((j for j in range(start, len(groups)) if _claim(folder, j)), None)

    try:
        g = next_claimed(0)
        while g is not None:
            items, following = groups[g], None
            for i, item in enumerate(items):
                if i + 1 < len(items):
                    nextitem = items[i + 1]
                else:
                    following = next_claimed(g + 1)
                    nextitem = groups[following][0] if following is not None else None
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                if session.shouldfail:
                    raise session.Failed(session.shouldfail)
                if session.shouldstop:
                    raise session.Interrupted(session.shouldstop)
            g = following
        for proc, _ in config.stash.get(_WORKERS, []):
            proc.wait()
    finally:
        for proc, _ in config.stash.get(_WORKERS, []):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return True


def pytest_terminal_summary(terminalreporter):
    """Each other process's report, after this one's, headed by its result line."""
    for n, (proc, log) in enumerate(terminalreporter.config.stash.get(_WORKERS, []), start=2):
        log.seek(0)
        text = log.read()
        result = next((line.strip("= ") for line in reversed(text.splitlines()) if line.strip()),
                      "no output")
        failed = proc.returncode not in (0, None)
        terminalreporter.write_sep("=", f"pytest process {n}: {result}", red=failed,
                                   green=not failed)
        if "no tests ran" not in result:
            terminalreporter.write(text)


def pytest_sessionfinish(session, exitstatus):
    """Stops this process's fork server; fails the session when another process's tests
    failed."""
    for server in _fork_server:
        server.close()
    if any(proc.returncode not in (0, None) for proc, _ in session.config.stash.get(_WORKERS, [])):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
