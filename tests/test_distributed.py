"""The README's distributed command (experiments.lambda_search --distributed), run as two processes
(jax.distributed, gloo CPU collectives, a coordinator on 127.0.0.1, 4 fake CPU devices each),
writes the tables one process writes with the same command less the three distributed flags.

The command is read from the README, so the test breaks when the README's command does; only the
data and the sizes are made tiny. Its phases cover both of sweep.run's key layouts: the coarse and
fine searches share one seed (one key for all members), the final runs have a key per member."""

import json
import os
import re
import shlex
import socket
import subprocess
import sys

from conftest import ROOT, xla_flags

# tiny: 240 + 60 fake images, 5 steps per epoch, n_s = 5 (one cycle = 2 epochs); 3 coarse and
# 2 fine lambdas, 2 final seeds; every phase has fewer members than the 4 or 8 devices
TINY = ["--n_val=60", "--final_n_val=60", "--n_train_limit=200", "--n_batch=40", "--n_s=5",
        "--cycles=1", "--n_coarse=3", "--n_fine=2", "--final_cycles=1", "--final_seeds=0,1"]
DISTRIBUTED_FLAGS = ("--coordinator_address", "--num_processes", "--process_id")
TABLES = ("coarse.csv", "fine.csv", "final.csv")


def readme_command() -> list[str]:
    """The README's `python -m experiments.lambda_search ... --distributed ...` as argv (without
    `python -m`)."""
    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", text, re.S)
                 if "experiments.lambda_search" in b and "--distributed" in b)
    args = shlex.split(block.replace("\\\n", " "))
    assert args[:2] == ["python", "-m"], args
    return args[2:]


def _with(args: list[str], values: dict) -> list[str]:
    """args with the value after each `--flag` in `values` replaced (the README writes
    `--flag value`); a flag mapped to None is dropped with its value."""
    out, i = [], 0
    while i < len(args):
        if args[i] in values:
            if values[args[i]] is not None:
                out += [args[i], values[args[i]]]
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(argvs: list[list[str]]) -> None:
    """Runs the processes together; all must exit 0 (a failed one takes the others down)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAXDL_NO_DOWNLOAD": "1",
           "XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=4")}
    procs = [subprocess.Popen([sys.executable, "-m", *a], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for a in argvs]
    try:
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


def test_readme_distributed_command_two_processes_equal_one(fake_cifar_dir, tmp_path):
    command = readme_command()
    assert command[0] == "experiments.lambda_search" and "--distributed" in command
    assert set(DISTRIBUTED_FLAGS) <= set(command) and "--workdir" in command
    data = [f"--data_dir={fake_cifar_dir}", *TINY]

    one, two, port = tmp_path / "one", tmp_path / "two", _free_port()
    plain = [a for a in command if a != "--distributed"]
    _launch([_with(plain, {"--workdir": str(one), **dict.fromkeys(DISTRIBUTED_FLAGS)}) + data] +
            [_with(command, {"--workdir": str(two), "--coordinator_address": f"127.0.0.1:{port}",
                             "--num_processes": "2", "--process_id": str(i)}) + data
             for i in range(2)])  # all three at once: each compiles alone, mostly on one core

    res = {name: json.loads((d / "results.json").read_text()) for name, d in
           (("one", one), ("two", two))}
    assert (res["one"]["process_count"], res["one"]["device_count"]) == (1, 4)
    assert (res["two"]["process_count"], res["two"]["device_count"]) == (2, 8)
    assert res["one"]["flags"]["distributed"] is False and res["two"]["flags"]["distributed"]
    # every member runs alone on its device in both layouts (fewer members than devices), so
    # the programs match and the tables are equal exactly, not only to float rounding
    for table in TABLES:
        assert (two / table).read_text() == (one / table).read_text(), table
    assert res["two"]["runs"] == res["one"]["runs"]
    assert res["two"]["summary"] == res["one"]["summary"]
    assert [r["config"]["phase"] for r in res["one"]["runs"]] == (
        ["coarse"] * 3 + ["fine"] * 2 + ["final"] * 2)
    # the tiny search still learns: chance is 10 %; the final runs reach at least 50 %
    assert res["one"]["summary"]["final_test_accuracy_mean"] >= 0.5
