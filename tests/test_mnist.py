"""MNIST idx reader: shapes and labels from valid files, one clear DataError naming a bad file."""

import gzip

import numpy as np
import pytest

from jaxdl.data import mnist
from jaxdl.data.download import DataError


def test_reads_fake_idx_files(tmp_path):
    mnist.write_fake_dataset(tmp_path, n_train=30, n_test=10)
    X, y = mnist.load("train", tmp_path)
    assert X.shape == (30, 28, 28, 1) and X.dtype == np.uint8
    assert y.shape == (30,) and y.max() < 10
    splits = mnist.load_splits(tmp_path, n_val=5)
    assert [len(splits[s].y) for s in ("train", "val", "test")] == [25, 5, 10]
    assert abs(float(splits["train"].X.mean())) < 1e-5


@pytest.mark.parametrize("payload,message", [
    ((1234).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(3), "magic number"),
    ((2049).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes(3), "needs"),
])
def test_bad_labels_file_names_the_file(tmp_path, payload, message):
    mnist.write_fake_dataset(tmp_path)
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(payload)
    with pytest.raises(DataError, match=message) as err:
        mnist.load("train", tmp_path)
    assert "train-labels-idx1-ubyte.gz" in str(err.value)


def test_missing_files_raise_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXDL_NO_DOWNLOAD", "1")
    with pytest.raises(DataError, match="MNIST files missing"):
        mnist.load("test", tmp_path)
