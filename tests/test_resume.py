"""Checkpoint and resume, divergence handling and determinism, through the library and through a
real experiment process killed mid-run."""

import json
import signal

import chex
import jax
import numpy as np
import pytest

from conftest import run_killed, run_module
from jaxdl import checkpoint, train
from test_train import _data, _trainer


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def trainer(data):
    """One trainer for the module's library tests: its segment compiles once (train.fit keeps it
    in trainer.compiled), whatever the hyper-parameters, key or run length."""
    return _trainer("manual", data)


def test_fit_resumes_from_a_checkpoint_to_the_same_end(tmp_path, data, trainer):
    hp = train.as_hparams(lam=0.01, eta=0.05)
    key = jax.random.PRNGKey(0)
    whole = train.fit(trainer, hp, key, data, 6)
    path = tmp_path / "ckpt.msgpack"
    train.fit(trainer, hp, key, data, 2, checkpoint=path)  # "interrupted"
    _, saved_history, _ = checkpoint.restore(path, whole.state)
    assert len(saved_history) == 2
    resumed = train.fit(trainer, hp, key, data, 6, checkpoint=path)
    assert len(resumed.history) == 6
    chex.assert_trees_all_equal(resumed.state.params, whole.state.params)
    assert resumed.history == whole.history


def test_a_checkpoint_of_another_run_is_refused(tmp_path, data, trainer):
    path = tmp_path / "ckpt.msgpack"
    train.fit(trainer, train.as_hparams(lam=0.0, eta=0.05),
              jax.random.PRNGKey(0), data, 1, checkpoint=path)
    with pytest.raises(checkpoint.DataError, match="another run"):
        train.fit(trainer, train.as_hparams(lam=0.5, eta=0.05),
                  jax.random.PRNGKey(0), data, 2, checkpoint=path)


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, data, trainer):
    path = tmp_path / "ckpt.msgpack"
    # |1 - 2 eta lam| = 1.5: W grows 1.5x per step, so the cost overflows after a few epochs
    result = train.fit(trainer, train.as_hparams(lam=0.1, eta=12.5),
                       jax.random.PRNGKey(0), data, 40, checkpoint=path)
    assert result.diverged
    assert not np.isfinite(result.history[-1]["batch_cost"])
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(result.state.params))
    assert len(result.history) > 1  # some finite epochs came first: the file holds the last
    assert result.final_metrics is result.history[-2]  # the evaluation of the kept state
    assert all(np.isfinite(v) for v in result.final_metrics.values())
    restored, hist, _ = checkpoint.restore(path, result.state)
    assert len(hist) == len(result.history) - 1
    assert all(np.isfinite(h["batch_cost"]) for h in hist)
    chex.assert_trees_all_equal(restored.params, result.state.params)


def test_same_flags_and_seed_give_identical_metrics(data):
    hp = train.as_hparams(lam=0.01, eta=0.05)
    runs = [train.fit(_trainer("manual", data), hp, jax.random.PRNGKey(7), data, 3).history
            for _ in range(2)]
    assert runs[0] == runs[1]


def _a1_args(workdir, data_dir, epochs):
    # the session's fake CIFAR-10 (60 images per batch) and the minibatch of 20 that the other
    # single-seed A1 runs use: the same compiled program, read from the shared XLA cache
    return ["experiments.a1_linear", f"--workdir={workdir}", f"--data_dir={data_dir}",
            f"--n_epochs={epochs}", "--n_batch=20", "--lams=0.1", "--etas=0.001"]


# 200 one-epoch segments of 3 updates each, every one checkpointed: long enough to be killed
# mid-run
EPOCHS = 200


@pytest.fixture(scope="module")
def uninterrupted(fake_cifar_dir, tmp_path_factory):
    """The fake data set and the metrics of the same run made without interruption."""
    root = tmp_path_factory.mktemp("resume")
    proc = run_module(_a1_args(root / "ref", fake_cifar_dir, EPOCHS))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return fake_cifar_dir, json.loads((root / "ref" / "results.json").read_text())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_experiment_resumes_to_the_uninterrupted_result(tmp_path, sig, uninterrupted):
    data_dir, reference = uninterrupted
    work = tmp_path / "run"
    ckpt = work / "checkpoint_lam0.1_eta0.001.msgpack"
    run_killed(_a1_args(work, data_dir, EPOCHS), ckpt, sig)
    raw = checkpoint.read_raw(ckpt)
    assert 0 < len(json.loads(raw["history"])) < EPOCHS
    again = run_module(_a1_args(work, data_dir, EPOCHS))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed from" in again.stderr
    m_ref = reference["runs"][0]["metrics"]
    m_new = json.loads((work / "results.json").read_text())["runs"][0]["metrics"]
    for k in ("train_accuracy", "val_accuracy", "test_accuracy", "train_cost", "test_loss"):
        assert m_new[k] == m_ref[k], k
