"""Predicts the language of surnames with a ConvNet trained by experiments.names_convnet.

    python -m experiments.names_predict --workdir runs/names Herrera Nguyen Souza Vilanova \
        "De Fenza" Claramunt

Prints, for each name, the 18-class probability vector and its top class. Names are lower-cased;
characters outside the training alphabet are dropped and names longer than n_len keep their last
n_len characters (--unknown / --truncate change that), with a note saying so.
By default it uses the best-validation checkpoint of the run with the highest best validation
accuracy in --workdir/results.json (--run / --checkpoint pick another).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from experiments import common
from jaxdl.models import names as names_model
from jaxdl import checkpoint
from jaxdl.data import names as names_data
from jaxdl.data.download import DataError

flags.DEFINE_string("run", None, "Run name (default: the run with the best validation accuracy).")
flags.DEFINE_enum("checkpoint", "best", ["best", "final"],
                  "best: the evaluation with the highest validation accuracy; final: the last.")
flags.DEFINE_enum("unknown", "drop", list(names_data.UNKNOWN_POLICIES),
                  "Characters outside the alphabet: drop them, or reject the name.")
flags.DEFINE_enum("truncate", "last", list(names_data.TRUNCATE_POLICIES),
                  "Names longer than n_len: keep the last or first n_len characters, or reject.")

FLAGS = flags.FLAGS


def choose_run(workdir) -> str:
    path = workdir / "results.json"
    try:
        runs = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"cannot read {path}: {e} (pass --run)") from e
    common.require(bool(runs), "run", f"{path} lists no runs")
    return max(runs, key=lambda r: r["metrics"].get("best_val_accuracy", 0))["name"]


def load_model(path):
    """(model, cfg, params, alphabet, class names) from a checkpoint written by names_convnet."""
    raw = checkpoint.read_raw(path)
    meta = json.loads(raw["meta"])
    cfg = names_model.Config(**meta["config"])
    model = names_model.build(cfg)
    template, state = model.init(jax.random.PRNGKey(0), names_model.in_shape(cfg))
    try:
        params = flax.serialization.from_state_dict(template, raw["train_state"]["params"])
    except (ValueError, KeyError) as e:
        raise DataError(f"checkpoint {path} does not match its own config: {e}") from e
    return model, cfg, params, state, names_data.Alphabet(meta["alphabet"], cfg.n_len), \
        meta["class_names"]


def main(argv):
    surnames = argv[1:]
    common.require(bool(surnames), "workdir", "give the names to classify after the flags")
    common.require(bool(FLAGS.workdir), "workdir", "is required (the study's output folder)")
    workdir = Path(FLAGS.workdir)
    run = FLAGS.run or choose_run(workdir)
    path = workdir / f"{FLAGS.checkpoint}_{run}.msgpack"
    if not path.is_file():
        raise DataError(f"checkpoint {path} not found (run experiments.names_convnet first, or "
                        f"check --run / --checkpoint)")
    model, cfg, params, state, alphabet, class_names = load_model(path)
    try:
        indices, notes = names_data.encode_new(surnames, alphabet, unknown=FLAGS.unknown,
                                               truncate=FLAGS.truncate)
    except ValueError as e:
        raise common.FlagError(f"names: {e}") from None
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    scores, _ = model.apply(params, state, names_model.encode(indices, cfg))
    P = np.asarray(jax.nn.softmax(scores.astype(jnp.float32), axis=-1))
    print(f"checkpoint: {path.name}")
    width = max(11, *(len(s) for s in surnames)) + 1
    print(f"{'':<12}" + "".join(f"{s:>{width}}" for s in surnames))
    for k, cls in enumerate(class_names):
        print(f"{cls:<12}" + "".join(f"{P[i, k]:>{width}.3e}" for i in range(len(surnames))))
    for s, p in zip(surnames, P):
        top = int(np.argmax(p))
        print(f"{s}: {class_names[top]} ({100 * p[top]:.1f} %)")


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
