"""DD2424 A2 bonus (specs 4.5): a wide two-layer net with dropout, flips and translations under the
cyclical learning rate; a snapshot ensemble of its end-of-cycle models; Smith's LR range test;
Adam against cyclical SGD. 49k train / 1k val (all five batches), test on the test batch.

    python -m experiments.a2_bonus --workdir runs/a2_bonus
    # studies (--studies), in this order:
    #   lr_range: eta grows linearly from --range_lo to --range_hi over --range_epochs epochs;
    #             val accuracy and batch cost against eta (lr_range.png); suggested eta_min/max
    #   wide:     m = --m (1000), dropout --dropout, flips + translations,
#             --n_cycles cycles of 2 n_s;
    #             eta range from the range test when --use_range (else --eta_min/--eta_max);
    #             ensemble of the end-of-cycle snapshots, majority vote and mean probability
    #   adam:     the same net, data and number of updates with Adam (lr 1e-3, b1 .9,
    #             b2 .999, eps 1e-8; lambda stays in the cost, as in the SGD runs)
    # public best two-layer net: 56.4 % test (m = 500, 10 cycles, ensemble 56.44 %)

Writes results.json, history_<run>.csv, curves_<run>.png, lr_range.csv and lr_range.png into
--workdir.
"""

from __future__ import annotations

import time

import jax
import numpy as np
import optax
from absl import app, flags, logging

from experiments import bonus_runs, common, cyclic_mlp
from jaxdl.models import mlp
from jaxdl import ensemble, lr_range, plots, results, samplers, train
from jaxdl.data import augment, cifar10
from jaxdl.layers import initializers, losses

STUDIES = ("lr_range", "wide", "adam")
flags.DEFINE_list("studies", list(STUDIES), f"Which studies to run, of {STUDIES}.")
flags.DEFINE_integer("m", 1000, "Hidden units of the wide two-layer net.")
flags.DEFINE_float("dropout", 0.2, "Dropout rate after the hidden ReLU (0: none).")
flags.DEFINE_bool("flip", True, "Random horizontal flips (p = .5).")
flags.DEFINE_integer("max_shift", 3, "Random translations in [-max_shift, max_shift] (0: none).")
flags.DEFINE_float("lam", 1e-3, "L2 weight lambda.")
flags.DEFINE_float("eta_min", 1e-5, "Lowest cyclical learning rate (without --use_range).")
flags.DEFINE_float("eta_max", 1e-1, "Highest cyclical learning rate (without --use_range).")
flags.DEFINE_bool("use_range", True, "Take eta_min, eta_max from the LR range test (if run).")
flags.DEFINE_integer("n_s", 980, "Half-cycle length in updates (2 * 49000 / 100).")
flags.DEFINE_integer("n_cycles", 6, "Cycles of the wide run (and the length of the Adam run).")
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.")
flags.DEFINE_integer("n_val", 1000, "Validation size (the rest of the 50k trains).")
flags.DEFINE_float("adam_lr", 1e-3, "Adam's learning rate.")
flags.DEFINE_float("range_lo", 1e-4, "LR range test: first eta.")
flags.DEFINE_float("range_hi", 0.3, "LR range test: last eta.")
flags.DEFINE_enum("range_kind", "linear", list(lr_range.KINDS), "LR range test: eta growth.")
flags.DEFINE_integer("range_epochs", 4, "LR range test: length in epochs.")
flags.DEFINE_integer("range_evals", 10, "LR range test: validation evaluations per epoch.")

FLAGS = flags.FLAGS


def validate_flags() -> None:
    bad = [s for s in FLAGS.studies if s not in STUDIES]
    common.require(not bad and bool(FLAGS.studies), "studies",
                   f"unknown {bad}; choose of {STUDIES}")
    for flag in ("m", "n_s", "n_cycles", "n_batch", "range_epochs", "range_evals"):
        common.require(FLAGS[flag].value > 0, flag, "must be > 0")
    common.require(0 <= FLAGS.dropout < 1, "dropout", "must lie in [0, 1)")
    common.require(0 <= FLAGS.max_shift <= 8, "max_shift", "must lie in 0..8")
    common.require(FLAGS.lam >= 0, "lam", "must be >= 0")
    common.require(0 < FLAGS.eta_min <= FLAGS.eta_max, "eta_min", "needs 0 < eta_min <= eta_max")
    common.require(FLAGS.adam_lr > 0, "adam_lr", "must be > 0")
    common.require(0 < FLAGS.range_lo < FLAGS.range_hi, "range_lo",
                   "needs 0 < range_lo < range_hi")
    common.require(0 < FLAGS.n_val < 50000 - FLAGS.n_batch, "n_val", "must lie in 1..49899")


