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

Runs of one architecture share one compiled program (the initialiser is applied outside it).
Writes results.json, history_<run>.csv, curves_<run>.png per run, and comparison figures
(val loss of BN vs no BN per depth, sensitivity) into --workdir.
"""

from __future__ import annotations

import dataclasses
import time

import jax
from absl import flags, logging

from experiments import common
from jaxdl import optimizers, plots, results, samplers, train
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
    return common.config(__name__, runs=tuple(runs), n_epochs=n_epochs)


def main(argv):
    del argv
    cfg = config_from_flags()
    workdir = common.workdir()
    t0 = time.perf_counter()
    data = cifar10.device_splits(cifar10.load_splits("all", cfg.data_dir, n_val=cfg.n_val))
    hp = train.as_hparams(lam=cfg.lam, eta_min=cfg.eta_min, eta_max=cfg.eta_max, n_s=cfg.n_s)
    sampler = samplers.epoch_batches(cfg.n_batch, data["X_train"].shape[0], shuffle=cfg.shuffle)

    def build(run, w_init):
        return mlp.mlp(run.hidden, cifar10.N_CLASSES, bn=run.bn, w_init=w_init,
                       dropout_rate=cfg.dropout, bn_alpha=cfg.bn_alpha, bn_eps=cfg.bn_eps)

    trainers = {}  # (hidden, bn) -> trainer: one compiled program per architecture
    runs, histories = [], {}
    for i, run in enumerate(cfg.runs):
        arch = (run.hidden, run.bn)
        if arch not in trainers:
            trainers[arch] = train.make_trainer(
                build(run, initializers.by_name(cfg.init)), losses.softmax_cross_entropy,
                optimizers.cyclical_sgd, sampler, grad=cfg.grad,
                epochs_per_eval=cfg.epochs_per_eval)
        init_model = None if run.sigma is None else build(run, initializers.normal(run.sigma))
        r = train.fit_and_test(trainers[arch], hp,
                               jax.random.fold_in(jax.random.PRNGKey(cfg.seed), i), data,
                               cfg.n_epochs, name=run.name, eval_at_start=True,
                               init_model=init_model,
                               checkpoint=common.checkpoint_path(
                                   workdir, f"checkpoint_{run.name}.msgpack"),
                               identity=common.identity(
                                   cfg, exclude=STUDY_LISTS + ("n_cycles", "n_epochs"),
                                   **dataclasses.asdict(run), run_index=i))
        histories[run.name] = r.history
        runs.append({"name": run.name,
                     "config": {"study": run.study, "hidden": list(run.hidden), "bn": run.bn,
                                "init": (cfg.init if run.sigma is None
                                         else f"normal({run.sigma:g})"),
                                "lam": cfg.lam, "eta_min": cfg.eta_min, "eta_max": cfg.eta_max,
                                "n_s": cfg.n_s, "n_cycles": cfg.n_cycles,
                                "n_epochs": cfg.n_epochs, "n_batch": cfg.n_batch,
                                "dropout": cfg.dropout},
                     "metrics": r.metrics})
        results.write_csv(workdir / f"history_{run.name}.csv", r.history)
        plots.curve_panels(r.history, workdir / f"curves_{run.name}.png", x="step",
                           title=f"A3 {run.name}: hidden {list(run.hidden)}, test acc "
                                 f"{100 * r.metrics['test_accuracy']:.2f} %")
        results.write_results(workdir, "a3_kbn", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0)
    write_comparisons(workdir, runs, histories)
    for r in runs:
        print(f"{r['name']:>22}: test accuracy {100 * r['metrics']['test_accuracy']:.2f} %")


def write_comparisons(workdir, runs, histories) -> None:
    """Train and val loss of BN off vs on, for each architecture and each sigma."""
    groups = {}
    for r in runs:
        group = r["name"].rsplit("_bn", 1)[0]  # 3layer, 9layer, sigma0.001, ...
        groups.setdefault(group, []).append(r["name"])
    for group, names in groups.items():
        rows = []  # one merged history with keys <run>_<split>_loss, plotted together
        for step_i in range(min(len(histories[n]) for n in names)):
            row = {"step": histories[names[0]][step_i]["step"]}
            for n in names:
                for split in ("train", "val"):
                    row[f"{n} {split}"] = histories[n][step_i][f"{split}_loss"]
            rows.append(row)
        keys = [k for k in rows[0] if k != "step"]
        plots.curves(rows, keys, workdir / f"loss_{group}.png", x="step",
                     title=f"A3 {group}: loss, BN off vs on")
    logging.info("comparison figures written for %s", sorted(groups))


if __name__ == "__main__":
    common.run(main)
