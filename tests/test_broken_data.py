"""Bad data files fail at load time with one DataError line that names the file and the fault."""

import gzip
import pickle

import numpy as np
import pytest

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
    (lambda d: d.astype(np.int32) + 200, "pixel values"),
])
def test_cifar_pixels_must_be_bytes(cifar_dir, pixels, fault):
    path = cifar_dir / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "rb") as f:
        data = pickle.load(f, encoding="bytes")[b"data"]
    _rewrite_batch(path, {b"data": pixels(data)})
    message = _load_error(cifar10.load_splits, "a1", cifar_dir)
    assert str(path) in message and fault in message


def test_cifar_garbage_meta(cifar_dir):
    meta = cifar_dir / "cifar-10-batches-py" / "batches.meta"
    meta.write_bytes(b"not a pickle")
    assert str(meta) in _load_error(cifar10.label_names, cifar_dir)
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
    assert "ascii_names.txt" in message and "Lang2" in message
