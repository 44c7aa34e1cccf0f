"""The DD2424 A2 and A3 studies end to end through their real entry points on a tiny fake
CIFAR-10 (60 images per batch): they learn, and a run killed mid-way resumes, when the same
command runs again, to the uninterrupted study's results.

Both scripts count epochs with the sheets' training sizes (A2: 10 000 images, A3: 50 000 - n_val),
while n_s counts real updates; the flags below are chosen for the number of epochs (= evaluation
segments, enough to be killed mid-way) and say what they mean on the fake data."""

import csv
import json

import pytest

from conftest import run_killed, run_module
from jaxdl import checkpoint

TIMING = ("compile_seconds", "train_seconds")

# one run of 2 n_s n_cycles / (10000 / 20) = 60 epochs; on the 60 fake training images an epoch
# is 3 updates: 180 updates, 0.9 of one real cycle of 2 * 100
A2 = ["experiments.a2_two_layer", "--names=ex", "--n_s=100", "--n_cycles=150", "--hidden=16",
      "--n_batch=20"]
# 3-layer [16, 16] with BN (A2 runs the same MLP without), and the sensitivity study's sigma = .1
# on the same net (the same compiled program): 2 n_s n_cycles / (49940 // 40) = 40 epochs of 6
# updates each on the 240 fake training images, 0.77 of one real cycle of 2 * 156
A3 = ["experiments.a3_kbn", "--n_val=60", "--n_batch=40", "--n_s=156", "--n_cycles=160",
      "--hidden_sets=16,16", "--bn_modes=on", "--sigmas=0.1", "--sigma_hidden=16,16"]
A3_RUNS = ["3layer_bnon", "sigma0.1_bnon"]


