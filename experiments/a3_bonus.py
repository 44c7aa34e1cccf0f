"""DD2424 A3 bonus (specs 5.4): BN after the ReLU, PreciseBN, skip connections in a deep net, and a
wide deep BN net with augmentation, each trained by SGD under the cyclical learning rate.

    python -m experiments.a3_bonus --workdir runs/a3_bonus
    # studies (--studies):
    #   bn_after: 3-layer [50, 50], BN before vs after the ReLU, the sheet's Ex 3 setting
    #             (lambda .005, n_s 2250, 2 cycles, 45k / 5k), each also with PreciseBN
    #   skip:     the sheet's deep net of equal widths with skip connections vs without
    #             (--skip_width, --skip_blocks two-layer blocks: 2 + 2 blocks weight layers)
    #   wide:     [500, 250, 100, 50] BN net, flips + translations, 49k / 1k, --wide_cycles cycles
    #             (public best fully connected: 58.9 % test)

PreciseBN: after training, every BN layer's mean and variance are recomputed from the fixed model
over the first --precise_n training samples (jaxdl.precise_bn); test accuracy is reported with the
EMA statistics and with the precise ones. Writes results.json, history_<run>.csv and
curves_<run>.png into --workdir.
"""

from __future__ import annotations

import time

import jax
from absl import app, flags, logging

from experiments import bonus_runs, common, cyclic_mlp
from jaxdl.models import mlp
from jaxdl import plots, precise_bn, results, samplers, train
from jaxdl.data import augment, cifar10
from jaxdl.layers import losses

STUDIES = ("bn_after", "skip", "wide")
flags.DEFINE_list("studies", list(STUDIES), f"Which studies to run, of {STUDIES}.")
flags.DEFINE_string("hidden", "50,50", "Hidden widths of the bn_after study.")
flags.DEFINE_float("lam", 0.005, "L2 weight lambda of the bn_after and skip studies.")
flags.DEFINE_float("eta_min", 1e-5, "Lowest cyclical learning rate.")
flags.DEFINE_float("eta_max", 1e-1, "Highest cyclical learning rate.")
flags.DEFINE_integer("n_s", 2250, "Half-cycle of the bn_after and skip studies (5 * 45000 / 100).")
flags.DEFINE_integer("n_cycles", 2, "Cycles of the bn_after and skip studies.")
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.")
flags.DEFINE_integer("n_val", 5000, "Validation size of the bn_after and skip studies.")
flags.DEFINE_integer("skip_width", 50, "Width of every layer of the skip-connection net.")
flags.DEFINE_integer("skip_blocks", 3, "Two-layer blocks of the skip-connection net.")
flags.DEFINE_string("wide_hidden", "500,250,100,50", "Hidden widths of the wide BN net.")
flags.DEFINE_float("wide_lam", 0.002, "L2 weight lambda of the wide BN net.")
flags.DEFINE_integer("wide_n_s", 2450, "Half-cycle of the wide BN net (5 * 49000 / 100).")
flags.DEFINE_integer("wide_cycles", 3, "Cycles of the wide BN net.")
flags.DEFINE_integer("wide_n_val", 1000, "Validation size of the wide BN net.")
flags.DEFINE_integer("max_shift", 3, "Translations of the wide net in [-max_shift, max_shift].")
flags.DEFINE_integer("precise_n", 10000, "Training samples PreciseBN recomputes statistics on.")
flags.DEFINE_integer("epochs_per_eval", 1, "Epochs between evaluations.")

FLAGS = flags.FLAGS


def epochs_for(n_s: int, n_cycles: int, n_train: int, flag: str) -> int:
    """Epochs of n_cycles whole cycles (checked once the data, hence n_train, is loaded; still
    before anything compiles)."""
    steps = n_train // FLAGS.n_batch
    e = cyclic_mlp.n_epochs_for(n_s, n_cycles, steps)
    common.require(e is not None and e % FLAGS.epochs_per_eval == 0, flag,
                   f"{n_cycles} cycles of 2*{n_s} updates is not a whole number of "
                   f"{FLAGS.epochs_per_eval}-epoch segments of {steps} updates")
    return e


def validate_flags() -> dict:
    bad = [s for s in FLAGS.studies if s not in STUDIES]
    common.require(not bad and bool(FLAGS.studies), "studies",
                   f"unknown {bad}; choose of {STUDIES}")
    hidden = common.parse_ints(FLAGS.hidden, "hidden")
    wide = common.parse_ints(FLAGS.wide_hidden, "wide_hidden")
    common.require(bool(hidden) and min(hidden) > 0, "hidden", "expected positive widths")
    common.require(bool(wide) and min(wide) > 0, "wide_hidden", "expected positive widths")
    common.require(FLAGS.lam >= 0, "lam", "must be >= 0")
    common.require(FLAGS.wide_lam >= 0, "wide_lam", "must be >= 0")
    common.require(0 < FLAGS.eta_min <= FLAGS.eta_max, "eta_min", "needs 0 < eta_min <= eta_max")
    common.require(FLAGS.n_batch > 1, "n_batch", "must be > 1 (batch normalisation)")
    for flag in ("n_s", "n_cycles", "wide_n_s", "wide_cycles", "skip_width", "skip_blocks",
                 "precise_n", "epochs_per_eval"):
        common.require(FLAGS[flag].value > 0, flag, "must be > 0")
    common.require(0 <= FLAGS.max_shift <= 8, "max_shift", "must lie in 0..8")
    for flag in ("n_val", "wide_n_val"):
        common.require(0 < FLAGS[flag].value < 50000 - FLAGS.n_batch, flag, "must lie in 1..49899")
    return {"hidden": hidden, "wide": wide}


