"""Run identity: a checkpoint resumes only under the settings that made it (a longer run
continues it, --restart starts afresh), and reproduce reruns a study whose flags changed."""

import json
import subprocess
import sys

import jax
import pytest

from conftest import ROOT, run_module
from jaxdl import checkpoint, results, train
from test_train import _data, _trainer

HP = train.as_hparams(lam=0.01, eta=0.05)
CONFIG = {"seed": 0, "grad": "manual", "n_batch": 10}
DATA = _data()


@pytest.fixture(scope="module")
def trainer():
    """One trainer for the module: its segment compiles once."""
    return _trainer("manual", DATA)


def test_other_settings_are_refused_naming_each_with_both_values(tmp_path, trainer):
    data, path = DATA, tmp_path / "ckpt.msgpack"
    train.fit(trainer, HP, jax.random.PRNGKey(0), data, 1, checkpoint=path, identity=CONFIG)
    with pytest.raises(checkpoint.CheckpointMismatch) as e:
        train.fit(trainer, HP, jax.random.PRNGKey(0), data, 2, checkpoint=path,
                  identity={**CONFIG, "seed": 7, "grad": "autodiff"})
    message = str(e.value)
    assert "\n" not in message
    assert 'seed: 0 -> 7' in message and 'grad: "manual" -> "autodiff"' in message
    assert "n_batch" not in message and "--restart" in message and "--workdir" in message


def test_a_longer_run_with_the_same_settings_continues(tmp_path, trainer):
    data, path = DATA, tmp_path / "ckpt.msgpack"
    key = jax.random.PRNGKey(0)
    # a tuple and the list it is stored as are the same setting
    train.fit(trainer, HP, key, data, 1, checkpoint=path,
              identity={**CONFIG, "hidden": (50,)})
    longer = train.fit(trainer, HP, key, data, 3, checkpoint=path,
                       identity={**CONFIG, "hidden": [50]})
    assert len(longer.history) == 3
    whole = train.fit(trainer, HP, key, data, 3)
    assert longer.history == whole.history
    with pytest.raises(checkpoint.CheckpointMismatch, match="at epoch 3, past this run's 2"):
        train.fit(trainer, HP, key, data, 2, checkpoint=path, identity={**CONFIG, "hidden": [50]})


def test_differences_compare_as_json():
    assert results.differences({"a": (1, 2), "b": {"c": 1}}, {"a": [1, 2], "b": {"c": 1}}) == []
    assert results.differences({"a": 1, "w": "x"}, {"b": 2, "w": "y"}, ignore=("w",)) == [
        "a: 1 -> (none)", "b: (none) -> 2"]


def test_reproduce_reuses_only_results_made_with_the_same_flags(tmp_path):
    path = tmp_path / "results.json"
    flags = {"n_epochs": 3, "seed": 0, "workdir": "old", "data_dir": None, "restart": False}
    path.write_text(json.dumps({"flags": flags, "runs": []}))
    folders = ("workdir", "data_dir", "restart")
    assert results.changed_flags(path, {**flags, "workdir": "new", "restart": True}, folders) == []
    assert results.changed_flags(path, {**flags, "seed": 7}, folders) == ["seed: 0 -> 7"]
    assert results.changed_flags(path, None, folders)  # unresolvable flags: rerun


def test_reproduce_resolves_the_flags_a_study_would_record():
    """reproduce.study_flags, run as a user's process would (tests never import experiments)."""
    code = ("import json; from experiments import reproduce; print(json.dumps(reproduce.study_flags("
            "'experiments.a1_linear', ['--workdir=w', '--seed=7'])))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    flags = json.loads(proc.stdout.strip().splitlines()[-1])
    assert flags["seed"] == 7 and flags["n_epochs"] == 40  # given, and a default


def _a1(workdir, data_dir, *extra):
    return run_module(["experiments.a1_linear", f"--workdir={workdir}", f"--data_dir={data_dir}",
                       "--n_epochs=1", "--n_batch=20", "--lams=0", "--etas=0.01", *extra])


def test_a1_rerun_with_another_flag_is_refused_restart_and_longer_runs_work(tmp_path,
                                                                           fake_cifar_dir):
    work = tmp_path / "w"
    first = _a1(work, fake_cifar_dir)
    assert first.returncode == 0, first.stderr[-2000:]
    refused = _a1(work, fake_cifar_dir, "--seed=7")
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    line = [ln for ln in refused.stderr.splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and "seed: 0 -> 7" in line[0] and "--restart" in line[0]
    afresh = _a1(work, fake_cifar_dir, "--seed=7", "--restart")
    assert afresh.returncode == 0, afresh.stderr[-2000:]
    assert "resumed" not in afresh.stderr
    assert json.loads((work / "results.json").read_text())["flags"]["seed"] == 7
    longer = _a1(work, fake_cifar_dir, "--seed=7", "--n_epochs=2")
    assert longer.returncode == 0, longer.stderr[-2000:]
    assert "resumed" in longer.stderr
