"""Classification metrics from integer labels and predictions (host-side numpy)."""

from __future__ import annotations

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as j."""
    C = np.zeros((k, k), np.int64)
    np.add.at(C, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return C


def per_class_accuracy(C: np.ndarray) -> np.ndarray:
    """Recall of each class: C[i, i] / sum_j C[i, j] (NaN for a class with no samples)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(C) / C.sum(axis=1)


def precision_recall(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision C[i,i]/sum_j C[j,i] and recall C[i,i]/sum_j C[i,j]."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(C) / C.sum(axis=0), np.diag(C) / C.sum(axis=1)


def balanced_accuracy(C: np.ndarray) -> float:
    """Mean of the per-class accuracies (classes with samples only)."""
    return float(np.nanmean(per_class_accuracy(C)))
