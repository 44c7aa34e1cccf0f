"""Bad data files fail at load time with one DataError line that names the file and the fault.

Issue 17's ten broken-data cases, checked on copies of the real data through the real commands
(one `error:` line, exit status 2, before training), are each here on a small fake copy."""

import gzip
import os
import pickle

import numpy as np
import pytest

from conftest import real_data_dir
from jaxdl.data import cifar10, mnist, names
from jaxdl.data.download import DataError


def _rewrite_batch(path, changes: dict):
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch.update(changes)
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
    return batch


@pytest.fixture
def cifar_dir(tmp_path):
    cifar10.write_fake_dataset(tmp_path, n_per_batch=20)
    return tmp_path


def _load_error(load, *args) -> str:
    with pytest.raises(DataError) as e:
        load(*args)
    message = str(e.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("pixels, fault", [
    (lambda d: d.astype(np.float64) / 255.0, "float64 pixels"),
    (lambda d: d.astype(np.float32) / 255.0, "float32 pixels"),
    (lambda d: d.astype(np.int32) + 200, "pixel values"),
    (lambda d: d.astype(np.int16) * 4, "pixel values 0..1020"),
    (lambda d: np.ascontiguousarray(d[:, :3071]), "shape (20, 3071)"),
])
def test_cifar_pixels_must_be_bytes(cifar_dir, pixels, fault):
    path = cifar_dir / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "rb") as f:
        data = pickle.load(f, encoding="bytes")[b"data"]
    _rewrite_batch(path, {b"data": pixels(data)})
    message = _load_error(cifar10.load_splits, "a1", cifar_dir)
    assert str(path) in message and fault in message


def test_cifar_labels_out_of_range(cifar_dir):
    path = cifar_dir / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "rb") as f:
        labels = pickle.load(f, encoding="bytes")[b"labels"]
    _rewrite_batch(path, {b"labels": [10] + labels[1:]})
    message = _load_error(cifar10.load_splits, "a1", cifar_dir)
    assert str(path) in message and "labels outside 0..9" in message


def test_cifar_truncated_batch(cifar_dir):
    path = cifar_dir / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:1000])
    message = _load_error(cifar10.load_splits, "a1", cifar_dir)
    assert str(path) in message and "truncated" in message


def test_cifar_missing_batch(cifar_dir, monkeypatch):
    monkeypatch.setenv("JAXDL_NO_DOWNLOAD", "1")
    (cifar_dir / "cifar-10-batches-py" / "data_batch_2").unlink()
    message = _load_error(cifar10.load_splits, "a1", cifar_dir)
    assert "cifar-10-batches-py: data_batch_2." in message


def test_cifar_garbage_meta(cifar_dir):
    meta = cifar_dir / "cifar-10-batches-py" / "batches.meta"
    meta.write_bytes(b"not a pickle")
    assert str(meta) in _load_error(cifar10.label_names, cifar_dir)
    # the splits check it first: the scripts read the names only to plot, after training
    assert str(meta) in _load_error(cifar10.load_splits, "a1", cifar_dir)
    assert str(meta) in _load_error(cifar10.cnn_splits, "starter", cifar_dir)
    with open(meta, "wb") as f:
        pickle.dump({b"label_names": [b"cat", b"dog"]}, f)
    assert "2 classes" in _load_error(cifar10.label_names, cifar_dir)


def test_mnist_images_of_the_wrong_size(tmp_path):
    mnist.write_fake_dataset(tmp_path, n_train=6, n_test=4)
    path = tmp_path / "mnist" / mnist.FILES["train"][0]
    n, rows, cols = 6, 28, 27
    header = mnist.IMAGES_MAGIC.to_bytes(4, "big") + b"".join(
        v.to_bytes(4, "big") for v in (n, rows, cols))
    with gzip.open(path, "wb") as f:
        f.write(header + bytes(n * rows * cols))
    message = _load_error(mnist.load, "train", tmp_path)
    assert str(path) in message and "28 x 27" in message


def test_names_empty_validation_file(tmp_path):
    names.write_fake_dataset(tmp_path)
    path = tmp_path / "names" / "Validation_Inds.txt"
    path.write_text("")
    message = _load_error(names.load, tmp_path)
    assert str(path) in message and "empty" in message


def test_names_class_without_training_names(tmp_path):
    names.write_fake_dataset(tmp_path, n_per_class=(6, 3, 6), n_val=3)  # class 2: all in val
    message = _load_error(names.load, tmp_path)
    assert "ascii_names.txt" in message and "Lang2" in message and "no training names" in message


def test_names_class_without_any_name(tmp_path):
    names.write_fake_dataset(tmp_path)
    path = tmp_path / "names" / "category_labels.txt"
    path.write_text(path.read_text() + "4 Klingon\n")
    message = _load_error(names.load, tmp_path)
    assert "ascii_names.txt" in message and "no names at all" in message and "Klingon" in message


def test_names_bad_category_line(tmp_path):
    names.write_fake_dataset(tmp_path)
    path = tmp_path / "names" / "category_labels.txt"
    path.write_text("1 Lang1\n2\n3 Lang3\n")
    message = _load_error(names.load, tmp_path)
    assert f"{path} line 2" in message and "'2'" in message


def _snapshot(root):
    """Every file and folder under root with its size and modification time."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.stat(os.path.join(folder, name))
            out[os.path.join(folder, name)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.realdata
def test_loading_the_real_data_writes_nothing_into_it():
    """The loaders only read the data folder: no download, temporary folder or cache lands there
    (the broken-data cases above break fake copies, never the real files)."""
    root = real_data_dir("cifar-10-batches-py")
    before = _snapshot(root)
    cifar10.label_names(root)
    cifar10.read_batch(root / "cifar-10-batches-py" / "test_batch")
    if (root / "mnist").is_dir():
        mnist.load("test", root)
    if (root / "names").is_dir():
        names.load(root)
    assert _snapshot(root) == before
