"""DD2424 Assignment 2: a two-layer ReLU network under a cyclical learning rate (specs.md section 4).

Default: the sheet's Exercises 3 and 4 on data batch 1 (train) / batch 2 (val) / test batch:
m = 50 hidden units, W1 ~ N(0, 1/d), W2 ~ N(0, 1/m), b = 0, lambda = .01, batch 100,
eta in [1e-5, 1e-1]; Ex 3 n_s = 500 for 1 cycle, Ex 4 n_s = 800 for 3 cycles; evaluated every
epoch (100 updates: 10 points per Ex 3 cycle, 16 per Ex 4 cycle) and at step 0.

    python -m experiments.a2_two_layer --workdir runs/a2
    # sheet: test accuracy 45.85 % (Ex 3) and 47.47 % (Ex 4)

Writes results.json, history_<run>.csv and curves_<run>.png (cost, loss, accuracy against the
update step, train and val) into --workdir.
"""

from __future__ import annotations

import time

import jax
from absl import app, flags, logging

from experiments import common, cyclic_mlp
from jaxdl.models import mlp
from jaxdl import plots, results, train
from jaxdl.data import cifar10
from jaxdl.layers import initializers

flags.DEFINE_string("names", "ex3,ex4", "Comma-separated name of each run.")
flags.DEFINE_string("n_s", "500,800", "Comma-separated half-cycle length n_s of each run.")
flags.DEFINE_string("n_cycles", "1,3", "Comma-separated number of cycles of each run.")
flags.DEFINE_string("hidden", "50", "Comma-separated hidden widths (one value: two layers).")
flags.DEFINE_float("lam", 0.01, "L2 weight lambda.")
flags.DEFINE_float("eta_min", 1e-5, "Lowest learning rate of the cycle.")
flags.DEFINE_float("eta_max", 1e-1, "Highest learning rate of the cycle.")
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.")
flags.DEFINE_enum("init", "xavier", ["xavier", "he", "normal"],
                  "W initialiser: xavier = the sheet's std 1/sqrt(fan_in); normal needs "
                  "--init_std.")
flags.DEFINE_float("init_std", 0.01, "Std of --init=normal.")
flags.DEFINE_bool("shuffle", True, "Reshuffle the training data every epoch.")
flags.DEFINE_enum("split", "a1", ["a1", "all"],
                  "a1: batch 1 / batch 2 / test; all: five batches minus --n_val for validation.")
flags.DEFINE_integer("n_val", 5000, "Validation size with --split=all.")
flags.DEFINE_integer("epochs_per_eval", 1, "Epochs between evaluations.")

FLAGS = flags.FLAGS


def validate_flags() -> tuple[list[str], list[int], list[int], list[int], int]:
    names = [v.strip() for v in FLAGS.names.split(",") if v.strip()]
    n_s = common.parse_ints(FLAGS.n_s, "n_s")
    n_cycles = common.parse_ints(FLAGS.n_cycles, "n_cycles")
    hidden = common.parse_ints(FLAGS.hidden, "hidden")
    common.require(len(n_s) == len(names), "n_s", f"gives {len(n_s)} values for {len(names)} "
                   "--names")
    common.require(len(n_cycles) == len(names), "n_cycles",
                   f"gives {len(n_cycles)} values for {len(names)} --names")
    common.require(len(set(names)) == len(names), "names", "must be distinct")
    common.require(bool(hidden) and all(m > 0 for m in hidden), "hidden",
                   "expected positive widths")
    common.require(all(v > 0 for v in n_s), "n_s", "must be > 0")
    common.require(all(v > 0 for v in n_cycles), "n_cycles", "must be > 0")
    common.require(FLAGS.lam >= 0, "lam", "must be >= 0")
    common.require(0 < FLAGS.eta_min <= FLAGS.eta_max, "eta_min", "needs 0 < eta_min <= eta_max")
    common.require(FLAGS.n_batch > 0, "n_batch", "must be > 0")
    common.require(FLAGS.init_std > 0, "init_std", "must be > 0")
    common.require(FLAGS.epochs_per_eval > 0, "epochs_per_eval", "must be > 0")
    n_train = 10000 if FLAGS.split == "a1" else 50000 - FLAGS.n_val
    common.require(0 < FLAGS.n_val < 50000, "n_val", "must lie in 1..49999")
    common.require(FLAGS.n_batch <= n_train, "n_batch", f"exceeds the {n_train} training samples")
    steps_per_epoch = n_train // FLAGS.n_batch
    epochs = []
    for name, ns, nc in zip(names, n_s, n_cycles):
        e = cyclic_mlp.n_epochs_for(ns, nc, steps_per_epoch)
        common.require(e is not None and e % FLAGS.epochs_per_eval == 0, "n_s",
                       f"run {name}: {nc} cycles of 2*{ns} updates is not a whole number of "
                       f"{FLAGS.epochs_per_eval}-epoch segments of {steps_per_epoch} updates")
        epochs.append(e)
    return names, n_s, n_cycles, epochs, hidden


def main(argv):
    del argv
    names, n_s, n_cycles, epochs, hidden = validate_flags()
    workdir = common.workdir()
    t0 = time.perf_counter()
    splits = cifar10.load_splits(FLAGS.split, FLAGS.data_dir, n_val=FLAGS.n_val)
    data = train.to_device({"X_train": splits["train"].X, "Y_train": splits["train"].Y,
                            "X_val": splits["val"].X, "Y_val": splits["val"].Y})
    test = cyclic_mlp.device_split(splits["test"])
    init = initializers.by_name(FLAGS.init, FLAGS.init_std if FLAGS.init == "normal" else None)
    model = mlp.mlp(hidden, cifar10.N_CLASSES, w_init=init)
    trainer = cyclic_mlp.make_trainer(model, len(splits["train"].X), FLAGS.n_batch,
                                      shuffle=FLAGS.shuffle, grad=FLAGS.grad,
                                      epochs_per_eval=FLAGS.epochs_per_eval)
    runs = []
    for i, (name, ns, nc, ne) in enumerate(zip(names, n_s, n_cycles, epochs)):
        hp = cyclic_mlp.hparams(FLAGS.lam, FLAGS.eta_min, FLAGS.eta_max, ns)
        key = jax.random.fold_in(jax.random.PRNGKey(FLAGS.seed), i)
        logging.info("%s: n_s=%d, %d cycles = %d epochs", name, ns, nc, ne)
        r = cyclic_mlp.run(trainer, hp, key, data, test, ne, name=name,
                           checkpoint=workdir / f"checkpoint_{name}.msgpack")
        runs.append({"name": name, "config": {"hidden": hidden, "lam": FLAGS.lam,
                                              "eta_min": FLAGS.eta_min, "eta_max": FLAGS.eta_max,
                                              "n_s": ns, "n_cycles": nc, "n_epochs": ne,
                                              "n_batch": FLAGS.n_batch, "init": FLAGS.init},
                     "metrics": r.metrics})
        results.write_csv(workdir / f"history_{name}.csv", r.history)
        plots.curve_panels(r.history, workdir / f"curves_{name}.png", x="step",
                           title=f"A2 {name}: m={hidden}, lambda={FLAGS.lam:g}, n_s={ns}, "
                                 f"{nc} cycle(s); test acc "
                                 f"{100 * r.metrics['test_accuracy']:.2f} %")
        results.write_results(workdir, "a2_two_layer", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0)
    for r in runs:
        print(f"{r['name']:>8}: test accuracy {100 * r['metrics']['test_accuracy']:.2f} %")


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
