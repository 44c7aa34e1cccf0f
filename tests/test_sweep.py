"""Sweeps: a member equals the run made alone; sharding over 8 devices changes nothing; a diverging
member is marked and leaves the others alone; the lambda search splits its members over CPU
devices, and one killed mid-run resumes to the uninterrupted search's tables."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import chex
import jax
import numpy as np
import optax
import pytest

from jaxdl.models import mlp
from jaxdl import samplers, sweep, train
from jaxdl.layers import losses


def _setup(n=120, d=24, k=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (k, d))
    y = rng.integers(0, k, n)
    X = (centres[y] + rng.normal(0, 1.0, (n, d))).astype(np.float32)
    Y = np.eye(k, dtype=np.float32)[y]
    data = train.to_device({"X_train": X[:90], "Y_train": Y[:90], "X_val": X[90:],
                            "Y_val": Y[90:]})
    trainer = train.make_trainer(mlp.linear(k), losses.softmax_cross_entropy,
                                 lambda hp: optax.sgd(hp["eta"]),
                                 samplers.shuffled_batches(10, 90))
    return trainer, data


@pytest.fixture(scope="module")
def setup(sweep_setup):
    """One trainer and data set (conftest's, shared by test_sweep.py and test_sweep_resume.py):
    its compiled programs serve every test."""
    return sweep_setup


def test_member_equals_the_run_made_alone(setup):
    trainer, data = setup
    hp = sweep.grid(lam=[0.0, 0.01, 0.1], eta=[0.01, 0.05])
    keys = sweep.seeds_keys(range(6))
    result = sweep.run(trainer, hp, keys, data, 3)
    assert result.history["val_accuracy"].shape == (6, 3)
    for i in (0, 4):
        alone = jax.jit(trainer.run, static_argnums=3)(
            {k: v[i] for k, v in hp.items()}, keys[i], data, 3)
        state_i, history_i = sweep.member(result, i)
        chex.assert_trees_all_close(state_i.params, alone[0].params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(history_i["val_cost"], np.asarray(alone[1]["val_cost"]),
                                   rtol=1e-5)
    assert not result.diverged.any()


def test_sharded_over_8_devices_equals_one_device(setup):
    assert len(jax.devices()) == 8  # conftest's fake CPU devices
    trainer, data = setup
    hp = {"lam": np.array([0.0, 0.01, 0.1, 0.2, 0.3], np.float32),  # 5 members: padded to 8
          "eta": np.full(5, 0.05, np.float32)}
    keys = sweep.seeds_keys([0, 0, 1, 1, 2])
    one = sweep.run(trainer, hp, keys, data, 2, mesh=sweep.member_mesh(jax.devices()[:1]))
    eight = sweep.run(trainer, hp, keys, data, 2, mesh=sweep.member_mesh(jax.devices()))
    assert eight.history["val_cost"].shape == (5, 2)
    chex.assert_trees_all_close(one.state.params, eight.state.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one.history["val_accuracy"], eight.history["val_accuracy"])


def test_a_diverging_member_is_marked_and_isolated(setup):
    trainer, data = setup
    hp = {"lam": np.zeros(3, np.float32), "eta": np.array([0.05, 1e30, 0.05], np.float32)}
    keys = sweep.seeds_keys([0, 0, 1])
    result = sweep.run(trainer, hp, keys, data, 2)
    np.testing.assert_array_equal(result.diverged, [False, True, False])
    alone = jax.jit(trainer.run, static_argnums=3)(
        {"lam": np.float32(0), "eta": np.float32(0.05)}, keys[0], data, 2)
    np.testing.assert_allclose(result.history["val_cost"][0], np.asarray(alone[1]["val_cost"]),
                               rtol=1e-5)


def test_bad_shapes_and_ranges_are_rejected(setup):
    trainer, data = setup
    with pytest.raises(ValueError, match="one value per member"):
        sweep.run(trainer, {"lam": np.zeros(2), "eta": np.zeros(3)}, sweep.seeds_keys([0, 1]),
                  data, 1)
    with pytest.raises(ValueError, match="empty range"):
        sweep.sample_log_uniform(jax.random.PRNGKey(0), 4, -1, -5)


def test_log_uniform_sampling_stays_in_range():
    lam = np.asarray(sweep.sample_log_uniform(jax.random.PRNGKey(0), 1000, -5, -1))
    assert lam.min() >= 1e-5 and lam.max() <= 1e-1
    assert 0.4 < np.mean(np.log10(lam) < -3) < 0.6


SCRIPT = """
import json, jax, numpy as np
import sys; sys.path.insert(0, 'tests')
from test_sweep import _setup
from jaxdl import sweep
trainer, data = _setup()
hp = {"lam": np.array([0.0, 0.01, 0.1], np.float32), "eta": np.full(3, 0.05, np.float32)}
r = sweep.run(trainer, hp, sweep.seeds_keys([0, 1, 2]), data, 2)
print(json.dumps({"devices": len(jax.devices()), "val_cost": r.history["val_cost"].tolist()}))
"""


def test_xla_flag_device_count_in_a_subprocess():
    from conftest import xla_flags
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=8"),
           "JAX_PLATFORMS": "cpu"}
    out = []
    for extra in ({}, {"XLA_FLAGS": xla_flags()}):
        proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, env={**env, **extra},
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert out[0]["devices"] == 8 and out[1]["devices"] == 1
    np.testing.assert_allclose(out[0]["val_cost"], out[1]["val_cost"], rtol=1e-5)


def test_one_seed_sweep_shares_the_minibatch_order_and_equals_runs_alone(setup):
    trainer, data = setup
    hp = {"lam": np.array([0.0, 0.05, 0.2], np.float32), "eta": np.full(3, 0.05, np.float32)}
    keys = sweep.seeds_keys([3, 3, 3])
    result = sweep.run(trainer, hp, keys, data, 2)
    for i in range(3):
        alone = jax.jit(trainer.run, static_argnums=3)(
            {k: v[i] for k, v in hp.items()}, keys[i], data, 2)
        chex.assert_trees_all_close(sweep.member(result, i)[0].params, alone[0].params,
                                    rtol=1e-5, atol=1e-6)


def _search_args(workdir, data_dir, *extra):
    """A tiny a3 lambda search: 4 coarse and 4 fine lambdas, 2 cycles of 4 one-epoch segments, 2
    final seeds."""
    return ["experiments.lambda_search", "--model=a3", f"--workdir={workdir}",
            f"--data_dir={data_dir}", "--n_val=30", "--final_n_val=30", "--n_batch=30", "--n_s=18",
            "--n_coarse=4", "--cycles=2", *extra]


FULL = ("--n_fine=4", "--final_cycles=1", "--final_seeds=0,1")


@pytest.fixture(scope="module")
def search(fake_cifar_dir, tmp_path_factory):
    """The full tiny search on one device, uninterrupted: (workdir, stderr)."""
    from conftest import run_module
    workdir = tmp_path_factory.mktemp("search")
    proc = run_module(_search_args(workdir, fake_cifar_dir, *FULL, "--cpu_devices=1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return workdir, proc.stderr


def test_lambda_search_splits_its_members_over_cpu_devices(fake_cifar_dir, tmp_path, search):
    """--cpu_devices reaches JAX before its backend starts: the search runs on 2 CPU devices and
    its table equals the one-device search's: the accuracies exactly, the losses within float
    rounding (relative 1e-5) (the sharded numbers themselves are
    checked by test_sharded_over_8_devices_equals_one_device)."""
    from conftest import run_module
    one, one_stderr = search
    assert "on 1 devices" in one_stderr
    assert json.loads((one / "results.json").read_text())["device_count"] == 1
    workdir = tmp_path / "devices2"
    proc = run_module(_search_args(workdir, fake_cifar_dir, "--n_fine=0", "--final_cycles=0",
                                   "--cpu_devices=2"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "on 2 devices" in proc.stderr
    assert json.loads((workdir / "results.json").read_text())["device_count"] == 2
    # the accuracies equal one device's; the losses differ from them in float rounding only
    tables = [list(csv.DictReader(open(w / "coarse.csv"))) for w in (one, workdir)]
    assert [{k: v for k, v in r.items() if k != "val_loss"} for r in tables[0]] == \
        [{k: v for k, v in r.items() if k != "val_loss"} for r in tables[1]]
    np.testing.assert_allclose([float(r["val_loss"]) for r in tables[1]],
                               [float(r["val_loss"]) for r in tables[0]], rtol=1e-5)


def test_killed_lambda_search_resumes_to_the_same_tables(fake_cifar_dir, tmp_path, search):
    """SIGKILL once the first phase checkpoint appears; the same command again resumes (finished
    phases read back, the interrupted one continued) and writes the uninterrupted search's
    tables and summary; with another flag it is refused."""
    from conftest import run_killed, run_module
    reference, _ = search
    work = tmp_path / "killed"
    args = _search_args(work, fake_cifar_dir, *FULL, "--cpu_devices=1")
    run_killed(args, work / "checkpoint_coarse.msgpack")
    assert not (work / "results.json").exists()
    again = run_module(args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "coarse: resumed from" in again.stderr
    assert re.search(r"\w+: segment \d+/\d+, \d+ members, best val_accuracy so far [0-9.]+ "
                     r"\(member \d+\), diverged \d+, ETA \d+s", again.stderr)
    for table in ("coarse.csv", "fine.csv", "final.csv"):
        assert (work / table).read_text() == (reference / table).read_text(), table
    summary = [json.loads((w / "results.json").read_text())["summary"] for w in (work, reference)]
    assert summary[0] == summary[1]
    changed = run_module(args + ["--eta_max=0.05"])  # another run: refused, in one line
    assert changed.returncode == 2
    assert re.search(r"error: checkpoint \S+checkpoint_coarse.msgpack belongs to another run.*"
                     r"eta_max: 0.1 -> 0.05", changed.stderr)
