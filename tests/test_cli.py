"""The command line every experiment shares (experiments.common.run): --help lists the shared
flags, JAX's own flags are accepted, user errors are one line and exit status 2, an unusable
--workdir is refused before any data is read, Ctrl-C is one line and exit status 130."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_module
from jaxdl import checkpoint


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single line of stderr of a run refused with exit status 2 (no absl log, no traceback)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("module", ["experiments.a1_linear", "experiments.names_predict"])
def test_help_lists_the_shared_flags(module):
    proc = run_module([module, "--help"])  # absl's --help exits with status 1
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for flag in ("--workdir", "--data_dir", "--seed", "--grad"):
        assert f"\n  {flag}:" in proc.stdout  # a flag listing, not a mention in the doc


def test_jax_flags_are_accepted_and_the_error_is_the_scripts_own(tmp_path):
    proc = run_module(["experiments.a1_linear", "--jax_default_matmul_precision=highest",
                       "--jax_enable_x64", f"--workdir={tmp_path}", "--etas=-0.1", "--lams=0"])
    assert "--etas" in _one_error_line(proc) and "jax" not in proc.stderr


def test_flag_and_data_errors_are_printed_once(tmp_path):
    proc = run_module(["experiments.a1_linear", f"--workdir={tmp_path / 'out'}",
                       f"--data_dir={tmp_path / 'empty'}"])  # DataError
    assert "cifar-10-batches-py" in _one_error_line(proc)
    proc = run_module(["experiments.a1_linear", f"--workdir={tmp_path}", "--n_epochs=0"])
    assert "--n_epochs" in _one_error_line(proc)  # absl bound


@pytest.mark.parametrize("module", ["experiments.a1_linear", "experiments.names_convnet"])
def test_a_workdir_that_is_a_file_is_refused_before_the_data(module, tmp_path):
    (tmp_path / "a_file").write_text("")
    for workdir in (tmp_path / "a_file", tmp_path / "a_file" / "sub"):
        proc = run_module([module, f"--workdir={workdir}", f"--data_dir={tmp_path / 'empty'}"])
        assert "--workdir" in _one_error_line(proc)


def test_an_unwritable_workdir_is_refused_before_the_data(tmp_path):
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        folder = read_only
        try:
            (read_only / "probe").touch()
        except PermissionError:
            pass
        else:  # root writes through the mode bits; sysfs refuses new folders even to root
            if not Path("/sys/kernel").is_dir():
                pytest.skip("running as root without sysfs: no folder here is unwritable")
            folder = Path("/sys/jaxdl-unwritable-workdir")
        proc = run_module(["experiments.a1_linear", f"--workdir={folder}",
                           f"--data_dir={tmp_path / 'empty'}"])
        assert "cannot write" in _one_error_line(proc)
    finally:
        read_only.chmod(0o700)


def test_ctrl_c_says_where_the_checkpoints_are(fake_cifar_dir, tmp_path):
    # --n_batch=20: the program of the other single-seed A1 runs on this data, in the shared cache
    env = {**os.environ, "JAXDL_NO_DOWNLOAD": "1", "JAX_PLATFORMS": "cpu"}
    # a background shell may start pytest with SIGINT ignored, which a child inherits; a handler
    # is not inherited (exec resets it), so the child gets SIGINT's default. Set here rather than
    # in a preexec_fn, which would run Python in a fork of this multithreaded (JAX) process.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "experiments.a1_linear", f"--workdir={tmp_path}",
             f"--data_dir={fake_cifar_dir}", "--n_epochs=100000", "--lams=0", "--etas=0.01",
             "--n_batch=20"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("checkpoint_*.msgpack")):
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stderr = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert [line for line in lines if line.startswith("interrupted")] == lines[-1:]
    assert str(tmp_path) in lines[-1] and "run the same command again" in lines[-1]


def test_ctrl_c_before_any_checkpoint_says_there_is_none(tmp_path):
    assert "no checkpoint" in checkpoint.resume_note(tmp_path)
    assert "no checkpoint" in checkpoint.resume_note(None)
    (tmp_path / "checkpoint_x.msgpack").write_bytes(b"")
    assert str(tmp_path) in checkpoint.resume_note(tmp_path)
