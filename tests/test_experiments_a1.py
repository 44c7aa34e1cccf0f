"""The A1 and gradient-check scripts end to end through their real entry points, on a tiny
synthetic data directory in the official format."""

import csv
import json
import os

import pytest

from conftest import assert_seed_summary, run_module


_run = run_module


@pytest.fixture
def fake_dir(fake_cifar_dir):
    return fake_cifar_dir


def test_a1_linear_end_to_end(fake_dir, tmp_path):
    """Two runs at two seeds each (one vmapped program per run), then one of those runs made
    alone at one of those seeds: its numbers are that seed's among the others (run identity)."""
    out = tmp_path / "a1"
    proc = _run(["experiments.a1_linear", f"--workdir={out}", f"--data_dir={fake_dir}",
                 "--n_epochs=3", "--n_batch=20", "--lams=0,0.1", "--etas=0.01,0.01",
                 "--seeds=2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["experiment"] == "a1_linear" and res["backend"] == "cpu"  # run_module's platform
    assert {"jax_version", "device_count", "wall_seconds", "flags"} <= set(res)
    assert res["flags"]["n_epochs"] == 3 and res["flags"]["grad"] == "manual"
    assert [r["name"] for r in res["runs"]] == ["lam0_eta0.01", "lam0.1_eta0.01"]
    for run in res["runs"]:
        assert_seed_summary(run, "test_accuracy")
        assert run["per_seed"][0]["val_cost"] != run["per_seed"][1]["val_cost"]  # other keys
        # the fake classes are well separated: even 3 epochs learn them (chance 10 %; every split
        # of every seed >= 50 %, test measured at 100 %)
        for m in run["per_seed"]:
            for split in ("train", "val", "test"):
                assert m[f"{split}_accuracy"] >= 0.5, (run["name"], split)
        for prefix in ("history", "curves", "templates"):
            suffix = "csv" if prefix == "history" else "png"
            path = out / f"{prefix}_{run['name']}.{suffix}"
            assert path.stat().st_size > 100, path
    lines = (out / "history_lam0_eta0.01.csv").read_text().splitlines()
    assert lines[0].startswith("seed,") and len(lines) == 1 + 2 * 3

    alone = tmp_path / "alone"
    proc = _run(["experiments.a1_linear", f"--workdir={alone}", f"--data_dir={fake_dir}",
                 "--n_epochs=3", "--n_batch=20", "--lams=0.1", "--etas=0.01", "--seed=1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((alone / "results.json").read_text())["runs"][0]
    among = res["runs"][1]["per_seed"][1]
    for k in ("train_cost", "val_cost", "test_cost", "test_accuracy", "train_cost_epoch1"):
        # seeds vmapped may batch a product differently from the run alone: float rounding only
        assert run["metrics"][k] == pytest.approx(among[k], rel=1e-5), k
    assert len((alone / "history_lam0.1_eta0.01.csv").read_text().splitlines()) == 1 + 3


def test_a1_linear_compilation_cache(fake_dir, tmp_path):
    """--compilation_cache_dir (or $JAXDL_COMPILATION_CACHE) stores the compiled training segment."""
    cache = tmp_path / "xla_cache"
    proc = _run(["experiments.a1_linear", f"--workdir={tmp_path / 'a1'}", f"--data_dir={fake_dir}",
                 "--n_epochs=1", "--n_batch=20", "--lams=0", "--etas=0.01",
                 f"--compilation_cache_dir={cache}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any(p.name.startswith("jit_segment") for p in cache.iterdir())


def test_a1_rejects_bad_flags_before_compiling(fake_dir, tmp_path):
    proc = _run(["experiments.a1_linear", f"--workdir={tmp_path}", f"--data_dir={fake_dir}",
                 "--etas=-0.1", "--lams=0"])
    assert proc.returncode == 2
    assert "--etas" in proc.stderr and "Traceback" not in proc.stderr


def test_a1_missing_data_is_one_clear_line(tmp_path):
    proc = _run(["experiments.a1_linear", f"--workdir={tmp_path}",
                 f"--data_dir={tmp_path / 'empty'}"])
    assert proc.returncode == 2
    assert "data_batch_1" in proc.stderr and "Traceback" not in proc.stderr


def test_gradcheck_script_prints_and_writes_tables(tmp_path):
    proc = _run(["experiments.gradcheck", "--model=linear", f"--workdir={tmp_path}",
                 f"--data_dir={tmp_path / 'none'}", "--batch_sizes=1,3", "--lams=0,0.1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "manual_vs_centred" in proc.stdout
    res = json.loads((tmp_path / "results.json").read_text())
    assert len(res["runs"]) == 4
    for run in res["runs"]:
        assert run["metrics"]["max_rel_error_manual_vs_autodiff"] <= 1e-10
        assert run["metrics"]["max_rel_error_manual_vs_centred"] <= 1e-6


# study d's default 1-pixel translations (--decay_max_shift=1) are turned off here: the fake
# classes are white-noise prototypes, which a translation destroys (real images are smooth)
NO_SHIFT = ["--decay_max_shift=0"]


def test_a1_bonus_end_to_end(fake_dir, tmp_path):
    """Every study's sweep at two seeds (members pair x seed, one program): one run per pair with
    its per-seed metrics, and the best run chosen on the mean validation accuracy."""
    out = tmp_path / "bonus"
    proc = _run(["experiments.a1_bonus", f"--workdir={out}", f"--data_dir={fake_dir}",
                 "--n_epochs=2", "--n_val=50", "--studies=b,d,e", "--decay_lams=0,0.01",
                 "--decay_epochs=1", "--decay_n_epochs=2", "--seeds=2", *NO_SHIFT])
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    # by default a sweep's members are sharded over one CPU device per core
    assert res["device_count"] == len(os.sched_getaffinity(0))
    studies = [r["config"]["study"] for r in res["runs"]]
    assert studies == ["b"] * 3 + ["d"] * 2 + ["e"] * 2
    assert all(r["config"]["flip"] for r in res["runs"][:5])
    assert all(r["config"]["max_shift"] == 0 for r in res["runs"])
    assert {r["config"]["loss"] for r in res["runs"] if r["config"]["study"] == "e"} == {
        "softmax_ce", "mbce"}
    for name in ("hist_mbce.png", "hist_softmax_ce.png", "mbce_vs_ce.png", "runs.csv"):
        assert (out / name).stat().st_size > 100
    for run in res["runs"]:
        assert_seed_summary(run, "val_accuracy")
        assert run["metrics"]["diverged"] == any(m["diverged"] for m in run["per_seed"])
    table = (out / "runs.csv").read_text().splitlines()
    assert "seed" in table[0].split(",") and len(table) == 1 + 2 * len(res["runs"])
    assert len((out / "history_e_mbce.csv").read_text().splitlines()) == 1 + 2 * 2
    # the headline is the test accuracy of the run chosen on validation (its mean over the
    # seeds), never the best test one
    finished = [r for r in res["runs"] if not r["metrics"]["diverged"]]
    chosen = max(finished, key=lambda r: r["metrics"]["val_accuracy"])
    summary = res["summary"]
    assert summary["best_by_val_test_accuracy"] == chosen["metrics"]["test_accuracy"]
    assert summary["best_by_val"]["val_accuracy"] == chosen["metrics"]["val_accuracy"]
    assert summary["best_by_val_test_accuracy_per_seed"] == [
        m["test_accuracy"] for m in chosen["per_seed"]]
    # it learned: chance is 10 %; every run at every seed >= 25 % on test (measured 33-100 % with
    # seeds 0 and 1; study b's eta = .001 for 2 epochs is the slowest) and the chosen run >= 90 %
    # (100 %)
    assert all(m["test_accuracy"] >= 0.25 for r in res["runs"] for m in r["per_seed"]), res["runs"]
    assert chosen["metrics"]["test_accuracy"] >= 0.9

    # run identity: one pair of study d made alone at seed 1 gives that seed's numbers among the
    # others (its key is run_key(seed, sweep name), not its position); study e's seed 1 alone
    # has the losses of seed 1 vmapped beside seed 0
    alone = tmp_path / "alone"
    proc = _run(["experiments.a1_bonus", f"--workdir={alone}", f"--data_dir={fake_dir}",
                 "--n_epochs=2", "--n_val=50", "--studies=d,e", "--decay_lams=0.01",
                 "--decay_epochs=1", "--decay_n_epochs=2", "--seed=1", *NO_SHIFT])
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((alone / "results.json").read_text())["runs"][0]
    assert run["config"]["study"] == "d"
    among = next(r for r in res["runs"] if r["name"] == run["name"])
    assert run["seeds"] == [1] and among["config"]["lam"] == 0.01
    for k in ("train_accuracy", "val_accuracy", "test_accuracy"):
        # vmapped with other members may batch a product differently: float rounding only
        assert run["metrics"][k] == pytest.approx(among["per_seed"][1][k], rel=1e-5), k
    for loss in ("softmax_ce", "mbce"):
        with open(out / f"history_e_{loss}.csv") as f:
            rows = [r for r in csv.DictReader(f) if r["seed"] == "1"]
        with open(alone / f"history_e_{loss}.csv") as f:
            alone_rows = list(csv.DictReader(f))
        assert len(rows) == len(alone_rows) == 2
        for r, a in zip(rows, alone_rows):
            for k in ("train_loss", "val_loss", "test_loss", "batch_cost"):
                assert float(r[k]) == pytest.approx(float(a[k]), rel=1e-5), (loss, k)


def test_a1_bonus_best_by_validation_uses_the_mean_over_seeds():
    """The best pair is the one with the highest mean val accuracy over its seeds (not its best
    seed, not test), and a pair with a diverged seed is not eligible; checked in a subprocess, so
    the script's flags stay out of this one."""
    import subprocess
    import sys
    code = """
from experiments.a1_bonus import best_by_validation
from jaxdl import results
def run(name, vals, tests, diverged=(False, False)):
    return results.seeded_run(name, {}, [0, 1], [
        {"val_accuracy": v, "test_accuracy": t, "diverged": d}
        for v, t, d in zip(vals, tests, diverged)])
runs = [run("lucky_seed", [0.60, 0.30], [0.9, 0.9]),     # best single seed, mean .45
        run("steady", [0.50, 0.48], [0.4, 0.4]),         # best mean: .49
        run("diverged", [0.70, 0.70], [0.9, 0.9], (False, True))]
print(best_by_validation(runs)["name"])
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), capture_output=True, text=True, timeout=120,
        env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-1] == "steady"
