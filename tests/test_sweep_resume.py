"""Sweep checkpoints: a sweep stopped after some segments and started again with the same file
ends exactly where an uninterrupted sweep ends; a file of another sweep, or one past this sweep's
length, is refused; every segment logs a progress line. (The killed lambda search that resumes to
the same tables: tests/test_sweep.py, beside the uninterrupted search it is compared with.)"""

import logging

import chex
import numpy as np
import pytest

from jaxdl import checkpoint, sweep

HP = {"lam": np.array([0.0, 0.01, 0.1], np.float32), "eta": np.full(3, 0.05, np.float32)}


@pytest.fixture(scope="module")
def setup(sweep_setup):
    """One trainer and data set (conftest's, shared by test_sweep.py and test_sweep_resume.py):
    its compiled programs serve every test."""
    return sweep_setup


def test_a_sweep_resumed_from_its_checkpoint_equals_the_uninterrupted_one(tmp_path, setup,
                                                                          caplog):
    trainer, data = setup
    keys = sweep.seeds_keys([0, 1, 2])  # (one key shared by all: the lambda search's test)
    whole = sweep.run(trainer, HP, keys, data, 4)
    path = tmp_path / "checkpoint.msgpack"
    sweep.run(trainer, HP, keys, data, 2, checkpoint=path, name="study")  # "interrupted"
    with caplog.at_level(logging.INFO, logger="absl"):
        resumed = sweep.run(trainer, HP, keys, data, 4, checkpoint=path, name="study")
    assert "study: resumed from" in caplog.text and "at segment 2/4" in caplog.text
    assert "study: segment 4/4, 3 members, best val_accuracy so far" in caplog.text
    assert "diverged 0, ETA" in caplog.text
    chex.assert_trees_all_equal(resumed.history, whole.history)
    chex.assert_trees_all_equal(resumed.state, whole.state)
    np.testing.assert_array_equal(resumed.diverged, whole.diverged)
    again = sweep.run(trainer, HP, keys, data, 4, checkpoint=path, name="study")  # read back
    chex.assert_trees_all_equal(again.history, whole.history)
    with pytest.raises(checkpoint.CheckpointMismatch, match="past this sweep's 2"):
        sweep.run(trainer, HP, keys, data, 2, checkpoint=path, name="study")


def test_a_checkpoint_of_another_sweep_is_refused(tmp_path, setup):
    trainer, data = setup
    keys = sweep.seeds_keys([0, 1, 2])
    path = tmp_path / "checkpoint.msgpack"
    sweep.run(trainer, HP, keys, data, 1, checkpoint=path, identity={"n_val": 30})
    other_hp = {**HP, "lam": np.array([0.0, 0.01, 0.2], np.float32)}
    with pytest.raises(checkpoint.CheckpointMismatch, match=r"another run.*hp\.lam"):
        sweep.run(trainer, other_hp, keys, data, 2, checkpoint=path, identity={"n_val": 30})
    with pytest.raises(checkpoint.CheckpointMismatch, match=r"n_val: 30 -> 40"):
        sweep.run(trainer, HP, keys, data, 2, checkpoint=path, identity={"n_val": 40})
    with pytest.raises(checkpoint.CheckpointMismatch, match="keys"):
        sweep.run(trainer, HP, sweep.seeds_keys([0, 1, 3]), data, 2, checkpoint=path,
                  identity={"n_val": 30})