def cycle_epochs(n_train: int) -> tuple[int, int]:
    """(epochs of the whole run, epochs per half-cycle = epochs_per_eval): segments must end
    exactly at the end of each cycle, where the snapshots are taken."""
    steps = n_train // FLAGS.n_batch
    common.require(FLAGS.n_s % steps == 0, "n_s", f"must be a multiple of the {steps} updates "
                   "of an epoch (snapshots are taken at the ends of cycles, between epochs)")
    half = FLAGS.n_s // steps
    return 2 * half * FLAGS.n_cycles, half


def range_figure(out: dict, eta_min: float, eta_max: float, path) -> None:
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(out["eta"], out["val_accuracy"], marker=".")
    a1.set_ylabel("validation accuracy")
    finite = np.isfinite(out["cost_step"])  # the cost overflows once eta is far too large
    a2.plot(out["eta_step"][finite], out["cost_step"][finite], lw=0.5, alpha=0.6,
            label="batch cost")
    a2.plot(out["eta"], out["val_loss"], marker=".", label="val loss")
    a2.set_ylim(0.0, 4.0)
    a2.legend()
    for ax in (a1, a2):
        ax.axvline(eta_min, color="g", ls="--", lw=0.8)
        ax.axvline(eta_max, color="r", ls="--", lw=0.8)
        ax.set_xlabel("learning rate eta")
        ax.grid(alpha=0.3)
    fig.suptitle(f"LR range test (m={FLAGS.m}, lambda={FLAGS.lam:g}): "
                 f"eta_min={eta_min:.3g}, eta_max={eta_max:.3g}")
    fig.tight_layout()
    plots.save(fig, path)


