"""DD2424 Assignment 2, bonus exercises: a wide two-layer net with dropout, flips and
translations under the cyclical learning rate; a snapshot ensemble of its end-of-cycle models;
Smith's LR range test; Adam against cyclical SGD. 49k train / 1k val (all five batches), test on
the test batch.

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

With --seeds N the Adam run trains at N seeds as one vmapped program; the wide cyclical run falls
back to one seed after another (train.fit_and_test with key run_key(seed, name)) because its
snapshot ensemble needs the end-of-cycle snapshots, which the vmapped seeds program does not keep.
Each seed's snapshot ensemble is its own; results.json gives each seed's metrics and their
mean +- std, the curves the mean in a min-max band. The LR range test stays single-seed (--seed):
it picks the eta range that every seed of the wide run then uses.
"""

from __future__ import annotations

import time

import numpy as np
import optax
from absl import flags, logging

from experiments import common
from jaxdl import ensemble, lr_range, optimizers, plots, results, samplers, seeds, train
from jaxdl.data import augment, cifar10
from jaxdl.layers import initializers, losses
from jaxdl.models import mlp

STUDIES = ("lr_range", "wide", "adam")
flags.DEFINE_list("studies", list(STUDIES), f"Which studies to run, of {STUDIES}.")
flags.DEFINE_integer("m", 1000, "Hidden units of the wide two-layer net.", lower_bound=1)
flags.DEFINE_float("dropout", 0.2, "Dropout rate after the hidden ReLU (0: none).")
flags.DEFINE_bool("flip", True, "Random horizontal flips (p = .5).")
flags.DEFINE_integer("max_shift", 3, "Random translations in [-max_shift, max_shift] (0: none).",
                     lower_bound=0, upper_bound=8)
flags.DEFINE_float("lam", 1e-3, "L2 weight lambda.", lower_bound=0.0)
flags.DEFINE_float("eta_min", 1e-5, "Lowest cyclical learning rate (without --use_range).")
flags.DEFINE_float("eta_max", 1e-1, "Highest cyclical learning rate (without --use_range).")
flags.DEFINE_bool("use_range", True, "Take eta_min, eta_max from the LR range test (if run).")
flags.DEFINE_integer("n_s", 980, "Half-cycle length in updates (2 * 49000 / 100).",
                     lower_bound=1)
flags.DEFINE_integer("n_cycles", 6, "Cycles of the wide run (and the length of the Adam run).",
                     lower_bound=1)
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.", lower_bound=1)
flags.DEFINE_integer("n_val", 1000, "Validation size (the rest of the 50k trains).",
                     lower_bound=1)
flags.DEFINE_float("adam_lr", 1e-3, "Adam's learning rate.")
flags.DEFINE_float("range_lo", 1e-4, "LR range test: first eta.")
flags.DEFINE_float("range_hi", 0.3, "LR range test: last eta.")
flags.DEFINE_enum("range_kind", "linear", list(lr_range.KINDS), "LR range test: eta growth.")
flags.DEFINE_integer("range_epochs", 4, "LR range test: length in epochs.", lower_bound=1)
flags.DEFINE_integer("range_evals", 10, "LR range test: validation evaluations per epoch.",
                     lower_bound=1)
flags.register_validator("studies", lambda v: bool(v) and set(v) <= set(STUDIES),
                         f"expected a comma-separated list of {STUDIES}")
flags.register_validator("dropout", lambda v: 0 <= v < 1, "must lie in [0, 1)")
flags.register_validator("adam_lr", lambda v: v > 0, "must be > 0")
common.register_positive_range("eta_min", "eta_max")
common.register_positive_range("range_lo", "range_hi", strict=True)
common.define_seeds_flag()
flags.mark_flag_as_required("workdir")

FLAGS = flags.FLAGS


def config_from_flags():
    common.require(FLAGS.n_val < 50000 - FLAGS.n_batch, "n_val",
                   f"must lie in 1..{50000 - FLAGS.n_batch - 1}")
    return common.config(__name__, cpu_devices=common.cpu_devices(FLAGS.cpu_devices))


