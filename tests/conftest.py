"""Test set-up: 8 fake CPU devices (for sharding tests) and strict rank promotion, set before JAX
touches a device."""

import os
import signal

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The entry points run as subprocesses share one persistent XLA cache for the session, so the same
# program (the same script on the same fake data shapes) is compiled once, not once per process.
if "JAXDL_COMPILATION_CACHE" not in os.environ:
    import tempfile
    os.environ["JAXDL_COMPILATION_CACHE"] = tempfile.mkdtemp(prefix="jaxdl-test-xla-")

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


def run_module(args, **env):
    """`python -m <args>` from the repository root, on CPU, never downloading; output captured."""
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=_module_env(env),
                          capture_output=True, text=True, timeout=600)


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
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path
    checkpoint = Path(checkpoint)
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a full pipe would block the run
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=_module_env(env),
                                stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        try:
            while (not checkpoint.exists() and proc.poll() is None
                   and time.monotonic() < deadline):
                time.sleep(0.005)
            appeared = checkpoint.exists()
            proc.send_signal(sig)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        stderr = err.read().decode(errors="replace")[-3000:]
    assert appeared, f"{checkpoint} never appeared:\n{stderr}"
    assert proc.returncode != 0, "the run ended before it could be interrupted"


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
