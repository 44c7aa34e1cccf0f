"""DD2424 Assignment 3: k-layer MLPs with and without batch normalisation, and the sensitivity to
the initialisation.

Default, the sheet's settings: 45k train / 5k val (the last 5k of the five batches) / test batch,
lambda = .005, batch 100, eta in [1e-5, 1e-1], n_s = 5 * 45000 / 100 = 2250, 2 cycles (9000
updates = 20 epochs), He init, reshuffled every epoch, evaluated every epoch and at step 0.
  main study:        3-layer [50, 50] and 9-layer [50, 30, 20, 20, 10, 10, 10, 10], BN off / on;
  sensitivity study: the 3-layer net with every W ~ N(0, sigma^2), sigma in {1e-1, 1e-3, 1e-4},
                     BN off / on.

    python -m experiments.a3_kbn --workdir runs/a3
    # sheet: 3-layer about 52 % (no BN) and 53.5 % (BN); students: 9-layer 42-49 % (no BN),
    # 51-52.5 % (BN); sigma = 1e-4 without BN collapses to 10 %, every BN run reaches 48-55 %

Runs of one architecture and initialiser share one compiled program (each sensitivity sigma has
its own: its initialiser runs inside the program that trains a run's seeds together).
Writes results.json, history_<run>.csv, curves_<run>.png per run, and comparison figures
(train and val loss of BN vs no BN per depth, sensitivity) into --workdir. With --seeds N each run
trains at N seeds as one vmapped program: results.json gives each seed's metrics and their mean
+- std, the curves and the comparison figures each run's mean in a min-max band.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from absl import flags, logging

from experiments import common
from jaxdl import optimizers, plots, results, samplers, seeds, train
from jaxdl.data import cifar10
from jaxdl.layers import initializers, losses
from jaxdl.models import mlp

flags.DEFINE_list("studies", ["main", "sensitivity"], "Which studies to run: main, sensitivity.")
flags.DEFINE_string("hidden_sets", "50,50;50,30,20,20,10,10,10,10",
                    "Main study: semicolon-separated architectures, each comma-separated hidden "
                    "widths.")
flags.DEFINE_list("bn_modes", ["off", "on"], "Batch normalisation off and/or on.")
flags.DEFINE_string("sigmas", "1e-1,1e-3,1e-4", "Sensitivity study: the init std of every W.")
flags.DEFINE_string("sigma_hidden", "50,50", "Sensitivity study: hidden widths.")
flags.DEFINE_float("lam", 0.005, "L2 weight lambda.", lower_bound=0.0)
flags.DEFINE_float("eta_min", 1e-5, "Lowest learning rate of the cycle.")
flags.DEFINE_float("eta_max", 1e-1, "Highest learning rate of the cycle.")
flags.DEFINE_integer("n_s", 2250, "Half-cycle length in updates.", lower_bound=1)
flags.DEFINE_integer("n_cycles", 2, "Number of cycles.", lower_bound=1)
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.", lower_bound=1)
flags.DEFINE_integer("n_val", 5000, "Validation images held out of the 50k training images.",
                     lower_bound=1, upper_bound=49999)
flags.DEFINE_enum("init", "he", ["he", "xavier"], "Main study's W initialiser.")
flags.DEFINE_bool("shuffle", True, "Reshuffle the training data every epoch.")
flags.DEFINE_float("bn_alpha", 0.9, "BN running-average momentum alpha.")
flags.DEFINE_float("bn_eps", 1e-8, "BN epsilon added to the variance.")
flags.DEFINE_float("dropout", 0.0, "Dropout rate after every hidden ReLU (0: none).")
flags.DEFINE_integer("epochs_per_eval", 1, "Epochs between evaluations.", lower_bound=1)
flags.register_validator("studies", lambda v: bool(v) and set(v) <= {"main", "sensitivity"},
                         "expected main and/or sensitivity")
flags.register_validator("bn_modes", lambda v: bool(v) and set(v) <= {"off", "on"},
                         "expected off and/or on")
flags.register_validator("bn_alpha", lambda v: 0 < v < 1, "must lie in (0, 1)")
flags.register_validator("bn_eps", lambda v: v > 0, "must be > 0")
flags.register_validator("dropout", lambda v: 0 <= v < 1, "must lie in [0, 1)")
common.register_positive_range("eta_min", "eta_max")
common.define_seeds_flag()
flags.mark_flag_as_required("workdir")

FLAGS = flags.FLAGS
# flags that list the study's runs: each run's identity holds its own entry (Run) instead
STUDY_LISTS = ("studies", "hidden_sets", "bn_modes", "sigmas", "sigma_hidden", "runs")


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    study: str  # main or sensitivity
    hidden: tuple[int, ...]
    bn: bool
    sigma: float | None  # every W ~ N(0, sigma^2); None: the --init initialiser


def config_from_flags():
    hidden_sets = [common.parse_widths(t, "hidden_sets") for t in FLAGS.hidden_sets.split(";")
                   if t.strip()]
    common.require(bool(hidden_sets), "hidden_sets", "is empty")
    sigmas = common.parse_floats(FLAGS.sigmas, "sigmas")
    common.require(all(s > 0 for s in sigmas), "sigmas", "must be > 0")
    sigma_hidden = common.parse_widths(FLAGS.sigma_hidden, "sigma_hidden")
    n_train = 50000 - FLAGS.n_val
    common.require(FLAGS.n_batch <= n_train, "n_batch",
                   f"must lie in 1..{n_train} (the training samples)")
    n_epochs = common.cycle_epochs(FLAGS.n_s, FLAGS.n_cycles, n_train // FLAGS.n_batch,
                                   FLAGS.epochs_per_eval)
    runs = []
    if "main" in FLAGS.studies:
        for hidden in hidden_sets:
            for mode in FLAGS.bn_modes:
                runs.append(Run(f"{len(hidden) + 1}layer_bn{mode}", "main", hidden, mode == "on",
                                None))
    if "sensitivity" in FLAGS.studies:
        for sigma in sigmas:
            for mode in FLAGS.bn_modes:
                runs.append(Run(f"sigma{sigma:g}_bn{mode}", "sensitivity", sigma_hidden,
                                mode == "on", sigma))
    return common.config(__name__, runs=tuple(runs), n_epochs=n_epochs,
                         cpu_devices=common.cpu_devices(FLAGS.cpu_devices))


def main(argv):
    del argv
    cfg = config_from_flags()
    common.use_cpu_devices(cfg.cpu_devices)  # before JAX starts its backends
    workdir = common.workdir()
    t0 = time.perf_counter()
    data = cifar10.device_splits(cifar10.load_splits("all", cfg.data_dir, n_val=cfg.n_val))
    hp = train.as_hparams(lam=cfg.lam, eta_min=cfg.eta_min, eta_max=cfg.eta_max, n_s=cfg.n_s)
    sampler = samplers.epoch_batches(cfg.n_batch, data["X_train"].shape[0], shuffle=cfg.shuffle)

    def build(run, w_init):
        return mlp.mlp(run.hidden, cifar10.N_CLASSES, bn=run.bn, w_init=w_init,
                       dropout_rate=cfg.dropout, bn_alpha=cfg.bn_alpha, bn_eps=cfg.bn_eps)

    trainers = {}  # (hidden, bn, sigma) -> trainer: one compiled program per architecture and
    # initialiser (a sigma run's seeds draw their initial weights inside the vmapped program)
    runs, histories, seed_list = [], {}, common.seed_values(cfg)
    for run in cfg.runs:
        arch = (run.hidden, run.bn, run.sigma)
        if arch not in trainers:
            w_init = (initializers.by_name(cfg.init) if run.sigma is None
                      else initializers.normal(run.sigma))
            trainers[arch] = train.make_trainer(
                build(run, w_init), losses.softmax_cross_entropy, optimizers.cyclical_sgd,
                sampler, grad=cfg.grad, epochs_per_eval=cfg.epochs_per_eval)
        # the key is run_key(seed, name): a run gives the same numbers alone or among others
        rs = seeds.fit_and_test(trainers[arch], hp, seed_list, data, cfg.n_epochs,
                                name=run.name, eval_at_start=True,
                                checkpoint=common.checkpoint_path(
                                    workdir, f"checkpoint_{run.name}.msgpack"),
                                identity=common.identity(
                                    cfg, exclude=STUDY_LISTS + ("n_cycles", "n_epochs",
                                                                "cpu_devices"),
                                    **dataclasses.asdict(run)))
        histories[run.name] = [r.history for r in rs]
        runs.append(results.seeded_run(
            run.name, {"study": run.study, "hidden": list(run.hidden), "bn": run.bn,
                       "init": cfg.init if run.sigma is None else f"normal({run.sigma:g})",
                       "lam": cfg.lam, "eta_min": cfg.eta_min, "eta_max": cfg.eta_max,
                       "n_s": cfg.n_s, "n_cycles": cfg.n_cycles, "n_epochs": cfg.n_epochs,
                       "n_batch": cfg.n_batch, "dropout": cfg.dropout},
            seed_list, [r.metrics for r in rs]))
        results.write_histories(workdir / f"history_{run.name}.csv", histories[run.name],
                                seed_list)
        plots.curve_panels(histories[run.name], workdir / f"curves_{run.name}.png", x="step",
                           title=f"A3 {run.name}: hidden {list(run.hidden)}, test acc "
                                 f"{results.format_summary(runs[-1], 'test_accuracy')}")
        results.write_results(workdir, "a3_kbn", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0)
    write_comparisons(workdir, runs, histories)
    for r in runs:
        print(f"{r['name']:>22}: test accuracy {results.format_summary(r, 'test_accuracy')}")


def write_comparisons(workdir, runs: list[dict], histories: dict[str, list[list[dict]]]) -> None:
    """Train and val loss of BN off vs on, for each architecture and each sigma: each run's mean
    over its seeds, in a band from their min to their max (several seeds)."""
    groups = {}
    for r in runs:
        group = r["name"].rsplit("_bn", 1)[0]  # 3layer, 9layer, sigma0.001, ...
        groups.setdefault(group, []).append(r["name"])
    n_seeds = len(next(iter(histories.values())))
    for group, names in groups.items():
        fig, ax = plots.subplots(figsize=(5, 3.5))
        for n in names:
            hists = histories[n]
            n_evals = min(len(h) for h in hists)  # a diverged seed stops early
            xs = [h["step"] for h in hists[0][:n_evals]]
            for split in ("train", "val"):
                values = np.array([[e[f"{split}_loss"] for e in h[:n_evals]] for h in hists],
                                  np.float64)
                (line,) = ax.plot(xs, values.mean(0), label=f"{n} {split}".replace("_", " "))
                if n_seeds > 1:
                    ax.fill_between(xs, values.min(0), values.max(0), color=line.get_color(),
                                    alpha=0.25, linewidth=0)
        ax.set_xlabel("update step")
        ax.set_title(f"A3 {group}: loss, BN off vs on"
                     + (f" (mean, min-max of {n_seeds} seeds)" if n_seeds > 1 else ""))
        ax.legend()
        ax.grid(alpha=0.3)
        plots.save(fig, workdir / f"loss_{group}.png")
    logging.info("comparison figures written for %s", sorted(groups))

if __name__ == "__main__":
    common.run(main)
