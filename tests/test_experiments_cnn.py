"""The FMAN45 Assignment 3 CNN study end to end through its real entry point, on tiny synthetic
MNIST and CIFAR-10 folders in the official formats."""

import json

import pytest

from conftest import run_module
from jaxdl.data import cifar10, mnist


@pytest.mark.slow
def test_cnn_starter_mnist_and_improved_cifar10(tmp_path):
    data = tmp_path / "data"
    mnist.write_fake_dataset(data, n_train=60, n_test=20)
    cifar10.write_fake_dataset(data, n_per_batch=60)
    runs = {"mnist": ["--dataset=mnist", "--n_val=10", "--iterations=4", "--eval_every=2",
                      "--batch=4"],
            "cifar10": ["--dataset=cifar10", "--arch=improved", "--n_val=20", "--epochs=1",
                        "--batch=16", "--widths=4,8"]}
    for dataset, args in runs.items():
        out = tmp_path / dataset
        proc = run_module(["experiments.cnn", f"--workdir={out}", f"--data_dir={data}", *args])
        assert proc.returncode == 0, proc.stderr[-3000:]
        run = json.loads((out / "results.json").read_text())["runs"][0]
        assert run["config"]["dataset"] == dataset and 0 <= run["metrics"]["test_accuracy"] <= 1
        assert len(run["metrics"]["recall"]) == 10
        for name in ("curves.png", "filters.png", "confusion.png", "confusion.csv"):
            assert (out / name).stat().st_size > 100
    assert run["config"]["widths"] == [4, 8] and run["config"]["iterations"] is None
    assert run["config"]["n_train"] == 280 and run["config"]["steps"] == 280 // 16
