"""FMAN45 Assignment 3's CIFAR-10 CNN splits (cifar10.cnn_splits) on a tiny fake data set."""

import numpy as np
import pytest

from jaxdl.data import cifar10


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar")
    cifar10.write_fake_dataset(folder, n_per_batch=30)
    return folder


def test_starter_splits_subtract_the_mean_rgb_triplet(data_dir):
    sp = cifar10.cnn_splits("starter", data_dir, n_val=5, seed=0)
    assert [sp[s].X.shape for s in ("train", "val", "test")] == [
        (55, 32, 32, 3), (5, 32, 32, 3), (30, 32, 32, 3)]
    assert sp["train"].X.dtype == np.float32
    both = np.concatenate([sp["train"].X, sp["val"].X])  # batches 1-2, mean over all 60
    np.testing.assert_allclose(both.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    raw = cifar10.vectors_to_images(
        cifar10.load_batches(("data_batch_1", "data_batch_2"), data_dir)[0]).astype(np.float32)
    np.testing.assert_allclose(np.ptp(both, axis=(0, 1, 2)), np.ptp(raw, axis=(0, 1, 2)),
                               rtol=1e-6)  # still on the 0-255 scale
    np.testing.assert_array_equal(sp["val"].Y.argmax(1), sp["val"].y)


def test_improved_splits_are_standardised_per_channel(data_dir):
    sp = cifar10.cnn_splits("improved", data_dir, n_val=10, seed=0)
    assert [len(sp[s].y) for s in ("train", "val", "test")] == [140, 10, 30]
    # the statistics are those of 140 of the 150 images (before the second shuffle)
    np.testing.assert_allclose(sp["train"].X.mean(axis=(0, 1, 2)), 0.0, atol=0.05)
    np.testing.assert_allclose(sp["train"].X.std(axis=(0, 1, 2)), 1.0, rtol=0.05)


def test_seed_fixes_the_order_and_bad_arguments_raise(data_dir):
    a, b = (cifar10.cnn_splits("starter", data_dir, n_val=5, seed=s) for s in (0, 0))
    np.testing.assert_array_equal(a["train"].X, b["train"].X)
    c = cifar10.cnn_splits("starter", data_dir, n_val=5, seed=1)
    assert not np.array_equal(a["train"].y, c["train"].y)
    np.testing.assert_array_equal(a["test"].y, c["test"].y)  # the test set is never shuffled
    with pytest.raises(ValueError, match="n_val"):
        cifar10.cnn_splits("starter", data_dir, n_val=60)
    with pytest.raises(ValueError, match="arch"):
        cifar10.cnn_splits("wide", data_dir)
    assert cifar10.load_test_images(data_dir).shape == (30, 32, 32, 3)
