"""DD2424 Assignment 3: k-layer MLPs with and without batch normalisation, and the sensitivity to
the initialisation (specs.md section 5).

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

import time

import jax
from absl import app, flags, logging

from experiments import common, cyclic_mlp
from jaxdl.models import mlp
from jaxdl import plots, results, train
from jaxdl.data import cifar10
from jaxdl.layers import initializers

flags.DEFINE_list("studies", ["main", "sensitivity"], "Which studies to run: main, sensitivity.")
flags.DEFINE_string("hidden_sets", "50,50;50,30,20,20,10,10,10,10",
                    "Main study: semicolon-separated architectures, each comma-separated hidden "
                    "widths.")
flags.DEFINE_list("bn_modes", ["off", "on"], "Batch normalisation off and/or on.")
flags.DEFINE_string("sigmas", "1e-1,1e-3,1e-4", "Sensitivity study: the init std of every W.")
flags.DEFINE_string("sigma_hidden", "50,50", "Sensitivity study: hidden widths.")
flags.DEFINE_float("lam", 0.005, "L2 weight lambda.")
flags.DEFINE_float("eta_min", 1e-5, "Lowest learning rate of the cycle.")
flags.DEFINE_float("eta_max", 1e-1, "Highest learning rate of the cycle.")
flags.DEFINE_integer("n_s", 2250, "Half-cycle length in updates.")
flags.DEFINE_integer("n_cycles", 2, "Number of cycles.")
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.")
flags.DEFINE_integer("n_val", 5000, "Validation images held out of the 50k training images.")
flags.DEFINE_enum("init", "he", ["he", "xavier"], "Main study's W initialiser.")
flags.DEFINE_bool("shuffle", True, "Reshuffle the training data every epoch.")
flags.DEFINE_float("bn_alpha", 0.9, "BN running-average momentum alpha.")
flags.DEFINE_float("bn_eps", 1e-8, "BN epsilon added to the variance.")
flags.DEFINE_float("dropout", 0.0, "Dropout rate after every hidden ReLU (0: none).")
flags.DEFINE_integer("epochs_per_eval", 1, "Epochs between evaluations.")

FLAGS = flags.FLAGS


def _widths(text: str, flag: str) -> list[int]:
    widths = common.parse_ints(text, flag)
    common.require(bool(widths) and all(m > 0 for m in widths), flag,
                   f"expected positive comma-separated widths, got {text!r}")
    return widths


def validate_flags() -> dict:
    studies = set(FLAGS.studies)
    common.require(bool(studies) and studies <= {"main", "sensitivity"}, "studies",
                   "expected main and/or sensitivity")
    bn_modes = FLAGS.bn_modes
    common.require(bool(bn_modes) and set(bn_modes) <= {"off", "on"}, "bn_modes",
                   "expected off and/or on")
    hidden_sets = [_widths(t, "hidden_sets") for t in FLAGS.hidden_sets.split(";") if t.strip()]
    common.require(bool(hidden_sets), "hidden_sets", "is empty")
    sigmas = common.parse_floats(FLAGS.sigmas, "sigmas")
    common.require(all(s > 0 for s in sigmas), "sigmas", "must be > 0")
    sigma_hidden = _widths(FLAGS.sigma_hidden, "sigma_hidden")
    common.require(FLAGS.lam >= 0, "lam", "must be >= 0")
    common.require(0 < FLAGS.eta_min <= FLAGS.eta_max, "eta_min", "needs 0 < eta_min <= eta_max")
    common.require(FLAGS.n_s > 0, "n_s", "must be > 0")
    common.require(FLAGS.n_cycles > 0, "n_cycles", "must be > 0")
    common.require(0 < FLAGS.n_val < 50000, "n_val", "must lie in 1..49999")
    n_train = 50000 - FLAGS.n_val
    common.require(0 < FLAGS.n_batch <= n_train, "n_batch",
                   f"must lie in 1..{n_train} (the training samples)")
    common.require(0 < FLAGS.bn_alpha < 1, "bn_alpha", "must lie in (0, 1)")
    common.require(FLAGS.bn_eps > 0, "bn_eps", "must be > 0")
    common.require(0 <= FLAGS.dropout < 1, "dropout", "must lie in [0, 1)")
    common.require(FLAGS.epochs_per_eval > 0, "epochs_per_eval", "must be > 0")
    steps_per_epoch = n_train // FLAGS.n_batch
    n_epochs = cyclic_mlp.n_epochs_for(FLAGS.n_s, FLAGS.n_cycles, steps_per_epoch)
    common.require(n_epochs is not None and n_epochs % FLAGS.epochs_per_eval == 0, "n_s",
                   f"{FLAGS.n_cycles} cycles of 2*{FLAGS.n_s} updates is not a whole number of "
                   f"{FLAGS.epochs_per_eval}-epoch segments of {steps_per_epoch} updates")
    return {"studies": studies, "bn_modes": bn_modes, "hidden_sets": hidden_sets,
            "sigmas": sigmas, "sigma_hidden": sigma_hidden, "n_epochs": n_epochs}


def plan(cfg: dict) -> list[dict]:
    """Every run: name, study, hidden, bn, sigma (None: the --init initialiser)."""
    runs = []
    if "main" in cfg["studies"]:
        for hidden in cfg["hidden_sets"]:
            for mode in cfg["bn_modes"]:
                runs.append({"name": f"{len(hidden) + 1}layer_bn{mode}", "study": "main",
                             "hidden": hidden, "bn": mode == "on", "sigma": None})
    if "sensitivity" in cfg["studies"]:
        for sigma in cfg["sigmas"]:
            for mode in cfg["bn_modes"]:
                runs.append({"name": f"sigma{sigma:g}_bn{mode}", "study": "sensitivity",
                             "hidden": cfg["sigma_hidden"], "bn": mode == "on", "sigma": sigma})
    return runs


def main(argv):
    del argv
    cfg = validate_flags()
    workdir = common.workdir()
    t0 = time.perf_counter()
    splits = cifar10.load_splits("all", FLAGS.data_dir, n_val=FLAGS.n_val)
    data = train.to_device({"X_train": splits["train"].X, "Y_train": splits["train"].Y,
                            "X_val": splits["val"].X, "Y_val": splits["val"].Y})
    test = cyclic_mlp.device_split(splits["test"])
    hp = cyclic_mlp.hparams(FLAGS.lam, FLAGS.eta_min, FLAGS.eta_max, FLAGS.n_s)
    n_train = len(splits["train"].X)

    def build(hidden, bn, w_init):
        return mlp.mlp(hidden, cifar10.N_CLASSES, bn=bn, w_init=w_init,
                          dropout_rate=FLAGS.dropout, bn_alpha=FLAGS.bn_alpha,
                          bn_eps=FLAGS.bn_eps)

    trainers = {}  # (hidden, bn) -> trainer: one compiled program per architecture
    runs, histories = [], {}
    for i, spec in enumerate(plan(cfg)):
        arch = (tuple(spec["hidden"]), spec["bn"])
        if arch not in trainers:
            trainers[arch] = cyclic_mlp.make_trainer(
                build(spec["hidden"], spec["bn"], initializers.by_name(FLAGS.init)), n_train,
                FLAGS.n_batch, shuffle=FLAGS.shuffle, grad=FLAGS.grad,
                epochs_per_eval=FLAGS.epochs_per_eval)
        init_model = (None if spec["sigma"] is None else
                      build(spec["hidden"], spec["bn"], initializers.normal(spec["sigma"])))
        key = jax.random.fold_in(jax.random.PRNGKey(FLAGS.seed), i)
        name = spec["name"]
        r = cyclic_mlp.run(trainers[arch], hp, key, data, test, cfg["n_epochs"], name=name,
                           init_model=init_model,
                           checkpoint=workdir / f"checkpoint_{name}.msgpack")
        histories[name] = r.history
        runs.append({"name": name,
                     "config": {"study": spec["study"], "hidden": spec["hidden"],
                                "bn": spec["bn"], "init": (FLAGS.init if spec["sigma"] is None
                                                           else f"normal({spec['sigma']:g})"),
                                "lam": FLAGS.lam, "eta_min": FLAGS.eta_min,
                                "eta_max": FLAGS.eta_max, "n_s": FLAGS.n_s,
                                "n_cycles": FLAGS.n_cycles, "n_epochs": cfg["n_epochs"],
                                "n_batch": FLAGS.n_batch, "dropout": FLAGS.dropout},
                     "metrics": r.metrics})
        results.write_csv(workdir / f"history_{name}.csv", r.history)
        plots.curve_panels(r.history, workdir / f"curves_{name}.png", x="step",
                           title=f"A3 {name}: hidden {spec['hidden']}, test acc "
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
    app.run(common.main_wrapper(main))
