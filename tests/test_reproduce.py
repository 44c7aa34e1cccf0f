"""experiments.reproduce end to end on a tiny fake CIFAR-10: a reproduction resumed over two
invocations keeps every study's time, and the quick profile judges only full-setting studies."""

import json

import pytest

from conftest import run_module


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    """Fake CIFAR-10 batches big enough for A1's minibatch of 100."""
    from jaxdl.data import cifar10
    folder = tmp_path_factory.mktemp("cifar200")
    cifar10.write_fake_dataset(folder, n_per_batch=200)
    return folder


def _reproduce(only, workdir, data_dir):
    return run_module(["experiments.reproduce", "--profile=quick", f"--only={only}",
                       f"--workdir={workdir}", f"--data_dir={data_dir}"])


def test_resumed_reproduction_reports_every_study(cifar_dir, tmp_path):
    for only in ("gradcheck_linear", "a1_linear"):
        proc = _reproduce(only, tmp_path, cifar_dir)
        assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((tmp_path / "studies.json").read_text())
    assert set(record) == {"gradcheck_linear", "a1_linear"}
    assert all(r["status"] == "done" and r["seconds"] > 0 for r in record.values())

    report = (tmp_path / "REPORT.md").read_text()
    studies = {line.split(" | ")[0].strip("| "): line for line in
               report.split("## Studies")[1].splitlines() if line.startswith("| ")}
    for name, r in record.items():  # the first invocation's time survives the second
        assert studies[name].rstrip(" |").endswith(f"{r['seconds']:.0f}"), studies[name]
    assert f"studies' wall time {sum(r['seconds'] for r in record.values()):.0f} s" in report

    rows = [line for line in report.split("## Studies")[0].splitlines() if line.startswith("| ")]
    a1 = [r for r in rows if r.startswith("| a1_linear | test acc.")]
    assert len(a1) == 4 and all(r.endswith("| yes |") or r.endswith("| NO |") for r in a1)
    # a1_bonus was not selected; its quick settings are shortened, so it would not be judged
    assert all("not run" in r for r in rows if r.startswith("| a1_bonus |"))
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
