"""experiments.reproduce end to end on a tiny fake CIFAR-10: a reproduction resumed over two
invocations keeps every study's time, and the quick profile judges only full-setting studies."""

import json

import pytest

from conftest import run_module
from jaxdl.report import Ref, build_rows


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
    a1 = json.loads((tmp_path / "a1_linear" / "results.json").read_text())
    # it learned: chance is 10 %; every A1 run (the four of the sheet) reaches >= 90 % on test
    assert len(a1["runs"]) == 4
    assert all(r["metrics"]["test_accuracy"] >= 0.9 for r in a1["runs"]), a1["runs"]

    report = (tmp_path / "REPORT.md").read_text()
    studies = {line.split(" | ")[0].strip("| "): line for line in
               report.split("## Studies")[1].splitlines() if line.startswith("| ")}
    for name, r in record.items():  # the first invocation's time survives the second
        assert studies[name].rstrip(" |").endswith(f"{r['seconds']:.0f}"), studies[name]
    assert f"studies' wall time {sum(r['seconds'] for r in record.values()):.0f} s" in report

    rows = [line for line in report.split("## Studies")[0].splitlines() if line.startswith("| ")]
    cells = [r.strip("| ").split(" | ") for r in rows]
    verdicts = {(c[0], c[1]): c[-1] for c in cells if c[0] in ("a1_linear", "gradcheck_linear")}
    # the fake classes are separable: every A1 run reaches 100 %, above each '>=' bound and
    # outside the 27-31 band of the too-large step; the float64 checks meet their bounds
    assert verdicts == {
        ("gradcheck_linear", "max rel. error, manual vs centred difference (W, b)"): "yes",
        ("gradcheck_linear", "max rel. error, manual vs autodiff (W, b)"): "yes",
        ("a1_linear", "test acc., lambda=0, eta=.1"): "NO",
        ("a1_linear", "test acc., lambda=0, eta=.001"): "yes",
        ("a1_linear", "test acc., lambda=.1, eta=.001"): "yes",
        ("a1_linear", "test acc., lambda=1, eta=.001"): "yes",
        ("a1_linear", "training cost after epoch 1 (lambda=0, eta=.001)"): "-"}
    # a1_bonus was not selected; its quick settings are shortened, so it would not be judged
    assert all("not run" in r for r in rows if r.startswith("| a1_bonus |"))
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")


def _ref(study, what, check, key="x"):
    return Ref(study, what, "ref", "band", lambda res: res["summary"].get(key), check)


def test_build_rows_gives_each_verdict(tmp_path):
    """Synthetic results.json files: met, missed, shortened, informational, unmeasured, absent."""
    for study, summary in {"full": {"x": 40.0, "many": [1.0, 2.0, 3.0]},
                           "quick": {"x": 40.0}}.items():
        (tmp_path / study).mkdir()
        (tmp_path / study / "results.json").write_text(json.dumps({"summary": summary}))
    refs = [_ref("full", "met", lambda v: v >= 39), _ref("full", "missed", lambda v: v >= 41),
            _ref("full", "mean of a list", lambda v: v == 2.0, "many"),
            _ref("full", "absent key", lambda v: True, "none"),
            _ref("full", "informational", None),
            _ref("quick", "shortened", lambda v: v >= 39),
            _ref("quick", "shortened, absent key", lambda v: True, "none"),
            _ref("skipped", "not selected", lambda v: True),
            _ref("broken", "failed", lambda v: True)]
    status = {"broken": {"status": "failed", "seconds": 1.0, "reason": "exit 1: boom"}}
    rows = build_rows(tmp_path, refs, status,
                      {"full": False, "quick": True, "skipped": False, "broken": False})
    assert [(r["what"], r["ours"], r["met"]) for r in rows] == [
        ("met", "40.00 %", "yes"), ("missed", "40.00 %", "NO"),
        ("mean of a list", "2 +- 1 % (n=3)", "yes"),
        ("absent key", "not measured", "not run: absent from results.json"),
        ("informational", "40.00 %", "-"),
        ("shortened", "40.00 %", "not judged: quick settings"),
        ("shortened, absent key", "not measured", "not run in the quick profile's settings"),
        ("not selected", "", "not run: not selected (--only)"),
        ("failed", "", "not run: exit 1: boom")]
    assert all(r["study"] == ref.study and r["reference"] == "ref" and r["band"] == "band"
               for r, ref in zip(rows, refs))
