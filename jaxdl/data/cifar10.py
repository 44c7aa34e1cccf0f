"""CIFAR-10 from the official python batches, the course's splits, and standardisation.

Layout: one image per row, ``X_nxd`` float32 with d = 3072 = R(1024) G(1024) B(1024), each plane
row-major 32x32 (the official order); labels ``y_n`` int32 in 0..9. The course writes X as d x n;
we keep samples first (the JAX convention), so every formula reads transposed.
"""

from __future__ import annotations

import os
import pickle
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data.download import CIFAR10, DataError, locate

N_CLASSES = 10
DIM = 3072
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


class Split(NamedTuple):
    """One split of a data set: features, integer labels, one-hot labels."""

    X: np.ndarray  # n x d (or n x H x W x C images), float32
    y: np.ndarray  # n, int32
    Y: np.ndarray  # n x K, float32 one-hot


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    """Labels 0..k-1 -> n x k float32 one-hot rows."""
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"labels must lie in 0..{k - 1}, got {y.min()}..{y.max()}")
    return np.eye(k, dtype=np.float32)[y]


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (uint8 n x 3072, int32 labels); a DataError names a bad file."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        raw = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
    except FileNotFoundError as e:
        raise DataError(f"CIFAR-10 batch file not found: {path}") from e
    except Exception as e:  # truncated pickle, wrong keys, not a pickle at all
        raise DataError(f"corrupt or unreadable CIFAR-10 batch file {path}: "
                        f"{type(e).__name__}: {e}") from e
    if not np.issubdtype(raw.dtype, np.integer):
        raise DataError(f"CIFAR-10 batch file {path} holds {raw.dtype} pixels; expected integers "
                        "0..255 (uint8), as the official batches")
    if raw.size and (raw.min() < 0 or raw.max() > 255):
        raise DataError(f"CIFAR-10 batch file {path} has pixel values {raw.min()}..{raw.max()}; "
                        "expected 0..255")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"CIFAR-10 batch file {path} holds {labels.dtype} labels; expected "
                        "integers 0..9")
    data, labels = raw.astype(np.uint8), labels.astype(np.int32)
    if data.ndim != 2 or data.shape[1] != DIM or len(labels) != len(data):
        raise DataError(f"CIFAR-10 batch file {path} has data of shape {data.shape} and "
                        f"{len(labels)} labels; expected n x {DIM} and n labels")
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise DataError(f"CIFAR-10 batch file {path} has labels outside 0..9")
    return data, labels


def label_names(data_dir: str | os.PathLike | None = None) -> list[str]:
    """The ten class names from batches.meta."""
    path = locate(CIFAR10, data_dir) / "batches.meta"
    try:
        with open(path, "rb") as f:
            meta = pickle.load(f, encoding="bytes")
        names = [n.decode() for n in meta[b"label_names"]]
    except Exception as e:
        raise DataError(f"corrupt or unreadable CIFAR-10 meta file {path}: {e}") from e
    if len(names) != N_CLASSES or not all(names):
        raise DataError(f"CIFAR-10 meta file {path} names {len(names)} classes; expected "
                        f"{N_CLASSES} non-empty names")
    return names


def load_batches(names: tuple[str, ...], data_dir: str | os.PathLike | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Concatenates the named batches -> (uint8 n x 3072, int32 labels)."""
    folder = locate(CIFAR10, data_dir)
    parts = [read_batch(folder / name) for name in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Per-feature (X - mean) / std with the training set's statistics, applied to every split.

    Inputs are raw pixels; they are first scaled to [0, 1] as the sheets do. std uses ddof=0 (the
    2025 sheet; the Matlab sheets' ddof=1 differs negligibly). Constant features keep std 1.
    """
    train = train.astype(np.float32) / 255.0
    mean = train.mean(axis=0, keepdims=True)
    std = train.std(axis=0, keepdims=True)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    return [(x - mean) / std for x in (train, *(o.astype(np.float32) / 255.0 for o in others))]


def load_splits(split: str = "a1", data_dir: str | os.PathLike | None = None,
                n_val: int = 5000) -> dict[str, Split]:
    """The course's splits, standardised by the training set.

    split="a1": data_batch_1 train, data_batch_2 val, test_batch test.
    split="all": all five batches, the last `n_val` images for validation, test_batch test.
    batches.meta is checked first, so a bad one fails here, not after training (plots use it).
    """
    label_names(data_dir)
    if split == "a1":
        Xtr, ytr = load_batches(("data_batch_1",), data_dir)
        Xva, yva = load_batches(("data_batch_2",), data_dir)
    elif split == "all":
        X, y = load_batches(TRAIN_BATCHES, data_dir)
        if not 0 < n_val < len(X):
            raise ValueError(f"n_val must lie in 1..{len(X) - 1}, got {n_val}")
        Xtr, ytr, Xva, yva = X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]
    else:
        raise ValueError(f"unknown split {split!r}: expected 'a1' or 'all'")
    Xte, yte = load_batches(("test_batch",), data_dir)
    Xtr, Xva, Xte = standardise(Xtr, Xva, Xte)
    return {name: Split(X, y, one_hot(y, N_CLASSES))
            for name, X, y in (("train", Xtr, ytr), ("val", Xva, yva), ("test", Xte, yte))}


