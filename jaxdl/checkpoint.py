"""Checkpoints: a TrainState (params, optimiser state, key, step) plus history and metadata,
as one msgpack file (flax.serialization), written atomically.

Restoring needs a template TrainState of the same structure (e.g. `trainer.init(...)` of the same
model), which fixes the pytree; `read_raw` gives the plain nested dict without one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import flax.serialization
import msgpack

from jaxdl.data.download import DataError
from jaxdl.results import _plain, atomic_write_bytes, differences


class CheckpointMismatch(DataError):
    """A checkpoint saved by a run with other settings: resuming it would mix two runs."""


def save(path: str | os.PathLike, train_state: Any, *, history: list[dict] | None = None,
         meta: dict | None = None) -> None:
    """Writes {train_state, history (JSON), meta (JSON)} to `path` atomically."""
    payload = {"train_state": flax.serialization.to_state_dict(train_state),
               "history": json.dumps(_plain(history or [])),
               "meta": json.dumps(_plain(meta or {}))}
    atomic_write_bytes(path, flax.serialization.msgpack_serialize(payload))


def read_raw(path: str | os.PathLike) -> dict:
    """The stored nested dict (arrays as numpy), with a DataError naming an unreadable file."""
    try:
        with open(path, "rb") as f:
            raw = flax.serialization.msgpack_restore(f.read())
        if not isinstance(raw, dict) or not {"train_state", "history", "meta"} <= set(raw):
            raise ValueError("not a jaxdl checkpoint")
        return raw
    except (OSError, ValueError, TypeError, msgpack.exceptions.ExtraData,
            msgpack.exceptions.UnpackException) as e:
        raise DataError(f"cannot read checkpoint {path}: {e}") from e


def read_meta(path: str | os.PathLike) -> dict:
    """The metadata dict stored by `save`."""
    return json.loads(read_raw(path)["meta"])


def restore(path: str | os.PathLike, template: Any) -> tuple[Any, list[dict], dict]:
    """(train_state shaped like `template`, history, meta) from a file written by `save`."""
    raw = read_raw(path)
    try:
        state = flax.serialization.from_state_dict(template, raw["train_state"])
    except (ValueError, KeyError) as e:
        raise DataError(f"checkpoint {path} does not match this model: {e}") from e
    return state, json.loads(raw["history"]), json.loads(raw["meta"])


def check_identity(path: str | os.PathLike, saved: dict, meta: dict) -> None:
    """Raises CheckpointMismatch, one line naming each differing setting (the checkpoint's value
    -> this run's), unless the meta `saved` with the checkpoint at `path` equals `meta`; the
    settings under meta["identity"] are named without that prefix."""
    diffs = (differences(saved, meta, ignore=("identity",))
             + differences(saved.get("identity", {}), meta.get("identity", {})))
    if diffs:
        raise CheckpointMismatch(
            f"checkpoint {path} belongs to another run, with other settings (checkpoint -> now: "
            f"{'; '.join(diffs)}): to start afresh, pass --restart or use a new --workdir")


def resume_note(workdir: str | os.PathLike | None) -> str:
    """Where an interrupted run's checkpoints (train.fit's checkpoint*.msgpack) are and how to
    resume from them; or that there is none to resume from."""
    if workdir and any(Path(workdir).glob("checkpoint*.msgpack")):
        return f"the checkpoints are in {workdir}; run the same command again to resume from them"
    return "no checkpoint was written; running the same command again starts over"
