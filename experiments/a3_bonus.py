"""DD2424 Assignment 3, bonus exercises: BN after the ReLU, PreciseBN, skip connections in a deep
net, and a wide deep BN net with augmentation, each trained by SGD under the cyclical learning
rate.

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
curves_<run>.png into --workdir. With --seeds N each run trains at N seeds as one vmapped program
and PreciseBN is recomputed for each seed's final state: results.json gives each seed's metrics
and their mean +- std, the curves the mean in a min-max band.
"""

from __future__ import annotations

import time

import jax
from absl import flags, logging

from experiments import common
from jaxdl import optimizers, plots, precise_bn, results, samplers, seeds, train
from jaxdl.data import augment, cifar10
from jaxdl.layers import losses
from jaxdl.models import mlp

STUDIES = ("bn_after", "skip", "wide")
flags.DEFINE_list("studies", list(STUDIES), f"Which studies to run, of {STUDIES}.")
flags.DEFINE_string("hidden", "50,50", "Hidden widths of the bn_after study.")
flags.DEFINE_float("lam", 0.005, "L2 weight lambda of the bn_after and skip studies.",
                   lower_bound=0.0)
flags.DEFINE_float("eta_min", 1e-5, "Lowest cyclical learning rate.")
flags.DEFINE_float("eta_max", 1e-1, "Highest cyclical learning rate.")
flags.DEFINE_integer("n_s", 2250, "Half-cycle of the bn_after and skip studies (5 * 45000 / 100).",
                     lower_bound=1)
flags.DEFINE_integer("n_cycles", 2, "Cycles of the bn_after and skip studies.", lower_bound=1)
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.")
flags.DEFINE_integer("n_val", 5000, "Validation size of the bn_after and skip studies.",
                     lower_bound=1)
flags.DEFINE_integer("skip_width", 50, "Width of every layer of the skip-connection net.",
                     lower_bound=1)
flags.DEFINE_integer("skip_blocks", 3, "Two-layer blocks of the skip-connection net.",
                     lower_bound=1)
flags.DEFINE_string("wide_hidden", "500,250,100,50", "Hidden widths of the wide BN net.")
flags.DEFINE_float("wide_lam", 0.002, "L2 weight lambda of the wide BN net.", lower_bound=0.0)
flags.DEFINE_integer("wide_n_s", 2450, "Half-cycle of the wide BN net (5 * 49000 / 100).",
                     lower_bound=1)
flags.DEFINE_integer("wide_cycles", 3, "Cycles of the wide BN net.", lower_bound=1)
flags.DEFINE_integer("wide_n_val", 1000, "Validation size of the wide BN net.", lower_bound=1)
flags.DEFINE_integer("max_shift", 3, "Translations of the wide net in [-max_shift, max_shift].",
                     lower_bound=0, upper_bound=8)
flags.DEFINE_integer("precise_n", 10000, "Training samples PreciseBN recomputes statistics on.",
                     lower_bound=1)
flags.DEFINE_integer("epochs_per_eval", 1, "Epochs between evaluations.", lower_bound=1)
flags.register_validator("studies", lambda v: bool(v) and set(v) <= set(STUDIES),
                         f"expected a comma-separated list of {STUDIES}")
flags.register_validator("n_batch", lambda v: v > 1, "must be > 1 (batch normalisation)")
common.register_positive_range("eta_min", "eta_max")
common.define_seeds_flag()
flags.mark_flag_as_required("workdir")

FLAGS = flags.FLAGS


def config_from_flags():
    widths = {flag: common.parse_widths(FLAGS[flag].value, flag)
              for flag in ("hidden", "wide_hidden")}
    for flag in ("n_val", "wide_n_val"):
        common.require(FLAGS[flag].value < 50000 - FLAGS.n_batch, flag,
                       f"must lie in 1..{50000 - FLAGS.n_batch - 1}")
    return common.config(__name__, **widths, cpu_devices=common.cpu_devices(FLAGS.cpu_devices))