def range_figure(out: dict, eta_min: float, eta_max: float, title: str, path) -> None:
    fig, (a1, a2) = plots.subplots(1, 2, figsize=(9, 3.4))
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
    fig.suptitle(f"{title}: eta_min={eta_min:.3g}, eta_max={eta_max:.3g}")
    fig.tight_layout()
    plots.save(fig, path)


def main(argv):
    del argv
    cfg = config_from_flags()
    common.use_cpu_devices(cfg.cpu_devices)  # before JAX starts its backends
    workdir = common.workdir()
    t0 = time.perf_counter()
    data = cifar10.device_splits(common.cifar10_splits("all", cfg.n_val))
    n = data["X_train"].shape[0]
    steps_per_epoch = n // cfg.n_batch
    common.require(cfg.n_s % steps_per_epoch == 0, "n_s", f"must be a multiple of the "
                   f"{steps_per_epoch} updates of an epoch (snapshots are taken at the ends of "
                   "cycles, between epochs)")
    half = cfg.n_s // steps_per_epoch  # epochs per half-cycle = per evaluation
    n_epochs = 2 * half * cfg.n_cycles
    model = mlp.mlp([cfg.m], cifar10.N_CLASSES, w_init=initializers.xavier(),
                    dropout_rate=cfg.dropout)
    aug = augment.make_augment(cfg.flip, cfg.max_shift)
    sampler = samplers.shuffled_batches(cfg.n_batch, n)
    config = {"m": cfg.m, "dropout": cfg.dropout, "flip": cfg.flip, "max_shift": cfg.max_shift,
              "lam": cfg.lam, "n_batch": cfg.n_batch}
    runs, extra, seed_list = [], {}, common.seed_values(cfg)
    eta_min, eta_max = cfg.eta_min, cfg.eta_max

    def write_results():
        results.write_results(workdir, "a2_bonus", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0, **extra)

    def make_trainer(optimizer_fn) -> train.Trainer:
        return train.make_trainer(model, losses.softmax_cross_entropy, optimizer_fn, sampler,
                                  grad=cfg.grad, epochs_per_eval=half, augment=aug)

    def record(name, rs: list[train.TestedRun], run_config, title) -> dict:
        """A run's seeds into results.json, its history and its curves; title(run) ends the
        figure's title (the run holds the seeds' summary)."""
        run = results.seeded_run(name, {**config, **run_config, "n_epochs": n_epochs},
                                 seed_list, [r.metrics for r in rs])
        runs.append(run)
        results.write_histories(workdir / f"history_{name}.csv", [r.history for r in rs],
                                seed_list)
        n_evals = min(len(r.history) for r in rs)  # a seed trained alone stops if it diverges
        plots.curve_panels([r.history[:n_evals] for r in rs], workdir / f"curves_{name}.png",
                           x="step",
                           title=f"A2 bonus: m={cfg.m}, dropout {cfg.dropout:g}, {title(run)}")
        write_results()
        return run

    if "lr_range" in cfg.studies:
        chunk = max(1, steps_per_epoch // cfg.range_evals)
        n_chunks = cfg.range_epochs * steps_per_epoch // chunk
        trainer = train.make_trainer(model, losses.softmax_cross_entropy,
                                     lr_range.optimizer_fn(cfg.range_kind), sampler,
                                     grad=cfg.grad, augment=aug)
        hp = train.as_hparams(lam=cfg.lam, eta_lo=cfg.range_lo, eta_hi=cfg.range_hi,
                              n_steps=n_chunks * chunk)
        t1 = time.perf_counter()
        out = lr_range.run(trainer, hp, seeds.run_key(cfg.seed, "lr_range"), data, n_chunks, chunk,
                           cfg.n_batch, cfg.range_kind)
        lo, hi = lr_range.suggest(out)
        logging.info("LR range test: eta_min %.3g, eta_max %.3g (%.0fs)", lo, hi,
                     time.perf_counter() - t1)
        results.write_csv(workdir / "lr_range.csv", [
            {k: float(out[k][i]) for k in ("eta", "batch_cost", "val_loss", "val_accuracy")}
            for i in range(n_chunks)])
        range_figure(out, lo, hi, f"LR range test (m={cfg.m}, lambda={cfg.lam:g})",
                     workdir / "lr_range.png")
        extra["lr_range"] = {"eta_min": lo, "eta_max": hi, "kind": cfg.range_kind,
                             "best_val_accuracy": float(np.max(out["val_accuracy"])),
                             "seconds": time.perf_counter() - t1}
        if cfg.use_range:
            eta_min, eta_max = lo, hi
        write_results()

    if "wide" in cfg.studies:
        name = f"wide_m{cfg.m}_clr"
        trainer = make_trainer(optimizers.cyclical_sgd)
        hp = train.as_hparams(lam=cfg.lam, eta_min=eta_min, eta_max=eta_max, n_s=cfg.n_s)
        y = np.argmax(np.asarray(data["Y_test"]), -1)
        rs = []
        for seed in seed_list:  # one seed after another: the snapshots are per run (docstring)
            r = train.fit_and_test(trainer, hp, seeds.run_key(seed, name), data, n_epochs,
                                   name=name, snapshot_every=2 * cfg.n_s)
            P = ensemble.probabilities(model, r.snapshots, data["X_test"])
            snap_acc = [float(np.mean(np.argmax(np.asarray(p), -1) == y)) for p in P]
            r.metrics.update({
                "snapshot_test_accuracies": snap_acc,
                "ensemble_majority_vote_test_accuracy": float(np.mean(
                    np.asarray(ensemble.majority_vote(P)) == y)),
                "ensemble_mean_probability_test_accuracy": float(np.mean(
                    np.asarray(ensemble.mean_probability(P)) == y))})
            logging.info("%s, seed %d: snapshots %s; ensemble majority vote %.4f, mean "
                         "probability %.4f", name, seed, np.round(snap_acc, 4),
                         r.metrics["ensemble_majority_vote_test_accuracy"],
                         r.metrics["ensemble_mean_probability_test_accuracy"])
            rs.append(r)
        record(name, rs, {"optimizer": "cyclical sgd", "eta_min": eta_min, "eta_max": eta_max,
                          "n_s": cfg.n_s, "n_cycles": cfg.n_cycles},
               lambda run: f"cyclical SGD [{eta_min:.2g}, {eta_max:.2g}]; test "
                           f"{results.format_summary(run, 'test_accuracy')}, ensemble "
                           + results.format_summary(run,
                                                    "ensemble_mean_probability_test_accuracy"))

    if "adam" in cfg.studies:
        def adam(hp):
            return optax.adam(hp["lr"], b1=0.9, b2=0.999, eps=1e-8)
        name = f"wide_m{cfg.m}_adam"
        # the key is run_key(seed, name): a run gives the same numbers alone or among others
        rs = seeds.fit_and_test(make_trainer(adam), train.as_hparams(lam=cfg.lam, lr=cfg.adam_lr),
                                seed_list, data, n_epochs, name=name)
        record(name, rs, {"optimizer": "adam", "lr": cfg.adam_lr},
               lambda run: f"Adam lr {cfg.adam_lr:g}; test "
                           f"{results.format_summary(run, 'test_accuracy')}")

    for r in runs:
        line = f"{r['name']:>18}: test accuracy {results.format_summary(r, 'test_accuracy')}"
        if "ensemble_mean_probability_test_accuracy" in r["metrics"]:
            line += (f"; snapshot ensemble: majority vote "
                     f"{results.format_summary(r, 'ensemble_majority_vote_test_accuracy')}, "
                     f"mean probability "
                     f"{results.format_summary(r, 'ensemble_mean_probability_test_accuracy')}")
        print(line)
    if "lr_range" in extra:
        print(f"LR range test: eta_min {extra['lr_range']['eta_min']:.3g}, "
              f"eta_max {extra['lr_range']['eta_max']:.3g}")


if __name__ == "__main__":
    common.run(main)
