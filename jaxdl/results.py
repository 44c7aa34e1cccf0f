"""The results contract every experiment writes, and atomic file writes.

results.json: {"experiment", "jax_version", "backend", "device_count", "wall_seconds", "flags",
"runs": [{"name", "config", "metrics": {"train_accuracy", "val_accuracy", "test_accuracy", ...}}]}
Accuracies are fractions in [0, 1]; metrics that do not apply are left out. A run made at several
seeds (`seeded_run`) adds "seeds", "per_seed" (each seed's metrics) and "summary" ({mean, std, min,
max, n} per numeric metric), and its "metrics" are the means over the seeds.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import jax
import numpy as np

from jaxdl.data.download import DataError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes to a temporary file in the same folder, then renames: readers never see half a file.
    The file gets the mode a plain open() would give it (0666 less the umask, e.g. 0644), not the
    temporary file's private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _plain(value: Any) -> Any:
    """numpy / jax scalars and arrays -> JSON-able Python values (NaN/inf -> None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.ndarray, jax.Array)):
        return _plain(np.asarray(value).tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _mean(values: list) -> Any:
    """The mean over seeds of one metric: numbers averaged, flags any(), dicts key by key, lists
    (of numbers, e.g. a confusion matrix) element by element; anything else is left out (None)."""
    if all(_is_number(v) for v in values):
        return float(np.mean(values))
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return bool(any(values))
    if all(isinstance(v, dict) for v in values):
        keys = [k for k in values[0] if all(k in v for v in values)]
        return {k: _mean([v[k] for v in values]) for k in keys}
    if all(isinstance(v, (list, tuple)) for v in values):
        try:
            return np.mean(np.asarray(values, np.float64), axis=0).tolist()
        except (TypeError, ValueError):
            return None
    return None


def summarize(per_seed: list[dict]) -> dict:
    """{metric: {mean, std, min, max, n}} over the seeds for every numeric metric; std is the
    sample standard deviation (ddof 1; 0 for one seed)."""
    out = {}
    for k in per_seed[0]:
        values = [m.get(k) for m in per_seed]
        if all(_is_number(v) for v in values):
            a = np.asarray(values, np.float64)
            out[k] = {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                      "min": float(a.min()), "max": float(a.max()), "n": len(a)}
    return out


def seeded_run(name: str, config: dict, seeds: list[int], per_seed: list[dict]) -> dict:
    """A results.json run made at several seeds: "metrics" the mean over seeds (`_mean`), plus
    "seeds", "per_seed" and "summary" (`summarize`). One seed gives its own metrics unchanged."""
    if len(per_seed) != len(seeds):
        raise ValueError(f"{len(per_seed)} metric dicts for {len(seeds)} seeds")
    keys = [k for k in per_seed[0] if all(k in m for m in per_seed)]
    metrics = (dict(per_seed[0]) if len(per_seed) == 1 else
               {k: v for k in keys if (v := _mean([m[k] for m in per_seed])) is not None})
    return {"name": name, "config": config, "metrics": metrics, "seeds": list(seeds),
            "per_seed": per_seed, "summary": summarize(per_seed)}


def format_summary(run: dict, metric: str, scale: float = 100.0, unit: str = " %") -> str:
    """A run's metric as text: "38.12 %" for one seed, "38.12 +- 0.31 % (n=5)" for several."""
    stats = run.get("summary", {}).get(metric)
    if stats is None or stats["n"] == 1:
        return f"{scale * run['metrics'][metric]:.2f}{unit}"
    return (f"{scale * stats['mean']:.2f} +- {scale * stats['std']:.2f}{unit} "
            f"(n={stats['n']})")


def differences(old: dict, new: dict, ignore: Iterable[str] = ()) -> list[str]:
    """The keys (nested ones as a.b) whose values differ between two settings dicts, compared as
    JSON (tuples equal lists), each as "key: old -> new"; a key one side lacks shows as
    "(none)". `ignore`: top-level keys left out."""
    old, new = json.loads(json.dumps(_plain(old))), json.loads(json.dumps(_plain(new)))
    missing = object()
    out = []
    for key in sorted(set(old) | set(new)):
        if key in ignore:
            continue
        a, b = old.get(key, missing), new.get(key, missing)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{d}" for d in differences(a, b)]
        elif a != b:
            a, b = ("(none)" if v is missing else json.dumps(v) for v in (a, b))
            out.append(f"{key}: {a} -> {b}")
    return out


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(_plain(obj), indent=2) + "\n")


def write_results(workdir: str | os.PathLike, experiment: str, flags: dict, runs: list[dict],
                  wall_seconds: float, **extra: Any) -> Path:
    """Writes <workdir>/results.json in the contract's shape; returns its path."""
    path = Path(workdir) / "results.json"
    write_json(path, {"experiment": experiment, "jax_version": jax.__version__,
                      "backend": jax.default_backend(), "device_count": jax.device_count(),
                      "wall_seconds": wall_seconds, "flags": flags, "runs": runs, **extra})
    return path


def write_csv(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """A list of flat dicts as CSV (columns from the first row), written atomically."""
    rows = list(rows)
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def write_histories(path: str | os.PathLike, histories: list[list[dict]],
                    seeds: list[int]) -> None:
    """One run's history as CSV: one seed as `write_csv` writes it; several with a first column
    "seed" (each seed's evaluations in turn)."""
    if len(histories) == 1:
        write_csv(path, histories[0])
    else:
        write_csv(path, [{"seed": s, **h} for s, hist in zip(seeds, histories) for h in hist])


def best_run(path: str | os.PathLike, metric: str) -> str:
    """The name of the run with the highest metrics[metric] in a results.json (missing: 0)."""
    try:
        runs = json.loads(Path(path).read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"cannot read {path}: {e}") from e
    if not runs:
        raise DataError(f"{path} lists no runs")
    return max(runs, key=lambda r: r["metrics"].get(metric, 0))["name"]


def changed_flags(results_path: str | os.PathLike, wanted: dict | None,
                  ignore: Iterable[str] = ()) -> list[str]:
    """The flags whose value in the results.json at `results_path` differs from `wanted` (as
    `differences` words them, `ignore` left out); empty when those results may be reused."""
    if wanted is None:
        return ["this invocation's flags could not be resolved"]
    recorded = json.loads(Path(results_path).read_text()).get("flags", {})
    return differences(recorded, wanted, ignore=ignore)
