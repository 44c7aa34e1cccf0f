"""The FMAN45 Assignment 3 CNN study end to end through its real entry point, on tiny synthetic
MNIST and CIFAR-10 folders in the official formats: both architectures learn, and a starter run
killed mid-way resumes, when the same command runs again, to the uninterrupted run's results."""

import gzip
import json

import numpy as np
import pytest

from conftest import assert_seed_summary, run_killed, run_module
from jaxdl import checkpoint
from jaxdl.data import mnist

TIMING = ("compile_seconds", "train_seconds", "images_per_second")
# the sheet's MNIST starter net, 60 evaluation segments of one update of 8 images: long enough in
# segments to be killed mid-way
MNIST = ["experiments.cnn", "--dataset=mnist", "--n_val=40", "--iterations=60", "--eval_every=1",
         "--batch=8"]


def write_learnable_mnist(folder, n_train=200, n_test=40, seed=0):
    """MNIST idx files (gzipped, the official format) whose classes can be learnt: each image is
    its class's fixed random prototype plus noise (mnist.write_fake_dataset's images are
    independent of their labels)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, (mnist.N_CLASSES, 28, 28))
    target = folder / mnist.MNIST.subdir
    target.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, mnist.N_CLASSES, n).astype(np.uint8)
        images = np.clip(prototypes[labels] + rng.normal(0, 60, (n, 28, 28)), 0, 255)
        image_name, label_name = mnist.FILES[split]
        header = b"".join(v.to_bytes(4, "big") for v in (mnist.IMAGES_MAGIC, n, 28, 28))
        with gzip.open(target / image_name, "wb") as f:
            f.write(header + images.astype(np.uint8).tobytes())
        with gzip.open(target / label_name, "wb") as f:
            f.write(b"".join(v.to_bytes(4, "big") for v in (mnist.LABELS_MAGIC, n))
                    + labels.tobytes())


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    write_learnable_mnist(folder)
    return folder


@pytest.fixture(scope="module")
def starter(mnist_dir, tmp_path_factory):
    """The uninterrupted MNIST starter run: the end-to-end checks' outputs and the resume
    reference."""
    out = tmp_path_factory.mktemp("cnn_mnist")
    proc = run_module([*MNIST, f"--workdir={out}", f"--data_dir={mnist_dir}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _outputs(out):
    run = json.loads((out / "results.json").read_text())["runs"][0]
    assert len(run["metrics"]["recall"]) == 10
    for name in ("curves.png", "filters.png", "confusion.png", "confusion.csv"):
        assert (out / name).stat().st_size > 100
    return run


@pytest.mark.slow
def test_cnn_starter_mnist_learns(starter):
    run = _outputs(starter)
    assert run["config"]["dataset"] == "mnist" and run["config"]["steps"] == 60
    # learning: chance is 10 %; the fake digits (a prototype per class plus noise) give 100 % at
    # seeds 0-2 after 60 updates: assert >= 60 % on the 40 test images
    assert run["metrics"]["test_accuracy"] >= 0.6 and run["metrics"]["val_accuracy"] >= 0.6
    assert len((starter / "history.csv").read_text().splitlines()) == 1 + 60


@pytest.mark.slow
def test_cnn_improved_cifar10_learns(fake_cifar_dir, tmp_path):
    """At two seeds, one vmapped program: each seed's metrics, their mean and spread."""
    # --noaugment: the fake classes are per-pixel prototypes, which flips and 4-pixel shifts
    # scramble (13 % after 3 epochs); the augmentation itself is tested in test_augment.py
    proc = run_module(["experiments.cnn", "--dataset=cifar10", "--arch=improved", "--n_val=20",
                       "--epochs=3", "--batch=16", "--widths=4,8", "--noaugment", "--seeds=2",
                       f"--workdir={tmp_path}", f"--data_dir={fake_cifar_dir}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = _outputs(tmp_path)
    assert run["config"]["dataset"] == "cifar10" and run["config"]["widths"] == [4, 8]
    assert run["config"]["iterations"] is None
    assert run["config"]["n_train"] == 280 and run["config"]["steps"] == 3 * (280 // 16)
    assert_seed_summary(run, "test_accuracy")
    assert not any(m["diverged"] for m in run["per_seed"])
    assert run["per_seed"][0]["final_val_cost"] != run["per_seed"][1]["final_val_cost"]
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0].startswith("seed,") and len(history) == 1 + 2 * 3
    # learning: chance is 10 %; 100 % at seeds 0-2 (one epoch: 57-95 %): assert >= 60 % on the
    # 60 test images, at every seed
    accs = [m["test_accuracy"] for m in run["per_seed"]]
    assert all(acc >= 0.6 for acc in accs), accs


@pytest.mark.slow
def test_cnn_seeds_vmapped_equal_the_run_alone(starter, mnist_dir, tmp_path):
    """--seeds=2 trains seeds 0 and 1 as one vmapped program; seed 0's numbers are those of the
    run made alone (the `starter` fixture, --seed=0), within float rounding. (Seed 1 alone would
    draw its own train/val split with --seed=1: the seeds of one invocation share --seed's.)"""
    proc = run_module([*MNIST, "--seeds=2", f"--workdir={tmp_path}", f"--data_dir={mnist_dir}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = _outputs(tmp_path)
    alone = json.loads((starter / "results.json").read_text())["runs"][0]
    assert run["seeds"] == [0, 1] and run["config"]["steps"] == 60
    among = run["per_seed"][0]
    for k in ("test_accuracy", "val_accuracy", "final_val_cost"):
        assert among[k] == pytest.approx(alone["metrics"][k], rel=1e-5), k
    for k in ("precision", "recall"):
        assert among[k] == pytest.approx(alone["metrics"][k], rel=1e-5), k
    assert run["per_seed"][1]["final_val_cost"] != among["final_val_cost"]  # another key
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert rows[0].startswith("seed,") and len(rows) == 1 + 2 * 60


@pytest.mark.slow
def test_killed_starter_resumes_to_the_uninterrupted_result(starter, mnist_dir, tmp_path):
    """SIGKILL once the checkpoint exists, the same command again: the same results.json
    metrics (less the timings) and history as the uninterrupted run."""
    work = tmp_path / "run"
    args = [*MNIST, f"--workdir={work}", f"--data_dir={mnist_dir}"]
    ckpt = work / "checkpoint.msgpack"
    run_killed(args, ckpt)
    assert 0 < len(json.loads(checkpoint.read_raw(ckpt)["history"])) < 60
    proc = run_module(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumed from" in proc.stderr
    ref, new = (json.loads((d / "results.json").read_text())["runs"][0]
                for d in (starter, work))
    drop = lambda m: {k: v for k, v in m.items() if k not in TIMING}  # noqa: E731
    assert drop(new["metrics"]) == drop(ref["metrics"])
    for name in ("history.csv", "confusion.csv"):
        assert (work / name).read_text() == (starter / name).read_text(), name
