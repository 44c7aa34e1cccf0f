"""MNIST from the four official gzipped idx files, and the FMAN45 starter split.

idx format (big-endian): magic 0x00000801 (labels: n, then n uint8) or 0x00000803 (images: n, rows,
cols, then n*rows*cols uint8). Images come back as n x 28 x 28 x 1 (NHWC, batch first).
Directory resolution, download and error rules are those of CIFAR-10 (jaxdl.data.download).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxdl.data.download import MNIST, DataError, locate, read_gzip

N_CLASSES = 10
CLASS_NAMES = [str(d) for d in range(N_CLASSES)]
LABELS_MAGIC, IMAGES_MAGIC = 2049, 2051
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def parse_idx(raw: bytes, path: Path) -> np.ndarray:
    """An idx1 (labels) or idx3 (images) byte string -> uint8 array; DataError names the file."""
    if len(raw) < 8:
        raise DataError(f"MNIST file {path} is too short ({len(raw)} bytes) for an idx header")
    magic, n = int.from_bytes(raw[0:4], "big"), int.from_bytes(raw[4:8], "big")
    if magic == LABELS_MAGIC:
        shape, offset = (n,), 8
    elif magic == IMAGES_MAGIC:
        if len(raw) < 16:
            raise DataError(f"MNIST file {path} is too short for an idx3 header")
        shape, offset = (n, int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")), 16
    else:
        raise DataError(f"MNIST file {path} has magic number {magic}; expected {LABELS_MAGIC} "
                        f"(labels) or {IMAGES_MAGIC} (images)")
    expected = offset + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"MNIST file {path} holds {len(raw)} bytes; its header {shape} needs "
                        f"{expected}")
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(shape)


def load(split: str, data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """("train" | "test") -> (uint8 images n x 28 x 28 x 1, int32 labels 0..9)."""
    if split not in FILES:
        raise ValueError(f"unknown MNIST split {split!r}: expected 'train' or 'test'")
    folder = locate(MNIST, data_dir)
    image_path, label_path = (folder / f for f in FILES[split])
    images = parse_idx(read_gzip(image_path), image_path)
    labels = parse_idx(read_gzip(label_path), label_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"MNIST files {image_path} / {label_path} are swapped or of the wrong kind")
    if images.shape[1:] != (28, 28):
        raise DataError(f"MNIST images file {image_path} holds {images.shape[1]} x "
                        f"{images.shape[2]} images; expected 28 x 28")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"MNIST {split}: {images.shape[0]} images in {image_path} but "
                        f"{labels.shape[0]} labels in {label_path}")
    if labels.size and labels.max() >= N_CLASSES:
        raise DataError(f"MNIST labels file {label_path} has labels outside 0..9")
    return images[..., None], labels.astype(np.int32)


class Split(NamedTuple):
    X: np.ndarray  # n x 28 x 28 x 1 float32
    y: np.ndarray  # n int32
    Y: np.ndarray  # n x 10 one-hot float32


def load_splits(data_dir: str | os.PathLike | None = None, n_val: int = 2001,
                seed: int = 0) -> dict[str, Split]:
    """mnist_starter.m's split: the 60 000 training images shuffled, the last n_val for validation;
    pixels in [0, 1] minus the scalar mean of the training part."""
    from jaxdl.data.cifar10 import one_hot
    X, y = load("train", data_dir)
    X_te, y_te = load("test", data_dir)
    if not 0 < n_val < len(X):
        raise ValueError(f"n_val must lie in 1..{len(X) - 1}, got {n_val}")
    perm = np.random.default_rng(seed).permutation(len(X))
    X, y = X[perm].astype(np.float32) / 255.0, y[perm]
    X_te = X_te.astype(np.float32) / 255.0
    X_tr, y_tr, X_va, y_va = X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]
    mean = X_tr.mean()
    return {name: Split(Xs - mean, ys, one_hot(ys, N_CLASSES))
            for name, Xs, ys in (("train", X_tr, y_tr), ("val", X_va, y_va), ("test", X_te, y_te))}


def write_fake_dataset(folder: str | os.PathLike, n_train: int = 60, n_test: int = 20,
                       seed: int = 0) -> None:
    """A tiny MNIST folder of valid gzipped idx files (for tests)."""
    import gzip
    rng = np.random.default_rng(seed)
    target = Path(folder) / MNIST.subdir
    target.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, N_CLASSES, n, dtype=np.uint8)
        image_name, label_name = FILES[split]
        header = IMAGES_MAGIC.to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28))
        with gzip.open(target / image_name, "wb") as f:
            f.write(header + images.tobytes())
        with gzip.open(target / label_name, "wb") as f:
            f.write(LABELS_MAGIC.to_bytes(4, "big") + n.to_bytes(4, "big") + labels.tobytes())
