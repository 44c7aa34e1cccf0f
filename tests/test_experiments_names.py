"""The surname ConvNet study and the prediction command end to end through their real entry
points, on a tiny synthetic names folder in the course's format."""

import json

import jax
import numpy as np
import pytest

from conftest import assert_seed_summary, run_killed, run_module
from jaxdl import checkpoint
from jaxdl.data import names
from jaxdl.models import names as names_model


_run = run_module

# 3 updates per evaluation (the undersampled set is K n_min = 3 * 10 = 30 names, 3 batches), 60
# evaluations per run: long enough in segments to be killed mid-way, tiny in shapes
ARGS = ["--n1=4", "--n2=4", "--k1=3", "--k2=2", "--n_batch=10", "--eta=0.05", "--n_updates=180",
        "--eval_every=3", "--balance=undersample,weighted"]
STEPS = list(range(3, 181, 3))
TIMING = ("compile_seconds", "train_seconds")


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    # 10 validation names per class (30: accuracy in steps of 1/30), 40/10/20 training names
    names.write_fake_dataset(folder, n_per_class=(50, 20, 30), n_val=10)
    return folder


@pytest.fixture(scope="module")
def study(fake_dir, tmp_path_factory):
    """The uninterrupted study: the end-to-end checks' outputs and the resume test's reference."""
    out = tmp_path_factory.mktemp("names")
    proc = _run(["experiments.names_convnet", f"--workdir={out}", f"--data_dir={fake_dir}",
                 *ARGS])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_study_then_predict(study):
    out = study
    res = json.loads((out / "results.json").read_text())
    assert res["experiment"] == "names_convnet" and res["flags"]["n_updates"] == 180
    assert [r["config"]["balance"] for r in res["runs"]] == ["undersample", "weighted"]
    for run in res["runs"]:
        m = run["metrics"]
        assert m["n_updates"] == 180
        # learning: chance is 1/3 on the balanced validation set; the suffixes give 67-90 % (3
        # seeds): assert >= 50 %, and a perfect fit of the 70 training names (chance 1/3) >= 90 %
        assert m["val_accuracy"] >= 0.5 and m["train_accuracy"] >= 0.9
        assert set(m["per_class_val_accuracy"]) == {"Lang1", "Lang2", "Lang3"}
        assert sum(map(sum, m["val_confusion"])) == 30
        confusions = json.loads((out / f"confusion_{run['name']}.json").read_text())
        assert [c["step"] for c in confusions] == STEPS
        assert confusions[-1]["confusion"] == m["val_confusion"]
        # best_*: the first evaluation with the highest accuracy, and its checkpoint
        accs = [np.trace(c["confusion"]) / 30 for c in confusions]
        assert m["best_step"] == STEPS[int(np.argmax(accs))]
        assert m["best_val_accuracy"] == pytest.approx(max(accs))
        assert checkpoint.read_meta(out / f"best_{run['name']}.msgpack")["step"] == m["best_step"]
        history = (out / f"history_{run['name']}.csv").read_text().splitlines()
        assert len(history) == 61 and "confusion" not in history[0]  # no matrix in the CSV
        for prefix in ("curves", "confusion"):
            assert (out / f"{prefix}_{run['name']}.png").stat().st_size > 100
        assert (out / f"final_{run['name']}.msgpack").is_file()
    assert res["runs"][0]["config"]["updates_per_eval"] == 3

    proc = _run(["experiments.names_predict", f"--workdir={out}", "--checkpoint=final",
                 "Petrov", "", "Müllerson"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-2].startswith("Petrov: Lang") and lines[-1].startswith("Müllerson: Lang")
    rows = [line.split() for line in lines if line.startswith("Lang")]
    assert len(rows) == 3  # one probability row per class, each column sums to one
    for col in (1, 2):
        assert sum(float(r[col]) for r in rows) == pytest.approx(1.0, abs=2e-3)
    assert "'Müllerson': transliterated to 'mullerson'" in proc.stderr  # ü -> u, reported
    assert "'': nothing left to encode; skipped" in proc.stderr  # the empty name only
    # the printed numbers are softmax of the checkpoint's model on the encoded names (to .3e)
    used = next(line for line in lines if line.startswith("checkpoint: "))
    net = names_model.restore(out / used.removeprefix("checkpoint: "))
    indices, _, _ = names.encode_new(["Petrov", "Müllerson"], net.alphabet)
    scores, _ = net.model.apply(net.params, net.state, names_model.encode(indices, net.cfg))
    printed = {r[0]: [float(v) for v in r[1:]] for r in rows}
    assert list(printed) == net.class_names
    np.testing.assert_allclose(np.array(list(printed.values())).T, jax.nn.softmax(scores, -1),
                               rtol=5.01e-4, atol=0)


def test_killed_study_resumes_to_the_uninterrupted_outputs(study, fake_dir, tmp_path):
    """SIGKILL during the first run, the same command again: the same results.json metrics,
    every evaluation's confusion matrix, best_* over all evaluations and the same best
    checkpoint as the uninterrupted study (issue 17: the history used to be lost)."""
    work = tmp_path / "run"
    args = ["experiments.names_convnet", f"--workdir={work}", f"--data_dir={fake_dir}", *ARGS]
    ckpt = work / "checkpoint_undersample_n4k3_n4k2.msgpack"
    run_killed(args, ckpt)
    assert 0 < len(json.loads(checkpoint.read_raw(ckpt)["history"])) < len(STEPS)
    proc = _run(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumed from" in proc.stderr
    ref = json.loads((study / "results.json").read_text())["runs"]
    new = json.loads((work / "results.json").read_text())["runs"]
    assert [r["name"] for r in new] == [r["name"] for r in ref]
    for r_ref, r_new in zip(ref, new):
        drop = lambda m: {k: v for k, v in m.items() if k not in TIMING}  # noqa: E731
        assert drop(r_new["metrics"]) == drop(r_ref["metrics"])
        for prefix in ("confusion_", "history_"):
            suffix = ".json" if prefix == "confusion_" else ".csv"
            assert ((work / f"{prefix}{r_new['name']}{suffix}").read_text()
                    == (study / f"{prefix}{r_ref['name']}{suffix}").read_text()), prefix
        best_ref, best_new = (checkpoint.read_raw(d / f"best_{r_ref['name']}.msgpack")
                              for d in (study, work))
        assert best_new["meta"] == best_ref["meta"]
        for a, b in zip(jax.tree.leaves(best_new["train_state"]),
                        jax.tree.leaves(best_ref["train_state"])):
            np.testing.assert_array_equal(a, b)


def test_a_run_alone_equals_the_same_run_among_others(study, fake_dir, tmp_path):
    """The weighted run made alone (first and only) gives exactly the numbers it gave as the
    second run of the study: its key is run_key(seed, name), not its position (issue 15)."""
    out = tmp_path / "alone"
    proc = _run(["experiments.names_convnet", f"--workdir={out}", f"--data_dir={fake_dir}",
                 *ARGS[:-1], "--balance=weighted"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    alone = json.loads((out / "results.json").read_text())["runs"]
    among = json.loads((study / "results.json").read_text())["runs"][1]
    assert [r["name"] for r in alone] == [among["name"]] == ["weighted_n4k3_n4k2"]
    drop = lambda m: {k: v for k, v in m.items() if k not in TIMING}  # noqa: E731
    assert drop(alone[0]["metrics"]) == drop(among["metrics"])
    name = among["name"]
    assert ((out / f"confusion_{name}.json").read_text()
            == (study / f"confusion_{name}.json").read_text())


def test_seeds_train_as_one_program_each_equal_to_its_run_alone(fake_dir, tmp_path):
    """--seeds=2: each run's two seeds as one vmapped program, results.json with per_seed and
    summary, every seed learning; then the undersampled run made alone at --seed=1 equals that
    seed among the others (float rounding only), and a per-seed checkpoint predicts."""
    out = tmp_path / "seeds"
    proc = _run(["experiments.names_convnet", f"--workdir={out}", f"--data_dir={fake_dir}",
                 *ARGS[:-1], "--balance=none,undersample", "--seeds=2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["flags"]["seeds"] == 2
    assert [r["name"] for r in res["runs"]] == ["none_n4k3_n4k2", "undersample_n4k3_n4k2"]
    for run in res["runs"]:
        name = run["name"]
        assert_seed_summary(run, "val_accuracy")
        assert run["summary"]["best_val_accuracy"]["n"] == 2
        assert run["per_seed"][0]["val_loss"] != run["per_seed"][1]["val_loss"]  # other keys
        confusions = json.loads((out / f"confusion_{name}.json").read_text())
        assert [c["seed"] for c in confusions] == [0, 1]
        for m, c in zip(run["per_seed"], confusions):
            # learning, every seed: chance 1/3 on the balanced validation set (as above)
            assert m["val_accuracy"] >= 0.5 and m["train_accuracy"] >= 0.9, name
            assert m["n_updates"] == 180 and not m["diverged"]
            assert c["step"] == 180 and c["confusion"] == m["val_confusion"]
            assert sum(map(sum, m["val_confusion"])) == 30
            assert m["val_accuracy"] == pytest.approx(np.trace(m["val_confusion"]) / 30)
            assert m["best_val_accuracy"] >= m["val_accuracy"] and m["best_step"] in STEPS
            assert (out / f"final_{name}_seed{c['seed']}.msgpack").is_file()
        np.testing.assert_allclose(run["metrics"]["val_confusion"],
                                   np.mean([c["confusion"] for c in confusions], 0))
        history = (out / f"history_{name}.csv").read_text().splitlines()
        assert history[0].startswith("seed,") and len(history) == 1 + 2 * len(STEPS)
        for prefix in ("curves", "confusion"):
            assert (out / f"{prefix}_{name}.png").stat().st_size > 100

    alone = tmp_path / "alone"
    proc = _run(["experiments.names_convnet", f"--workdir={alone}", f"--data_dir={fake_dir}",
                 *ARGS[:-1], "--balance=undersample", "--seed=1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((alone / "results.json").read_text())["runs"][0]
    among = res["runs"][1]["per_seed"][1]
    for k in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "best_val_accuracy",
              "val_balanced_accuracy"):
        # seeds vmapped may batch a product differently from the run alone: float rounding only
        assert run["metrics"][k] == pytest.approx(among[k], rel=1e-5), k
    assert run["metrics"]["best_step"] == among["best_step"]

    proc = _run(["experiments.names_predict", f"--workdir={out}",
                 "--run=undersample_n4k3_n4k2_seed1", "--checkpoint=final", "Petrov"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1].startswith("Petrov: Lang")


def test_bad_flags_and_missing_data_are_one_line(fake_dir, tmp_path):
    proc = _run(["experiments.names_convnet", f"--workdir={tmp_path}", f"--data_dir={fake_dir}",
                 "--balance=none,oversample"])
    assert proc.returncode == 2 and "--balance" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run(["experiments.names_convnet", f"--workdir={tmp_path}",
                 f"--data_dir={tmp_path / 'empty'}"])
    assert proc.returncode == 2 and "ascii_names.txt" in proc.stderr
    assert "Traceback" not in proc.stderr
