"""DD2424 Assignment 2: a two-layer ReLU network under a cyclical learning rate.

Default: the sheet's Exercises 3 and 4 on data batch 1 (train) / batch 2 (val) / test batch:
m = 50 hidden units, W1 ~ N(0, 1/d), W2 ~ N(0, 1/m), b = 0, lambda = .01, batch 100,
eta in [1e-5, 1e-1]; Ex 3 n_s = 500 for 1 cycle, Ex 4 n_s = 800 for 3 cycles; evaluated every
epoch (100 updates: 10 points per Ex 3 cycle, 16 per Ex 4 cycle) and at step 0.

    python -m experiments.a2_two_layer --workdir runs/a2
    # sheet: test accuracy 45.85 % (Ex 3) and 47.47 % (Ex 4)

Writes results.json, history_<run>.csv and curves_<run>.png (cost, loss, accuracy against the
update step, train and val) into --workdir. With --seeds N each run trains at N seeds as one
vmapped program: results.json gives each seed's metrics and their mean +- std, the curves the mean
in a min-max band.
"""

from __future__ import annotations

import dataclasses
import time

from absl import flags, logging

from experiments import common
from jaxdl import optimizers, plots, results, samplers, seeds, train
from jaxdl.data import cifar10
from jaxdl.layers import initializers, losses
from jaxdl.models import mlp

flags.DEFINE_string("names", "ex3,ex4", "Comma-separated name of each run.")
flags.DEFINE_string("n_s", "500,800", "Comma-separated half-cycle length n_s of each run.")
flags.DEFINE_string("n_cycles", "1,3", "Comma-separated number of cycles of each run.")
flags.DEFINE_string("hidden", "50", "Comma-separated hidden widths (one value: two layers).")
flags.DEFINE_float("lam", 0.01, "L2 weight lambda.", lower_bound=0.0)
flags.DEFINE_float("eta_min", 1e-5, "Lowest learning rate of the cycle.")
flags.DEFINE_float("eta_max", 1e-1, "Highest learning rate of the cycle.")
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.", lower_bound=1)
flags.DEFINE_enum("init", "xavier", ["xavier", "he", "normal"],
                  "W initialiser: xavier = the sheet's std 1/sqrt(fan_in); normal needs "
                  "--init_std.")
flags.DEFINE_float("init_std", 0.01, "Std of --init=normal.")
flags.DEFINE_bool("shuffle", True, "Reshuffle the training data every epoch.")
flags.DEFINE_enum("split", "a1", ["a1", "all"],
                  "a1: batch 1 / batch 2 / test; all: five batches minus --n_val for validation.")
flags.DEFINE_integer("n_val", 5000, "Validation size with --split=all.", lower_bound=1,
                     upper_bound=49999)
flags.DEFINE_integer("epochs_per_eval", 1, "Epochs between evaluations.", lower_bound=1)
flags.register_validator("init_std", lambda v: v > 0, "must be > 0")
common.register_positive_range("eta_min", "eta_max")
common.define_seeds_flag()
flags.mark_flag_as_required("workdir")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    n_s: int
    n_cycles: int
    n_epochs: int


def config_from_flags():
    names = [v.strip() for v in FLAGS.names.split(",") if v.strip()]
    n_s = common.parse_ints(FLAGS.n_s, "n_s")
    n_cycles = common.parse_ints(FLAGS.n_cycles, "n_cycles")
    hidden = common.parse_widths(FLAGS.hidden, "hidden")
    common.require(len(n_s) == len(names), "n_s", f"gives {len(n_s)} values for {len(names)} "
                   "--names")
    common.require(len(n_cycles) == len(names), "n_cycles",
                   f"gives {len(n_cycles)} values for {len(names)} --names")
    common.require(len(set(names)) == len(names), "names", "must be distinct")
    common.require(all(v > 0 for v in n_s), "n_s", "must be > 0")
    common.require(all(v > 0 for v in n_cycles), "n_cycles", "must be > 0")
    n_train = 10000 if FLAGS.split == "a1" else 50000 - FLAGS.n_val
    common.require(FLAGS.n_batch <= n_train, "n_batch", f"exceeds the {n_train} training samples")
    steps_per_epoch = n_train // FLAGS.n_batch
    runs = tuple(Run(name, ns, nc, common.cycle_epochs(ns, nc, steps_per_epoch,
                                                       FLAGS.epochs_per_eval))
                 for name, ns, nc in zip(names, n_s, n_cycles))
    return common.config(__name__, runs=runs, hidden=hidden,
                         cpu_devices=common.cpu_devices(FLAGS.cpu_devices))


def main(argv):
    del argv
    cfg = config_from_flags()
    common.use_cpu_devices(cfg.cpu_devices)  # before JAX starts its backends
    workdir = common.workdir()
    t0 = time.perf_counter()
    data = cifar10.device_splits(cifar10.load_splits(cfg.split, cfg.data_dir, n_val=cfg.n_val))
    init = initializers.by_name(cfg.init, cfg.init_std if cfg.init == "normal" else None)
    trainer = train.make_trainer(
        mlp.mlp(cfg.hidden, cifar10.N_CLASSES, w_init=init), losses.softmax_cross_entropy,
        optimizers.cyclical_sgd,
        samplers.epoch_batches(cfg.n_batch, data["X_train"].shape[0], shuffle=cfg.shuffle),
        grad=cfg.grad, epochs_per_eval=cfg.epochs_per_eval)
    runs, seed_list = [], common.seed_values(cfg)
    for run in cfg.runs:
        hp = train.as_hparams(lam=cfg.lam, eta_min=cfg.eta_min, eta_max=cfg.eta_max, n_s=run.n_s)
        logging.info("%s: n_s=%d, %d cycles = %d epochs", run.name, run.n_s, run.n_cycles,
                     run.n_epochs)
        # the key is run_key(seed, name): a run gives the same numbers alone or among others
        rs = seeds.fit_and_test(trainer, hp, seed_list, data, run.n_epochs, name=run.name,
                                eval_at_start=True,
                                checkpoint=common.checkpoint_path(
                                    workdir, f"checkpoint_{run.name}.msgpack"),
                                identity=common.identity(
                                    cfg, exclude=("names", "n_s", "n_cycles", "runs",
                                                  "cpu_devices"),
                                    n_s=run.n_s))
        runs.append(results.seeded_run(
            run.name, {"hidden": list(cfg.hidden), "lam": cfg.lam, "eta_min": cfg.eta_min,
                       "eta_max": cfg.eta_max, "n_s": run.n_s, "n_cycles": run.n_cycles,
                       "n_epochs": run.n_epochs, "n_batch": cfg.n_batch, "init": cfg.init},
            seed_list, [r.metrics for r in rs]))
        histories = [r.history for r in rs]
        results.write_histories(workdir / f"history_{run.name}.csv", histories, seed_list)
        plots.curve_panels(histories, workdir / f"curves_{run.name}.png", x="step",
                           title=f"A2 {run.name}: m={list(cfg.hidden)}, lambda={cfg.lam:g}, "
                                 f"n_s={run.n_s}, {run.n_cycles} cycle(s); test acc "
                                 f"{results.format_summary(runs[-1], 'test_accuracy')}")
        results.write_results(workdir, "a2_two_layer", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0)
    for r in runs:
        print(f"{r['name']:>8}: test accuracy {results.format_summary(r, 'test_accuracy')}")


if __name__ == "__main__":
    common.run(main)