def main(argv):
    del argv
    validate_flags()
    workdir = common.workdir()
    t0 = time.perf_counter()
    data, test = bonus_runs.load(FLAGS.n_val, FLAGS.data_dir)
    n = data["X_train"].shape[0]
    n_epochs, half = cycle_epochs(n)
    model = mlp.mlp([FLAGS.m], cifar10.N_CLASSES, w_init=initializers.xavier(),
                       dropout_rate=FLAGS.dropout)
    aug = augment.make_augment(FLAGS.flip, FLAGS.max_shift)
    sampler = samplers.shuffled_batches(FLAGS.n_batch, n)
    config = {"m": FLAGS.m, "dropout": FLAGS.dropout, "flip": FLAGS.flip,
              "max_shift": FLAGS.max_shift, "lam": FLAGS.lam, "n_batch": FLAGS.n_batch}
    runs, extra = [], {}
    eta_min, eta_max = FLAGS.eta_min, FLAGS.eta_max

    def save(name, r, title):
        results.write_csv(workdir / f"history_{name}.csv", r.history)
        plots.curve_panels(r.history, workdir / f"curves_{name}.png", x="step", title=title)
        results.write_results(workdir, "a2_bonus", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0, **extra)

    if "lr_range" in FLAGS.studies:
        steps_per_epoch = n // FLAGS.n_batch
        chunk = max(1, steps_per_epoch // FLAGS.range_evals)
        n_chunks = FLAGS.range_epochs * steps_per_epoch // chunk
        trainer = train.make_trainer(model, losses.softmax_cross_entropy,
                                     lr_range.optimizer_fn(FLAGS.range_kind), sampler,
                                     grad=FLAGS.grad, augment=aug)
        hp = train.as_hparams(lam=FLAGS.lam, eta_lo=FLAGS.range_lo, eta_hi=FLAGS.range_hi,
                              n_steps=n_chunks * chunk)
        t1 = time.perf_counter()
        out = lr_range.run(trainer, hp, jax.random.PRNGKey(FLAGS.seed), data, n_chunks, chunk,
                           FLAGS.n_batch, FLAGS.range_kind)
        lo, hi = lr_range.suggest(out)
        logging.info("LR range test: eta_min %.3g, eta_max %.3g (%.0fs)", lo, hi,
                     time.perf_counter() - t1)
        results.write_csv(workdir / "lr_range.csv", [
            {k: float(out[k][i]) for k in ("eta", "batch_cost", "val_loss", "val_accuracy")}
            for i in range(n_chunks)])
        range_figure(out, lo, hi, workdir / "lr_range.png")
        extra["lr_range"] = {"eta_min": lo, "eta_max": hi, "kind": FLAGS.range_kind,
                             "best_val_accuracy": float(np.max(out["val_accuracy"])),
                             "seconds": time.perf_counter() - t1}
        if FLAGS.use_range:
            eta_min, eta_max = lo, hi
        results.write_results(workdir, "a2_bonus", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0, **extra)

    if "wide" in FLAGS.studies:
        trainer = train.make_trainer(model, losses.softmax_cross_entropy, cyclic_mlp.optimizer,
                                     sampler, grad=FLAGS.grad, epochs_per_eval=half, augment=aug)
        hp = cyclic_mlp.hparams(FLAGS.lam, eta_min, eta_max, FLAGS.n_s)
        name = f"wide_m{FLAGS.m}_clr"
        r = bonus_runs.run(trainer, hp, jax.random.PRNGKey(FLAGS.seed), data, test, n_epochs,
                           name=name, snapshot_every=2 * FLAGS.n_s)
        P = ensemble.probabilities(model, r.snapshots, test[0])
        y = np.argmax(np.asarray(test[1]), -1)
        snap_acc = [float(np.mean(np.argmax(np.asarray(p), -1) == y)) for p in P]
        r.metrics.update({
            "snapshot_test_accuracies": snap_acc,
            "ensemble_majority_vote_test_accuracy": float(np.mean(
                np.asarray(ensemble.majority_vote(P)) == y)),
            "ensemble_mean_probability_test_accuracy": float(np.mean(
                np.asarray(ensemble.mean_probability(P)) == y))})
        logging.info("%s: snapshots %s; ensemble majority vote %.4f, mean probability %.4f", name,
                     np.round(snap_acc, 4), r.metrics["ensemble_majority_vote_test_accuracy"],
                     r.metrics["ensemble_mean_probability_test_accuracy"])
        runs.append({"name": name, "config": {**config, "optimizer": "cyclical sgd",
                                              "eta_min": eta_min, "eta_max": eta_max,
                                              "n_s": FLAGS.n_s, "n_cycles": FLAGS.n_cycles,
                                              "n_epochs": n_epochs}, "metrics": r.metrics})
        ens = r.metrics["ensemble_mean_probability_test_accuracy"]
        save(name, r, f"A2 bonus: m={FLAGS.m}, dropout {FLAGS.dropout:g}, cyclical SGD "
                      f"[{eta_min:.2g}, {eta_max:.2g}]; test {100 * r.metrics['test_accuracy']:.2f}"
                      f" %, ensemble {100 * ens:.2f} %")

    if "adam" in FLAGS.studies:
        def adam(hp):
            return optax.adam(hp["lr"], b1=0.9, b2=0.999, eps=1e-8)
        trainer = train.make_trainer(model, losses.softmax_cross_entropy, adam, sampler,
                                     grad=FLAGS.grad, epochs_per_eval=half, augment=aug)
        hp = train.as_hparams(lam=FLAGS.lam, lr=FLAGS.adam_lr)
        name = f"wide_m{FLAGS.m}_adam"
        r = bonus_runs.run(trainer, hp, jax.random.PRNGKey(FLAGS.seed), data, test, n_epochs,
                           name=name)
        runs.append({"name": name, "config": {**config, "optimizer": "adam",
                                              "lr": FLAGS.adam_lr, "n_epochs": n_epochs},
                     "metrics": r.metrics})
        save(name, r, f"A2 bonus: m={FLAGS.m}, dropout {FLAGS.dropout:g}, Adam lr "
                      f"{FLAGS.adam_lr:g}; test {100 * r.metrics['test_accuracy']:.2f} %")

    for r in runs:
        m = r["metrics"]
        line = f"{r['name']:>18}: test accuracy {100 * m['test_accuracy']:.2f} %"
        if "ensemble_mean_probability_test_accuracy" in m:
            line += (f"; snapshot ensemble: majority vote "
                     f"{100 * m['ensemble_majority_vote_test_accuracy']:.2f} %, mean probability "
                     f"{100 * m['ensemble_mean_probability_test_accuracy']:.2f} %")
        print(line)
    if "lr_range" in extra:
        print(f"LR range test: eta_min {extra['lr_range']['eta_min']:.3g}, "
              f"eta_max {extra['lr_range']['eta_max']:.3g}")


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
