"""Predicts the language of surnames with a ConvNet trained by experiments.names_convnet.

    python -m experiments.names_predict --workdir runs/names Herrera Nguyen Souza Vilanova \
        "De Fenza" Claramunt

Prints, for each name, the 18-class probability vector and its top class. Names are lower-cased;
characters outside the training alphabet are dropped and names longer than n_len keep their last
n_len characters (--unknown / --truncate change that), with a note saying so; a name with nothing
to encode (empty, blank) is skipped with a note.
By default it uses the best-validation checkpoint of the run with the highest best validation
accuracy in --workdir/results.json (--run / --checkpoint pick another). A study made with
--seeds N keeps each seed's final net only: --run <run>_seed<s> --checkpoint final.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from absl import flags

from experiments import common
from jaxdl import results, train
from jaxdl.data import names as names_data
from jaxdl.data.download import DataError
from jaxdl.models import names as names_model

flags.DEFINE_string("run", None, "Run name (default: the run with the best validation accuracy).")
flags.DEFINE_enum("checkpoint", "best", ["best", "final"],
                  "best: the evaluation with the highest validation accuracy; final: the last.")
flags.DEFINE_enum("unknown", "drop", list(names_data.UNKNOWN_POLICIES),
                  "Characters outside the alphabet: drop them, or reject the name.")
flags.DEFINE_enum("truncate", "last", list(names_data.TRUNCATE_POLICIES),
                  "Names longer than n_len: keep the last or first n_len characters, or reject.")

FLAGS = flags.FLAGS


def main(argv):
    surnames = argv[1:]
    common.require(bool(surnames), "workdir", "give the names to classify after the flags")
    common.require(bool(FLAGS.workdir), "workdir", "is required (the study's output folder)")
    workdir = Path(FLAGS.workdir)
    try:
        run = FLAGS.run or results.best_run(workdir / "results.json", "best_val_accuracy")
    except DataError as e:
        raise DataError(f"{e} (pass --run)") from None
    path = workdir / f"{FLAGS.checkpoint}_{run}.msgpack"
    if not path.is_file():
        raise DataError(f"checkpoint {path} not found (run experiments.names_convnet first, or "
                        f"check --run / --checkpoint)")
    net = names_model.restore(path)
    try:
        indices, kept, notes = names_data.encode_new(surnames, net.alphabet,
                                                     unknown=FLAGS.unknown,
                                                     truncate=FLAGS.truncate)
    except ValueError as e:
        raise common.FlagError(f"names: {e}") from None
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not kept:
        raise common.FlagError("names: none of the names given has anything to encode")
    surnames = [surnames[i] for i in kept]
    predict = train.make_predictor(net.model, output="probabilities")
    P = np.asarray(predict(net.params, net.state, names_model.encode(indices, net.cfg)))
    print(f"checkpoint: {path.name}")
    width = max(11, *(len(s) for s in surnames)) + 1
    print(f"{'':<12}" + "".join(f"{s:>{width}}" for s in surnames))
    for k, cls in enumerate(net.class_names):
        print(f"{cls:<12}" + "".join(f"{P[i, k]:>{width}.3e}" for i in range(len(surnames))))
    for s, p in zip(surnames, P):
        top = int(np.argmax(p))
        print(f"{s}: {net.class_names[top]} ({100 * p[top]:.1f} %)")


if __name__ == "__main__":
    common.run(main)
