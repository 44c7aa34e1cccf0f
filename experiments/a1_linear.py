"""DD2424 Assignment 1: a one-layer softmax classifier on CIFAR-10.

Default: the sheet's four settings (lam, eta) = (0, .1), (0, .001), (.1, .001), (1, .001),
40 epochs, batch 100, W and b ~ N(0, .01^2), reshuffled every epoch; data batch 1 train / 2 val /
test batch.

    python -m experiments.a1_linear --workdir runs/a1
    # expected test accuracy about 29 / 39 / 39.5 / 37.5 %
    # (a reference solution: 29.30 / 39.27 / 39.59 / 38.01)

Writes results.json, history_<run>.csv, curves_<run>.png and templates_<run>.png into --workdir.
With --seeds N each run trains at N seeds as one vmapped program: results.json gives each seed's
metrics and their mean +- std, the curves the mean in a min-max band, the templates the first seed.
"""

from __future__ import annotations

import time

import numpy as np
import optax
from absl import flags

from experiments import common
from jaxdl import plots, results, samplers, seeds, train
from jaxdl.data import cifar10
from jaxdl.layers import losses
from jaxdl.models import mlp

flags.DEFINE_string("lams", "0,0,0.1,1", "Comma-separated lambda of each run.")
flags.DEFINE_string("etas", "0.1,0.001,0.001,0.001", "Comma-separated eta of each run.")
flags.DEFINE_integer("n_epochs", 40, "Epochs per run.", lower_bound=1)
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.", lower_bound=1)
flags.DEFINE_float("init_std", 0.01, "W and b ~ N(0, init_std^2).")
flags.DEFINE_bool("shuffle", True, "Reshuffle the training data every epoch (else the sheet's "
                  "fixed sequential batches).")
flags.DEFINE_enum("loss", "softmax_ce", ["softmax_ce", "mbce"],
                  "Softmax cross-entropy, or sigmoid + multiple binary cross-entropy.")
flags.DEFINE_enum("split", "a1", ["a1", "all"],
                  "a1: batch 1 / batch 2 / test; all: five batches minus --n_val for validation.")
flags.DEFINE_integer("n_val", 1000, "Validation size with --split=all.")
flags.register_validator("init_std", lambda v: v > 0, "must be > 0")
common.define_seeds_flag()
flags.mark_flag_as_required("workdir")

FLAGS = flags.FLAGS


def config_from_flags():
    lams = common.parse_floats(FLAGS.lams, "lams")
    etas = common.parse_floats(FLAGS.etas, "etas")
    common.require(len(lams) == len(etas), "etas",
                   f"gives {len(etas)} values but --lams gives {len(lams)}")
    common.require(all(v >= 0 for v in lams), "lams", "must be >= 0")
    common.require(all(v > 0 for v in etas), "etas", "must be > 0")
    return common.config(__name__, lams=tuple(lams), etas=tuple(etas),
                         cpu_devices=common.cpu_devices(FLAGS.cpu_devices))


def run_name(lam: float, eta: float) -> str:
    return f"lam{lam:g}_eta{eta:g}"


def main(argv):
    del argv
    cfg = config_from_flags()
    common.use_cpu_devices(cfg.cpu_devices)  # before JAX starts its backends
    workdir = common.workdir()
    t0 = time.perf_counter()
    data = cifar10.device_splits(common.cifar10_splits(cfg.split, cfg.n_val))
    n_train = data["X_train"].shape[0]
    common.require(cfg.n_batch <= n_train, "n_batch",
                   f"{cfg.n_batch} is larger than the {n_train} training samples")
    trainer = train.make_trainer(mlp.linear(cifar10.N_CLASSES, cfg.init_std),
                                 losses.by_name(cfg.loss), lambda hp: optax.sgd(hp["eta"]),
                                 samplers.epoch_batches(cfg.n_batch, n_train, shuffle=cfg.shuffle),
                                 grad=cfg.grad)
    runs, seed_list = [], common.seed_values(cfg)
    for lam, eta in zip(cfg.lams, cfg.etas):
        name = run_name(lam, eta)
        # the key is run_key(seed, name): a run gives the same numbers alone or among others
        rs = seeds.fit_and_test(trainer, train.as_hparams(lam=lam, eta=eta), seed_list, data,
                                cfg.n_epochs, name=name,
                                checkpoint=common.checkpoint_path(workdir,
                                                                  f"checkpoint_{name}.msgpack"),
                                identity=common.identity(cfg, exclude=("lams", "etas", "n_epochs",
                                                                       "cpu_devices"),
                                                         lam=lam, eta=eta))
        runs.append(results.seeded_run(
            name, {"lam": lam, "eta": eta, "n_epochs": cfg.n_epochs, "n_batch": cfg.n_batch,
                   "loss": cfg.loss}, seed_list,
            [{**r.metrics, "train_cost_epoch1": r.history[0]["train_cost"]} for r in rs]))
        results.write_histories(workdir / f"history_{name}.csv", [r.history for r in rs],
                                seed_list)
        plots.curve_panels([r.history for r in rs], workdir / f"curves_{name}.png",
                           panels=("cost", "loss"), title=f"A1, lambda={lam:g}, eta={eta:g}")
        W = np.asarray(rs[0].state.params[0]["W"])
        plots.image_montage(cifar10.vectors_to_images(W), workdir / f"templates_{name}.png",
                            titles=cifar10.label_names(cfg.data_dir),
                            title=f"class templates, lambda={lam:g}, eta={eta:g}, "
                                  f"seed {seed_list[0]}")
        # written after every run so an interrupted study keeps what it finished
        results.write_results(workdir, "a1_linear", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0)
    for r in runs:
        print(f"{r['name']:>20}: test accuracy {results.format_summary(r, 'test_accuracy')}")


if __name__ == "__main__":
    common.run(main)