def main(argv):
    del argv
    cfg = validate_flags()
    workdir = common.workdir()
    t0 = time.perf_counter()
    runs = []

    def train_one(name, model, data, test, hp, n_epochs, aug=None, config=None):
        """One run with the EMA and the PreciseBN test accuracy; config holds lam and n_s."""
        n = data["X_train"].shape[0]
        trainer = train.make_trainer(model, losses.softmax_cross_entropy, cyclic_mlp.optimizer,
                                     samplers.shuffled_batches(FLAGS.n_batch, n), grad=FLAGS.grad,
                                     epochs_per_eval=FLAGS.epochs_per_eval, augment=aug)
        key = jax.random.fold_in(jax.random.PRNGKey(FLAGS.seed), len(runs))
        r = bonus_runs.run(trainer, hp, key, data, test, n_epochs, name=name)
        p = r.state.params
        precise = precise_bn.recompute(model, p, r.state.state, data["X_train"][:FLAGS.precise_n])
        r.metrics["test_accuracy_precise_bn"] = bonus_runs.test_accuracy(trainer, p, precise, hp,
                                                                         test)
        r.metrics["val_accuracy_precise_bn"] = bonus_runs.test_accuracy(
            trainer, p, precise, hp, (data["X_val"], data["Y_val"]))
        logging.info("%s: test accuracy %.4f with EMA statistics, %.4f with PreciseBN", name,
                     r.metrics["test_accuracy"], r.metrics["test_accuracy_precise_bn"])
        runs.append({"name": name, "config": {**config, "eta_min": FLAGS.eta_min,
                                              "eta_max": FLAGS.eta_max, "n_epochs": n_epochs,
                                              "n_batch": FLAGS.n_batch},
                     "metrics": r.metrics})
        results.write_csv(workdir / f"history_{name}.csv", r.history)
        plots.curve_panels(r.history, workdir / f"curves_{name}.png",
                           title=f"A3 bonus {name}: test {100 * r.metrics['test_accuracy']:.2f} % "
                                 f"(PreciseBN {100 * r.metrics['test_accuracy_precise_bn']:.2f} %)")
        results.write_results(workdir, "a3_bonus", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0)

    small = [s for s in ("bn_after", "skip") if s in FLAGS.studies]
    if small:
        data, test = bonus_runs.load(FLAGS.n_val, FLAGS.data_dir)
        hp = cyclic_mlp.hparams(FLAGS.lam, FLAGS.eta_min, FLAGS.eta_max, FLAGS.n_s)
        epochs = epochs_for(FLAGS.n_s, FLAGS.n_cycles, data["X_train"].shape[0], "n_s")
        if "bn_after" in small:
            for name, model in (("bn_before_relu", mlp.mlp(cfg["hidden"], cifar10.N_CLASSES,
                                                              bn=True)),
                                ("bn_after_relu", mlp.mlp_bn_after_relu(
                                    cfg["hidden"], cifar10.N_CLASSES))):
                train_one(name, model, data, test, hp, epochs,
                          config={"hidden": cfg["hidden"], "lam": FLAGS.lam, "n_s": FLAGS.n_s})
        if "skip" in small:
            for skip in (True, False):
                model = mlp.skip_mlp(FLAGS.skip_width, FLAGS.skip_blocks,
                                              cifar10.N_CLASSES, skip=skip)
                train_one(f"deep{2 + 2 * FLAGS.skip_blocks}_{'skip' if skip else 'plain'}",
                          model, data, test, hp, epochs,
                          config={"width": FLAGS.skip_width, "blocks": FLAGS.skip_blocks,
                                  "skip": skip, "lam": FLAGS.lam, "n_s": FLAGS.n_s})
    if "wide" in FLAGS.studies:
        data, test = bonus_runs.load(FLAGS.wide_n_val, FLAGS.data_dir)
        hp = cyclic_mlp.hparams(FLAGS.wide_lam, FLAGS.eta_min, FLAGS.eta_max, FLAGS.wide_n_s)
        epochs = epochs_for(FLAGS.wide_n_s, FLAGS.wide_cycles, data["X_train"].shape[0],
                            "wide_n_s")
        train_one("wide_bn", mlp.mlp(cfg["wide"], cifar10.N_CLASSES, bn=True), data, test, hp,
                  epochs, aug=augment.make_augment(True, FLAGS.max_shift),
                  config={"hidden": cfg["wide"], "flip": True, "max_shift": FLAGS.max_shift,
                          "lam": FLAGS.wide_lam, "n_s": FLAGS.wide_n_s})
    for r in runs:
        m = r["metrics"]
        print(f"{r['name']:>16}: test accuracy {100 * m['test_accuracy']:.2f} % "
              f"(PreciseBN {100 * m['test_accuracy_precise_bn']:.2f} %)")


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
