"""Figures: training curves, weight montages, confusion matrices, histograms.

Made through matplotlib's object API (`matplotlib.figure.Figure`), never pyplot: importing this
module leaves the global backend alone, so a notebook's display keeps working. matplotlib is
imported on the first figure, not with this module: a script that stops early (a flag error)
does not pay for it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from jaxdl.results import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs) -> tuple[Figure, object]:
    """A figure and its axes (as pyplot.subplots returns them), without pyplot's global state."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Saves a figure as PNG atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def curves(history: Sequence[dict], keys: Sequence[str], path, *, x: str = "epoch",
           title: str = "", ylabel: str = "") -> Path:
    """One line per history key (e.g. train_cost, val_cost) against `x` (epoch or step)."""
    fig, ax = subplots(figsize=(5, 3.5))
    xs = [h[x] for h in history]
    for k in keys:
        ax.plot(xs, [h[k] for h in history], label=k.replace("_", " "))
    ax.set_xlabel("update step" if x == "step" else x)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return save(fig, path)


def curve_panels(history: Sequence[dict] | Sequence[Sequence[dict]], path, *, x: str = "epoch",
                 title: str = "", panels: Sequence[str] = ("cost", "loss", "accuracy"),
                 splits: Sequence[str] = ("train", "val")) -> Path:
    """Side-by-side panels (cost, loss, accuracy), train and val in each, as in the sheets' figures.

    `history` is one run's list of evaluations, or a list of such lists (one per seed, evaluated
    at the same steps): then each line is the mean over the seeds, in a band from their min to
    their max."""
    histories = [history] if isinstance(history[0], dict) else list(history)
    fig, axes = subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    xs = [h[x] for h in histories[0]]
    for ax, panel in zip(np.atleast_1d(axes), panels):
        for split in splits:
            key = f"{split}_{panel}"
            if key in histories[0][0]:
                values = np.array([[h[key] for h in hist] for hist in histories], np.float64)
                label = split if len(histories) == 1 else f"{split} (mean, min-max of " \
                    f"{len(histories)} seeds)"
                (line,) = ax.plot(xs, values.mean(0), label=label)
                if len(histories) > 1:
                    ax.fill_between(xs, values.min(0), values.max(0), color=line.get_color(),
                                    alpha=0.25, linewidth=0)
        ax.set_xlabel("update step" if x == "step" else x)
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def image_montage(images_nxhxwxc: np.ndarray, path, *, titles: Sequence[str] | None = None,
                  ncols: int = 10, normalise_each: bool = True, title: str = "") -> Path:
    """A grid of images; each min-max normalised to [0, 1] (as the sheets show class templates)."""
    images = np.asarray(images_nxhxwxc, np.float64)
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = subplots(nrows, ncols, figsize=(1.3 * ncols, 1.45 * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        if normalise_each:
            lo, hi = img.min(), img.max()
            img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        ax.imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 or img.ndim == 2 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    fig.suptitle(title)
    return save(fig, path)


def confusion(C: np.ndarray, labels: Sequence[str], path, *, title: str = "",
              normalise: bool = True) -> Path:
    """Heat map of a confusion matrix (rows: true class, columns: predicted), row-normalised;
    each cell shows its count (to one decimal when it is not whole, e.g. a mean over seeds)."""
    C = np.asarray(C, np.float64)
    shown = C / np.maximum(C.sum(axis=1, keepdims=True), 1) if normalise else C
    k = len(labels)
    fig, ax = subplots(figsize=(0.45 * k + 2.5, 0.45 * k + 2))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    ax.set_xticks(range(k), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(k), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            if C[i, j]:
                # counts as integers; a mean over seeds' matrices to one decimal
                text = f"{C[i, j]:.0f}" if float(C[i, j]).is_integer() else f"{C[i, j]:.1f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=5,
                        color="white" if shown[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    return save(fig, path)


def histograms(groups: dict[str, np.ndarray], path, *, bins: int = 30, title: str = "",
               xlabel: str = "") -> Path:
    """Overlaid histograms, one per named group."""
    fig, ax = subplots(figsize=(5, 3.5))
    for name, values in groups.items():
        ax.hist(np.asarray(values), bins=bins, range=(0, 1), alpha=0.55, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend()
    return save(fig, path)
