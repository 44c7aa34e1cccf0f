"""CIFAR-10 reader, splits, standardisation, download and error messages, on small files written
in the official pickle format."""

import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from conftest import real_data_dir
from jaxdl.data import cifar10, download
from jaxdl.data.download import DataError


@pytest.fixture
def fake_dir(tmp_path):
    cifar10.write_fake_dataset(tmp_path, n_per_batch=30)
    return tmp_path


def test_read_batch_roundtrip(tmp_path):
    data = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072) % 256
    cifar10.write_batch(tmp_path / "b", data, [3, 7])
    X, y = cifar10.read_batch(tmp_path / "b")
    assert X.dtype == np.uint8 and X.shape == (2, 3072)
    np.testing.assert_array_equal(X, data)
    np.testing.assert_array_equal(y, [3, 7])


def test_splits_are_standardised_by_training_statistics(fake_dir):
    s = cifar10.load_splits("a1", fake_dir)
    assert s["train"].X.shape == (30, 3072) and s["val"].X.shape == (30, 3072)
    np.testing.assert_allclose(s["train"].X.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(s["train"].X.std(0), 1, atol=1e-4)
    # val is standardised with the *training* statistics, so its mean is not exactly 0
    raw_tr, _ = cifar10.load_batches(("data_batch_1",), fake_dir)
    raw_va, _ = cifar10.load_batches(("data_batch_2",), fake_dir)
    tr = raw_tr / 255.0
    expected = (raw_va / 255.0 - tr.mean(0)) / tr.std(0)
    np.testing.assert_allclose(s["val"].X, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(s["train"].Y.argmax(1), s["train"].y)


def test_all_split_holds_out_the_last_n_val(fake_dir):
    s = cifar10.load_splits("all", fake_dir, n_val=20)
    assert len(s["train"].y) == 5 * 30 - 20 and len(s["val"].y) == 20
    _, y = cifar10.load_batches(cifar10.TRAIN_BATCHES, fake_dir)
    np.testing.assert_array_equal(s["val"].y, y[-20:])
    with pytest.raises(ValueError, match="n_val"):
        cifar10.load_splits("all", fake_dir, n_val=0)


def test_device_splits_hold_every_named_split(fake_dir):
    s = cifar10.load_splits("all", fake_dir, n_val=20)
    data = cifar10.device_splits(s)
    assert sorted(data) == ["X_test", "X_train", "X_val", "Y_test", "Y_train", "Y_val"]
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(np.asarray(data[f"X_{name}"]), s[name].X)
        np.testing.assert_array_equal(np.asarray(data[f"Y_{name}"]), s[name].Y)
    small = cifar10.device_splits(s, ("train", "val"), n_train=50)
    assert sorted(small) == ["X_train", "X_val", "Y_train", "Y_val"]
    np.testing.assert_array_equal(np.asarray(small["X_train"]), s["train"].X[:50])
    assert small["X_val"].shape == (20, 3072)


def test_vector_image_helpers_follow_the_official_plane_order():
    v = np.zeros((1, 3072))
    v[0, 0] = 1  # red, row 0, col 0
    v[0, 1024 + 32 + 2] = 2  # green, row 1, col 2
    img = cifar10.vectors_to_images(v)
    assert img[0, 0, 0, 0] == 1 and img[0, 1, 2, 1] == 2
    np.testing.assert_array_equal(cifar10.images_to_vectors(img), v)


def test_corrupt_batch_names_the_file(fake_dir):
    path = fake_dir / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    with pytest.raises(DataError, match="data_batch_2"):
        cifar10.load_splits("a1", fake_dir)


def test_wrong_shape_batch_names_the_file(fake_dir):
    path = fake_dir / "cifar-10-batches-py" / "test_batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}, f)
    with pytest.raises(DataError, match="test_batch.*shape"):
        cifar10.load_splits("a1", fake_dir)


def test_missing_directory_offline_gives_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXDL_NO_DOWNLOAD", "1")
    with pytest.raises(DataError) as e:
        cifar10.load_splits("a1", tmp_path / "nowhere")
    message = str(e.value)
    assert "data_batch_1" in message and "nowhere" in message and "JAXDL_DATA_DIR" in message


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXDL_DATA_DIR", str(tmp_path / "env"))
    assert download.resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert download.resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("JAXDL_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert download.resolve_data_dir(None) == tmp_path / "cache" / "jaxdl"


def _fake_release(tmp_path, corrupt_digest=False):
    """A local 'official release' tar.gz of a fake CIFAR-10 folder, served by a file:// URL."""
    src = tmp_path / "src"
    cifar10.write_fake_dataset(src, n_per_batch=5)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(buf.getvalue())
    md5 = "0" * 32 if corrupt_digest else hashlib.md5(buf.getvalue()).hexdigest()
    return download.Dataset("CIFAR-10", "cifar-10-batches-py", cifar10.CIFAR10.files,
                            (download.Remote(archive.as_uri(), f"md5:{md5}", "tar.gz"),), "x")


def test_download_verifies_checksum_and_unpacks(tmp_path, monkeypatch):
    monkeypatch.delenv("JAXDL_NO_DOWNLOAD", raising=False)
    dataset = _fake_release(tmp_path)
    folder = download.locate(dataset, tmp_path / "data")
    assert sorted(os.listdir(folder)) == sorted(dataset.files)
    X, y = cifar10.read_batch(folder / "data_batch_3")
    assert X.shape == (5, 3072)
    assert not [p for p in os.listdir(tmp_path / "data") if p.startswith(".download")]


def test_download_with_bad_checksum_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("JAXDL_NO_DOWNLOAD", raising=False)
    dataset = _fake_release(tmp_path, corrupt_digest=True)
    with pytest.raises(DataError, match="checksum mismatch"):
        download.locate(dataset, tmp_path / "data")
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()


@pytest.mark.realdata
def test_real_cifar10_matches_the_published_facts():
    root = real_data_dir("cifar-10-batches-py")
    X, y = cifar10.load_batches(("data_batch_1",), root)
    assert X.shape == (10000, 3072)
    np.testing.assert_array_equal(y[:10], [6, 9, 9, 4, 1, 1, 2, 7, 8, 3])
    np.testing.assert_array_equal(X[0, :8], [59, 43, 50, 68, 98, 119, 139, 145])
    np.testing.assert_array_equal(np.bincount(y, minlength=10),
                                  [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981])
    assert cifar10.label_names(root)[:2] == ["airplane", "automobile"]