def main(argv):
    del argv
    cfg = config_from_flags()
    common.use_cpu_devices(cfg.cpu_devices)  # before JAX starts its backends
    workdir = common.workdir()
    t0 = time.perf_counter()
    runs, seed_list = [], common.seed_values(cfg)

    def train_one(name, model, data, hp, n_epochs, aug=None, config=None):
        """One run with the EMA and the PreciseBN test accuracy; config holds lam and n_s."""
        trainer = train.make_trainer(model, losses.softmax_cross_entropy, optimizers.cyclical_sgd,
                                     samplers.shuffled_batches(cfg.n_batch,
                                                               data["X_train"].shape[0]),
                                     grad=cfg.grad, epochs_per_eval=cfg.epochs_per_eval,
                                     augment=aug)
        # the key is run_key(seed, name): a run gives the same numbers alone or among others
        rs = seeds.fit_and_test(trainer, hp, seed_list, data, n_epochs, name=name)
        evaluate = jax.jit(trainer.evaluate)
        for seed, r in zip(seed_list, rs):  # PreciseBN on each seed's own final state
            p = r.state.params
            precise = precise_bn.recompute(model, p, r.state.state,
                                           data["X_train"][:cfg.precise_n])
            for split in ("test", "val"):
                r.metrics[f"{split}_accuracy_precise_bn"] = float(evaluate(
                    p, precise, hp, data[f"X_{split}"], data[f"Y_{split}"])["accuracy"])
            logging.info("%s, seed %d: test accuracy %.4f with EMA statistics, %.4f with "
                         "PreciseBN", name, seed, r.metrics["test_accuracy"],
                         r.metrics["test_accuracy_precise_bn"])
        run = results.seeded_run(name, {**config, "eta_min": cfg.eta_min, "eta_max": cfg.eta_max,
                                        "n_epochs": n_epochs, "n_batch": cfg.n_batch},
                                 seed_list, [r.metrics for r in rs])
        runs.append(run)
        results.write_histories(workdir / f"history_{name}.csv", [r.history for r in rs],
                                seed_list)
        plots.curve_panels([r.history for r in rs], workdir / f"curves_{name}.png",
                           title=f"A3 bonus {name}: test "
                                 f"{results.format_summary(run, 'test_accuracy')} (PreciseBN "
                                 f"{results.format_summary(run, 'test_accuracy_precise_bn')})")
        results.write_results(workdir, "a3_bonus", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0)

    def load(n_val, lam, n_s, n_cycles, prefix):
        """The data, hp and epochs of the small studies (prefix "") or the wide one ("wide_")."""
        data = cifar10.device_splits(common.cifar10_splits("all", n_val, f"{prefix}n_val"))
        hp = train.as_hparams(lam=lam, eta_min=cfg.eta_min, eta_max=cfg.eta_max, n_s=n_s)
        epochs = common.cycle_epochs(n_s, n_cycles, data["X_train"].shape[0] // cfg.n_batch,
                                     cfg.epochs_per_eval, f"{prefix}n_s")
        return data, hp, epochs

    if "bn_after" in cfg.studies or "skip" in cfg.studies:
        data, hp, epochs = load(cfg.n_val, cfg.lam, cfg.n_s, cfg.n_cycles, "")
        if "bn_after" in cfg.studies:
            for name, model in (("bn_before_relu", mlp.mlp(cfg.hidden, cifar10.N_CLASSES,
                                                           bn=True)),
                                ("bn_after_relu", mlp.mlp_bn_after_relu(cfg.hidden,
                                                                        cifar10.N_CLASSES))):
                train_one(name, model, data, hp, epochs,
                          config={"hidden": list(cfg.hidden), "lam": cfg.lam, "n_s": cfg.n_s})
        if "skip" in cfg.studies:
            for skip in (True, False):
                model = mlp.skip_mlp(cfg.skip_width, cfg.skip_blocks, cifar10.N_CLASSES,
                                     skip=skip)
                train_one(f"deep{2 + 2 * cfg.skip_blocks}_{'skip' if skip else 'plain'}",
                          model, data, hp, epochs,
                          config={"width": cfg.skip_width, "blocks": cfg.skip_blocks,
                                  "skip": skip, "lam": cfg.lam, "n_s": cfg.n_s})
    if "wide" in cfg.studies:
        data, hp, epochs = load(cfg.wide_n_val, cfg.wide_lam, cfg.wide_n_s, cfg.wide_cycles,
                                "wide_")
        train_one("wide_bn", mlp.mlp(cfg.wide_hidden, cifar10.N_CLASSES, bn=True), data, hp,
                  epochs, aug=augment.make_augment(True, cfg.max_shift),
                  config={"hidden": list(cfg.wide_hidden), "flip": True,
                          "max_shift": cfg.max_shift, "lam": cfg.wide_lam, "n_s": cfg.wide_n_s})
    for r in runs:
        print(f"{r['name']:>16}: test accuracy {results.format_summary(r, 'test_accuracy')} "
              f"(PreciseBN {results.format_summary(r, 'test_accuracy_precise_bn')})")


if __name__ == "__main__":
    common.run(main)