def device_splits(splits: dict[str, Split], names: Sequence[str] = ("train", "val", "test"),
                  n_train: int | None = None) -> dict[str, jax.Array]:
    """The named splits as a training data dict on the default device: {"X_train", "Y_train",
    "X_val", "Y_val", "X_test", "Y_test"} (features and one-hot labels). n_train keeps only the
    first n_train training samples."""
    data = {}
    for name in names:
        split = splits[name]
        keep = slice(n_train) if name == "train" else slice(None)
        data[f"X_{name}"] = jnp.asarray(split.X[keep])
        data[f"Y_{name}"] = jnp.asarray(split.Y[keep])
    return data


def vectors_to_images(X_nxd: np.ndarray) -> np.ndarray:
    """n x 3072 rows (R, G, B planes, row-major) -> n x 32 x 32 x 3 images."""
    return np.asarray(X_nxd).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def images_to_vectors(images_nxhxwxc: np.ndarray) -> np.ndarray:
    """n x 32 x 32 x 3 images -> n x 3072 rows in the official order (inverse of vectors_to_images)."""
    return np.asarray(images_nxhxwxc).transpose(0, 3, 1, 2).reshape(len(images_nxhxwxc), -1)


def load_test_images(data_dir: str | os.PathLike | None = None) -> np.ndarray:
    """test_batch as uint8 n x 32 x 32 x 3 images (for display)."""
    return vectors_to_images(load_batches(("test_batch",), data_dir)[0])


def cnn_splits(arch: str = "starter", data_dir: str | os.PathLike | None = None,
               n_val: int | None = None, seed: int = 0) -> dict[str, Split]:
    """FMAN45 Assignment 3's CIFAR-10 splits for a CNN: X as n x 32 x 32 x 3 float32 images.

    arch="starter" (cifar10_starter.m): data_batch_1-2 as 0-255 values minus their mean RGB
    triplet, shuffled, the last n_val (default 2001) for validation.
    arch="improved": all five batches scaled to [0, 1] and shuffled; per-channel (X - mean) / std
    with the statistics of all but the last n_val (default 1000) of that order; shuffled again,
    the last n_val for validation. The test split (test_batch) gets the same transformation.
    """
    if arch not in ("starter", "improved"):
        raise ValueError(f"unknown arch {arch!r}: expected 'starter' or 'improved'")
    n_val = n_val or (2001 if arch == "starter" else 1000)
    label_names(data_dir)  # a bad batches.meta fails here, before training
    names = ("data_batch_1", "data_batch_2") if arch == "starter" else TRAIN_BATCHES
    X, y = load_batches(names, data_dir)
    if not 0 < n_val < len(X):
        raise ValueError(f"n_val must lie in 1..{len(X) - 1}, got {n_val}")
    X_te, y_te = load_batches(("test_batch",), data_dir)
    X, X_te = (vectors_to_images(v).astype(np.float32) for v in (X, X_te))
    rng = np.random.default_rng(seed)
    if arch == "starter":
        mean = X.mean(axis=(0, 1, 2))
        X, X_te = X - mean, X_te - mean
    else:
        X, X_te = X / 255.0, X_te / 255.0
        perm = rng.permutation(len(X))
        X, y = X[perm], y[perm]
        mean, std = X[:-n_val].mean(axis=(0, 1, 2)), X[:-n_val].std(axis=(0, 1, 2))
        X, X_te = (X - mean) / std, (X_te - mean) / std
    perm = rng.permutation(len(X))
    X, y = X[perm], y[perm]
    return {name: Split(Xs, ys, one_hot(ys, N_CLASSES)) for name, Xs, ys in
            (("train", X[:-n_val], y[:-n_val]), ("val", X[-n_val:], y[-n_val:]),
             ("test", X_te, y_te))}


def write_batch(path: str | os.PathLike, data: np.ndarray, labels: np.ndarray,
                batch_label: str = "batch") -> None:
    """Writes a batch in the official pickle format (used by tests and tiny synthetic data sets)."""
    batch = {b"batch_label": batch_label.encode(), b"labels": [int(v) for v in labels],
             b"data": np.asarray(data, dtype=np.uint8),
             b"filenames": [f"{i}.png".encode() for i in range(len(labels))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_fake_dataset(folder: str | os.PathLike, n_per_batch: int = 50, seed: int = 0) -> None:
    """A tiny CIFAR-10 folder in the official format with learnable class structure (for tests)."""
    from pathlib import Path
    folder = Path(folder) / CIFAR10.subdir
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(N_CLASSES, DIM))
    for name in (*TRAIN_BATCHES, "test_batch"):
        labels = rng.integers(0, N_CLASSES, size=n_per_batch)
        noise = rng.normal(0, 40, size=(n_per_batch, DIM))
        data = np.clip(prototypes[labels] + noise, 0, 255)
        write_batch(folder / name, data, labels, name)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": n_per_batch,
                     b"num_vis": DIM}, f, protocol=2)