def _study(args, data_dir, out):
    proc = run_module([*args, f"--workdir={out}", f"--data_dir={data_dir}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def a2(fake_cifar_dir, tmp_path_factory):
    """The uninterrupted A2 study: the end-to-end checks' outputs and the resume reference."""
    out = tmp_path_factory.mktemp("a2")
    return out, _study(A2, fake_cifar_dir, out)


@pytest.fixture(scope="module")
def a3(fake_cifar_dir, tmp_path_factory):
    """The uninterrupted A3 study: the end-to-end checks' outputs and the resume reference."""
    out = tmp_path_factory.mktemp("a3")
    return out, _study(A3, fake_cifar_dir, out)


def _learned(out, run):
    """Every seed of the run learned (its metrics and its history's step-0 evaluation)."""
    # learning: chance is 10 % (ten classes); the fake classes (prototypes plus noise) give
    # 100 % test accuracy at seeds 0-2: assert >= 80 %, up from the step-0 evaluation (<= 40 %)
    for m in run["per_seed"]:
        assert m["test_accuracy"] >= 0.8 and m["val_accuracy"] >= 0.8 and not m["diverged"]
    with open(out / f"history_{run['name']}.csv") as f:
        rows = list(csv.DictReader(f))
    for seed in run["seeds"]:  # each seed's history begins with its step-0 evaluation
        start = next(r for r in rows if "seed" not in r or int(r["seed"]) == seed)
        assert float(start["step"]) == 0 and float(start["val_accuracy"]) <= 0.4


def _seeded(run, seeds):
    """A run made at several seeds: each seed's metrics, and their mean, std, min, max, n."""
    assert run["seeds"] == seeds and len(run["per_seed"]) == len(seeds)
    accs = [m["test_accuracy"] for m in run["per_seed"]]
    stats = run["summary"]["test_accuracy"]
    assert stats["n"] == len(seeds) and stats["mean"] == pytest.approx(sum(accs) / len(accs))
    assert stats["min"] == min(accs) and stats["max"] == max(accs)
    assert run["metrics"]["test_accuracy"] == pytest.approx(stats["mean"])
    assert run["per_seed"][0]["val_cost"] != run["per_seed"][1]["val_cost"]  # other keys


def _same_run(alone, among, keys=("train_cost", "val_cost", "test_cost", "val_accuracy",
                                  "test_accuracy")):
    """A run made alone at one seed equals that seed's among others: seeds vmapped may batch a
    product differently from the run alone, float rounding only."""
    for k in keys:
        assert alone[k] == pytest.approx(among[k], rel=1e-5), k


def test_a2_two_layer_learns(a2):
    out, res = a2
    assert res["experiment"] == "a2_two_layer" and [r["name"] for r in res["runs"]] == ["ex"]
    run = res["runs"][0]
    assert run["config"]["n_epochs"] == 60 and run["metrics"]["steps"] == 180
    _learned(out, run)
    assert len((out / "history_ex.csv").read_text().splitlines()) == 1 + 61  # step 0 first
    assert (out / "curves_ex.png").stat().st_size > 100


def test_a3_kbn_learns(a3):
    out, res = a3
    assert res["experiment"] == "a3_kbn" and [r["name"] for r in res["runs"]] == A3_RUNS
    for run in res["runs"]:
        assert run["config"]["n_epochs"] == 40 and run["metrics"]["steps"] == 240
        _learned(out, run)
        assert len((out / f"history_{run['name']}.csv").read_text().splitlines()) == 1 + 41
    assert [r["config"]["bn"] for r in res["runs"]] == [True, True]
    assert [r["config"]["init"] for r in res["runs"]] == ["he", "normal(0.1)"]
    for name in ("loss_3layer.png", "loss_sigma0.1.png", "curves_3layer_bnon.png"):
        assert (out / name).stat().st_size > 100


def test_a2_two_layer_seeds_and_run_identity(fake_cifar_dir, tmp_path):
    """Two runs at two seeds each (one vmapped program per run), then the shorter run made alone
    at one of those seeds: its numbers are that seed's among the others (run identity)."""
    # the last value of a flag counts: A2's run "ex", and "short", 2 * 125 * 20 / (10000 / 20)
    # = 10 epochs of 3 updates
    res = _study([*A2, "--names=ex,short", "--n_s=100,125", "--n_cycles=150,20", "--seeds=2"],
                 fake_cifar_dir, tmp_path / "two")
    assert [r["name"] for r in res["runs"]] == ["ex", "short"]
    for run in res["runs"]:
        _seeded(run, [0, 1])
    _learned(tmp_path / "two", res["runs"][0])
    lines = (tmp_path / "two" / "history_ex.csv").read_text().splitlines()
    assert lines[0].startswith("seed,") and len(lines) == 1 + 2 * 61  # step 0 first, each seed
    alone = _study([*A2, "--names=short", "--n_s=125", "--n_cycles=20", "--seed=1"],
                   fake_cifar_dir, tmp_path / "alone")
    _same_run(alone["runs"][0]["metrics"], res["runs"][1]["per_seed"][1])


def test_a3_kbn_seeds_and_run_identity(fake_cifar_dir, tmp_path):
    """The A3 study at two seeds (each run's seeds one vmapped program), then its sensitivity run
    made alone at one of those seeds: its numbers are that seed's among the others."""
    out = tmp_path / "two"
    res = _study([*A3, "--seeds=2"], fake_cifar_dir, out)
    assert [r["name"] for r in res["runs"]] == A3_RUNS
    for run in res["runs"]:
        _seeded(run, [0, 1])
        _learned(out, run)
    for name in ("loss_3layer.png", "loss_sigma0.1.png", "curves_sigma0.1_bnon.png"):
        assert (out / name).stat().st_size > 100
    alone = _study([*A3, "--studies=sensitivity", "--seed=1"], fake_cifar_dir,
                   tmp_path / "alone")
    assert [r["name"] for r in alone["runs"]] == ["sigma0.1_bnon"]
    _same_run(alone["runs"][0]["metrics"], res["runs"][1]["per_seed"][1])


def _resumes_to(reference, args, first_run, data_dir, work):
    """SIGKILL once `first_run`'s checkpoint exists, the same command again, then the same
    results.json metrics (less the timings) and histories as the uninterrupted study."""
    ref_dir, ref = reference
    full = [*args, f"--workdir={work}", f"--data_dir={data_dir}"]
    ckpt = work / f"checkpoint_{first_run}.msgpack"
    run_killed(full, ckpt)
    n_saved = len(json.loads(checkpoint.read_raw(ckpt)["history"]))
    assert 0 < n_saved < ref["runs"][0]["config"]["n_epochs"]
    proc = run_module(full)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resumed from {ckpt}" in proc.stderr
    new = json.loads((work / "results.json").read_text())
    assert [r["name"] for r in new["runs"]] == [r["name"] for r in ref["runs"]]
    for r_new, r_ref in zip(new["runs"], ref["runs"]):
        drop = lambda m: {k: v for k, v in m.items() if k not in TIMING}  # noqa: E731
        assert drop(r_new["metrics"]) == drop(r_ref["metrics"]), r_new["name"]
        history = f"history_{r_new['name']}.csv"
        assert (work / history).read_text() == (ref_dir / history).read_text()


def test_a2_killed_resumes_to_the_uninterrupted_result(a2, fake_cifar_dir, tmp_path):
    _resumes_to(a2, A2, "ex", fake_cifar_dir, tmp_path / "run")


def test_a3_killed_resumes_to_the_uninterrupted_result(a3, fake_cifar_dir, tmp_path):
    _resumes_to(a3, A3, "3layer_bnon", fake_cifar_dir, tmp_path / "run")
