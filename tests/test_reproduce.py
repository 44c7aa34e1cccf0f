"""experiments.reproduce end to end on a tiny fake CIFAR-10: a reproduction resumed over two
invocations keeps every study's time, and the quick profile judges only full-setting studies;
rows of runs made at several seeds show mean +- std (n), judge the mean and place the reference
in the seeds' distribution."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, run_module
from jaxdl.report import Ref, Seeds, build_rows


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
    # (the mean of the quick profile's two seeds)
    assert len(a1["runs"]) == 4
    assert all(r["metrics"]["test_accuracy"] >= 0.9 for r in a1["runs"]), a1["runs"]
    assert all(r["seeds"] == [0, 1] for r in a1["runs"])

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
    # outside the 27-31 band of the too-large step; the float64 checks meet their bounds; A1's
    # two seeds are judged on their mean
    mean2 = " (judged on the mean of 2 seeds)"
    assert verdicts == {
        ("gradcheck_linear", "max rel. error, manual vs centred difference (W, b)"): "yes",
        ("gradcheck_linear", "max rel. error, manual vs autodiff (W, b)"): "yes",
        ("a1_linear", "test acc., lambda=0, eta=.1"): "NO" + mean2,
        ("a1_linear", "test acc., lambda=0, eta=.001"): "yes" + mean2,
        ("a1_linear", "test acc., lambda=.1, eta=.001"): "yes" + mean2,
        ("a1_linear", "test acc., lambda=1, eta=.001"): "yes" + mean2,
        ("a1_linear", "training cost after epoch 1 (lambda=0, eta=.001)"): "-"}
    assert "| z of ref. | consistent | met |" in report
    a1_cells = [c for c in cells if c[0] == "a1_linear"]
    assert len(a1_cells) == 5 and all(c[4].endswith("(n=2)") for c in a1_cells), a1_cells
    # every A1 row has a reference number: 100 % is far from each (blank z where the 2 seeds
    # agree exactly, std 0); the gradient checks, one value each, place nothing
    assert all(c[6] == "no" for c in a1_cells if "test acc." in c[1]), a1_cells
    assert all(c[5] == c[6] == "" for c in cells if c[0] == "gradcheck_linear"), cells
    # a1_bonus was not selected; its quick settings are shortened, so it would not be judged
    assert all("not run" in r for r in rows if r.startswith("| a1_bonus |"))
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")


def _ref(study, what, check, key="x", ref_value=None):
    def measure(res):
        v = res["summary"].get(key)
        return Seeds(v) if key.startswith("seeds") else v  # "seeds...": one run's seeds
    return Ref(study, what, "ref", "band", measure, check, ref_value=ref_value)


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
               and r["z"] == r["consistent"] == "" for r, ref in zip(rows, refs))


def test_seeded_rows_judge_the_mean_and_place_the_reference(tmp_path):
    """A fake results.json made at 5 seeds: mean +- std (n), the verdict on the mean naming n,
    the reference's z-score and whether it lies within mean +- 2 std; several runs (a plain
    list), one seed, no reference number or shortened settings leave z and consistent blank."""
    seeds = [38.0, 38.5, 39.0, 39.5, 40.0]  # mean 39, std 0.7906
    for study in ("full", "quick"):
        (tmp_path / study).mkdir()
        (tmp_path / study / "results.json").write_text(json.dumps({"summary": {
            "seeds": seeds, "seeds1": [38.0], "runs": [38.0, 40.0]}}))
    refs = [_ref("full", "ref inside", lambda v: v >= 38.5, "seeds", ref_value=38.83),
            _ref("full", "ref outside", lambda v: v >= 39.5, "seeds", ref_value=41.0),
            _ref("full", "informational", None, "seeds", ref_value=39.0),
            _ref("full", "no reference number", lambda v: v >= 38.5, "seeds"),
            _ref("full", "one seed", lambda v: v >= 38.5, "seeds1", ref_value=38.0),
            _ref("full", "several runs", lambda v: v >= 38.5, "runs", ref_value=38.0),
            _ref("quick", "shortened", lambda v: v >= 38.5, "seeds", ref_value=38.83)]
    rows = build_rows(tmp_path, refs, {}, {"full": False, "quick": True})
    assert [(r["what"], r["ours"], r["z"], r["consistent"], r["met"]) for r in rows] == [
        ("ref inside", "39 +- 0.79 % (n=5)", "-0.22", "yes",
         "yes (judged on the mean of 5 seeds)"),
        ("ref outside", "39 +- 0.79 % (n=5)", "+2.53", "no",
         "NO (judged on the mean of 5 seeds)"),
        ("informational", "39 +- 0.79 % (n=5)", "+0.00", "yes", "-"),
        ("no reference number", "39 +- 0.79 % (n=5)", "", "",
         "yes (judged on the mean of 5 seeds)"),
        ("one seed", "38 %", "", "", "NO"),
        ("several runs", "39 +- 1.4 % (n=2)", "", "", "yes"),
        ("shortened", "39 +- 0.79 % (n=5)", "", "", "not judged: quick settings")]


def _measures(results_json: dict) -> dict:
    """reproduce's measures and each study's flags per profile, in a subprocess as a user's
    process would run them (tests never import experiments: their flags would clash)."""
    code = ("import json, sys; from experiments import reproduce as r; "
            "res = json.loads(sys.argv[1]); "
            "print(json.dumps({'args': {s.name: [r.study_args(s, 'quick'), r.study_args(s, 'full')]"
            " for s in r.STUDIES}, 'run': r._run_metric('a', 'test_accuracy')(res), "
            "'run1': r._run_metric('b', 'test_accuracy')(res), "
            "'runs': r._runs_metric('', 'test_accuracy')(res), "
            "'runs_a': r._runs_metric('a', 'test_accuracy')(res), "
            "'summary': r._summary('best_by_val_test_accuracy')(res), "
            "'plain_summary': r._summary('other')(res), "
            "'seed_runs': r._seed_runs('final_seed', 'test_accuracy')(res), "
            "'types': [type(r._run_metric('a', 'test_accuracy')(res)).__name__, "
            "type(r._runs_metric('', 'test_accuracy')(res)).__name__]}))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(results_json)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_measures_give_each_seed_and_full_profile_passes_five_seeds():
    res = {"runs": [
        {"name": "a", "metrics": {"test_accuracy": 0.39}, "seeds": [0, 1, 2],
         "per_seed": [{"test_accuracy": 0.38}, {"test_accuracy": 0.39}, {"test_accuracy": 0.40}]},
        {"name": "b", "metrics": {"test_accuracy": 0.5}, "seeds": [0],
         "per_seed": [{"test_accuracy": 0.5}]},
        {"name": "final_seed0", "metrics": {"test_accuracy": 0.53, "diverged": False}},
        {"name": "final_seed1", "metrics": {"test_accuracy": 0.54, "diverged": False}},
        {"name": "final_seed2", "metrics": {"test_accuracy": 0.1, "diverged": True}}],
        "summary": {"best_by_val_test_accuracy": 0.42, "best_by_val_test_accuracy_per_seed":
                    [0.41, 0.42, 0.43], "other": 0.3}}
    m = _measures(res)
    assert m["run"] == pytest.approx([38.0, 39.0, 40.0]) and m["run1"] == pytest.approx(50.0)
    assert m["types"] == ["Seeds", "list"]  # one run's seeds; several runs' values
    assert m["runs"] == pytest.approx([38.0, 39.0, 40.0, 50.0, 53.0, 54.0, 10.0])
    assert m["runs_a"] == pytest.approx([38.0, 39.0, 40.0])
    assert m["summary"] == pytest.approx([41.0, 42.0, 43.0])
    assert m["plain_summary"] == pytest.approx(30.0)
    assert m["seed_runs"] == pytest.approx([53.0, 54.0])  # the diverged seed left out
    five = {"a1_linear", "a1_bonus", "a2_two_layer", "a3_kbn", "names_convnet", "names_best",
            "cnn_mnist", "cnn_cifar10"}
    for name, (quick, full) in m["args"].items():
        assert [a for a in full if a.startswith("--seeds")] == (
            ["--seeds=5"] if name in five else []), name
        assert [a for a in quick if a.startswith("--seeds")] == (
            ["--seeds=2"] if name == "a1_linear" else []), name
