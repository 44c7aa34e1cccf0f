"""DD2424 Assignment 1: a one-layer softmax classifier on CIFAR-10 (specs.md section 2).

Default: the sheet's four settings (lam, eta) = (0, .1), (0, .001), (.1, .001), (1, .001), 40 epochs,
batch 100, W and b ~ N(0, .01^2), reshuffled every epoch; data batch 1 train / 2 val / test batch.

    python -m experiments.a1_linear --workdir runs/a1
    # expected test accuracy about 29 / 39 / 39.5 / 37.5 % (seed 001: 29.30 / 39.27 / 39.59 / 38.01)

Writes results.json, history_<run>.csv, curves_<run>.png and templates_<run>.png into --workdir.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags, logging

from experiments import common
from jaxdl.models import mlp
from jaxdl import plots, results, samplers, train
from jaxdl.data import cifar10
from jaxdl.layers import losses

flags.DEFINE_string("lams", "0,0,0.1,1", "Comma-separated lambda of each run.")
flags.DEFINE_string("etas", "0.1,0.001,0.001,0.001", "Comma-separated eta of each run.")
flags.DEFINE_integer("n_epochs", 40, "Epochs per run.")
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.")
flags.DEFINE_float("init_std", 0.01, "W and b ~ N(0, init_std^2).")
flags.DEFINE_bool("shuffle", True, "Reshuffle the training data every epoch (else the sheet's "
                  "fixed sequential batches).")
flags.DEFINE_enum("loss", "softmax_ce", ["softmax_ce", "mbce"],
                  "Softmax cross-entropy, or sigmoid + multiple binary cross-entropy.")
flags.DEFINE_enum("split", "a1", ["a1", "all"],
                  "a1: batch 1 / batch 2 / test; all: five batches minus --n_val for validation.")
flags.DEFINE_integer("n_val", 1000, "Validation size with --split=all.")

FLAGS = flags.FLAGS


def validate_flags() -> tuple[list[float], list[float]]:
    lams = common.parse_floats(FLAGS.lams, "lams")
    etas = common.parse_floats(FLAGS.etas, "etas")
    common.require(len(lams) == len(etas), "etas",
                   f"gives {len(etas)} values but --lams gives {len(lams)}")
    common.require(all(v >= 0 for v in lams), "lams", "must be >= 0")
    common.require(all(v > 0 for v in etas), "etas", "must be > 0")
    common.require(FLAGS.n_epochs > 0, "n_epochs", "must be > 0")
    common.require(FLAGS.n_batch > 0, "n_batch", "must be > 0")
    common.require(FLAGS.init_std > 0, "init_std", "must be > 0")
    return lams, etas


def run_name(lam: float, eta: float) -> str:
    return f"lam{lam:g}_eta{eta:g}"


def main(argv):
    del argv
    lams, etas = validate_flags()
    workdir = common.workdir()
    t0 = time.perf_counter()
    splits = common.cifar10_splits(FLAGS.split, FLAGS.n_val)
    n_train = len(splits["train"].X)
    common.require(FLAGS.n_batch <= n_train, "n_batch",
                   f"{FLAGS.n_batch} is larger than the {n_train} training samples")
    data = train.to_device({"X_train": splits["train"].X, "Y_train": splits["train"].Y,
                            "X_val": splits["val"].X, "Y_val": splits["val"].Y})
    X_test, Y_test = jnp.asarray(splits["test"].X), jnp.asarray(splits["test"].Y)
    sampler = (samplers.shuffled_batches if FLAGS.shuffle else samplers.sequential_batches)(
        FLAGS.n_batch, n_train)
    model = mlp.linear(cifar10.N_CLASSES, FLAGS.init_std)
    loss = losses.by_name(FLAGS.loss)
    trainer = train.make_trainer(model, loss, lambda hp: optax.sgd(hp["eta"]), sampler,
                                 grad=FLAGS.grad)
    evaluate = jax.jit(trainer.evaluate)
    runs = []
    for i, (lam, eta) in enumerate(zip(lams, etas)):
        name = run_name(lam, eta)
        hp = train.as_hparams(lam=lam, eta=eta)
        key = jax.random.fold_in(jax.random.PRNGKey(FLAGS.seed), i)
        fit = train.fit(trainer, hp, key, data, FLAGS.n_epochs, name=name,
                        checkpoint=workdir / f"checkpoint_{name}.msgpack")
        ts, history = fit.state, fit.history
        test = jax.device_get(evaluate(ts.params, ts.state, hp, X_test, Y_test))
        last = fit.final_metrics
        metrics = {"train_accuracy": last["train_accuracy"],
                   "val_accuracy": last["val_accuracy"],
                   "test_accuracy": float(test["accuracy"]),
                   "train_loss": last["train_loss"], "train_cost": last["train_cost"],
                   "val_loss": last["val_loss"], "val_cost": last["val_cost"],
                   "test_loss": float(test["loss"]),
                   "train_cost_epoch1": history[0]["train_cost"],
                   "diverged": fit.diverged,
                   "compile_seconds": fit.compile_seconds,
                   "train_seconds": fit.train_seconds}
        logging.info("%s: test accuracy %.4f", name, metrics["test_accuracy"])
        runs.append({"name": name, "config": {"lam": lam, "eta": eta,
                                              "n_epochs": FLAGS.n_epochs,
                                              "n_batch": FLAGS.n_batch, "loss": FLAGS.loss},
                     "metrics": metrics})
        results.write_csv(workdir / f"history_{name}.csv", history)
        plots.curve_panels(history, workdir / f"curves_{name}.png",
                           panels=("cost", "loss"), title=f"A1, lambda={lam:g}, eta={eta:g}")
        W = np.asarray(ts.params[0]["W"])
        plots.image_montage(cifar10.vectors_to_images(W), workdir / f"templates_{name}.png",
                            titles=cifar10.label_names(FLAGS.data_dir),
                            title=f"class templates, lambda={lam:g}, eta={eta:g}")
        # written after every run so an interrupted study keeps what it finished
        results.write_results(workdir, "a1_linear", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0)
    for r in runs:
        print(f"{r['name']:>20}: test accuracy {100 * r['metrics']['test_accuracy']:.2f} %")


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
