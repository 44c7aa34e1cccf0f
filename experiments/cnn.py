"""FMAN45 Assignment 3: CNNs on MNIST and CIFAR-10.

--arch starter: mnist_starter.m / cifar10_starter.m with training.m exactly: every iteration a
batch of 16 distinct training images drawn afresh (randsample), the sheet's momentum rule
m = mu m + (1 - mu) g, w -= lr (m + wd w) on every parameter, biases included (training.m loops
over all of them), constant lr; the reported cost adds wd/2 sum w^2 over the same parameters.
Non-sheet variants: --nodecay_biases (W and F only), --replace_within_batch.
    python -m experiments.cnn --dataset mnist --workdir runs/cnn_mnist      # 3000 it; sheet ~98 %
    python -m experiments.cnn --dataset cifar10 --workdir runs/cnn_cifar    # 5000 it; sheet ~48 %
--arch improved (CIFAR-10 only): all five batches, conv 32-64-128 (3x3, ReLU, 2x2 pool) + FC,
per-channel standardisation, random flips and 4-pixel translations on the device, batch 128,
the same momentum rule with a cosine-decayed learning rate, --epochs epochs:
    python -m experiments.cnn --dataset cifar10 --arch improved --workdir runs/cnn_improved

Writes results.json (test accuracy, per-class precision/recall, parameter counts), history.csv,
curves.png, filters.png (first-layer filters), misclassified.png (if any), confusion.png and
confusion.csv into --workdir.

The run's key is seeds.run_key(seed, "<dataset>_<arch>"). With --seeds N > 1 the N seeds train as
one vmapped program (jaxdl.sweep, the seed as member axis, on the same train/val split, drawn with
--seed; on one CPU device unless --cpu_devices says otherwise, each seed's convolutions in turn:
jaxdl.layers.convolution), and each seed's final state is evaluated on test in turn: results.json
gives each seed's metrics and their mean +- std, history.csv a seed column, curves.png the mean in
a min-max band; filters, misclassified, confusion and precision_recall are the first seed's.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags, logging

from experiments import common
from jaxdl import metrics, optimizers, plots, results, samplers, seeds, train
from jaxdl.data import augment, cifar10, mnist
from jaxdl.layers import losses
from jaxdl.models import cnn

flags.DEFINE_enum("dataset", "mnist", ["mnist", "cifar10"], "Data set.")
flags.DEFINE_enum("arch", "starter", ["starter", "improved"],
                  "starter: the sheet's network; improved: our CIFAR-10 network.")
flags.DEFINE_integer("iterations", None, "Starter: update steps (default: MNIST 3000, "
                     "CIFAR-10 5000, the sheets').", lower_bound=1)
flags.DEFINE_integer("epochs", 10, "Improved: epochs over the 49 000 training images.",
                     lower_bound=1)
flags.DEFINE_integer("batch", None, "Mini-batch size (default: starter 16, improved 128).",
                     lower_bound=1)
flags.DEFINE_float("lr", None, "Learning rate alpha (default: MNIST .1, CIFAR-10 starter 1e-3, "
                   "improved .1 at the start, cosine-decayed to 0).")
flags.DEFINE_float("momentum", None, "mu (default: MNIST .9, CIFAR-10 starter .95, improved .9).")
flags.DEFINE_float("weight_decay", None, "lambda_wd (default: MNIST .005, CIFAR-10 starter "
                   ".001, improved 5e-4).", lower_bound=0.0)
flags.DEFINE_integer("eval_every", 500, "Starter: iterations between validation evaluations.",
                     lower_bound=1)
flags.DEFINE_list("widths", "32,64,128", "Improved: channels of the conv blocks (1 to 5).")
flags.DEFINE_integer("convs_per_block", 1, "Improved: 3x3 convolutions before each pool.",
                     lower_bound=1)
flags.DEFINE_bool("augment", True, "Improved: random flips and translations.")
flags.DEFINE_bool("decay_biases", None, "Weight decay on the biases too (default: starter yes, "
                  "as training.m; improved no).")
flags.DEFINE_bool("replace_within_batch", False, "Starter: draw each batch's images "
                  "independently (repeats possible) instead of randsample's distinct ones.")
flags.DEFINE_integer("n_val", None, "Validation images (default: starter 2001 as the sheets; "
                     "improved 1000).", lower_bound=1)
common.define_seeds_flag(cpu_devices_default=1)  # convolutions: one device (common)
flags.register_validator("lr", lambda v: v is None or v > 0, "must be > 0")
flags.register_validator("momentum", lambda v: v is None or 0 <= v < 1, "must lie in [0, 1)")
flags.register_validator("widths", lambda ws: 1 <= len(ws) <= 5 and all(
    w.isdigit() and int(w) > 0 for w in ws), "needs 1 to 5 positive integers")
flags.register_multi_flags_validator(
    ["dataset", "arch"], lambda f: f["arch"] == "starter" or f["dataset"] == "cifar10",
    "--arch=improved is defined for --dataset=cifar10 only")

FLAGS = flags.FLAGS

SHEET = {  # (iterations, batch, lr, momentum, weight_decay, n_val)
    ("mnist", "starter"): (3000, 16, 0.1, 0.9, 0.005, 2001),
    ("cifar10", "starter"): (5000, 16, 1e-3, 0.95, 0.001, 2001),
    ("cifar10", "improved"): (None, 128, 0.1, 0.9, 5e-4, 1000),
}


@dataclasses.dataclass(frozen=True)
class Config:
    """One run: the sheet's defaults for (dataset, arch), overridden by flags; the other arch's
    settings are None."""
    iterations: int | None  # starter
    batch: int
    lr: float
    momentum: float
    weight_decay: float
    n_val: int
    decay_biases: bool
    dataset: str
    arch: str
    seed: int
    grad: str
    eval_every: int | None  # starter
    replace_within_batch: bool | None
    epochs: int | None  # improved
    widths: tuple[int, ...] | None
    convs_per_block: int | None
    augment: bool | None
    seeds: int
    cpu_devices: int


def config() -> Config:
    iterations, batch, lr, momentum, wd, n_val = SHEET[(FLAGS.dataset, FLAGS.arch)]
    starter = FLAGS.arch == "starter"
    cfg = Config(
        iterations=(FLAGS.iterations or iterations) if starter else None,
        batch=FLAGS.batch or batch,
        lr=lr if FLAGS.lr is None else FLAGS.lr,
        momentum=momentum if FLAGS.momentum is None else FLAGS.momentum,
        weight_decay=wd if FLAGS.weight_decay is None else FLAGS.weight_decay,
        n_val=FLAGS.n_val or n_val,
        decay_biases=starter if FLAGS.decay_biases is None else FLAGS.decay_biases,
        dataset=FLAGS.dataset, arch=FLAGS.arch, seed=FLAGS.seed, grad=FLAGS.grad,
        eval_every=FLAGS.eval_every if starter else None,
        replace_within_batch=FLAGS.replace_within_batch if starter else None,
        epochs=None if starter else FLAGS.epochs,
        widths=None if starter else tuple(int(w) for w in FLAGS.widths),
        convs_per_block=None if starter else FLAGS.convs_per_block,
        augment=None if starter else FLAGS.augment,
        seeds=FLAGS.seeds, cpu_devices=common.cpu_devices(FLAGS.cpu_devices))
    if starter:
        common.require(cfg.iterations % cfg.eval_every == 0, "eval_every",
                       f"must divide --iterations={cfg.iterations}")
    return cfg


def main(argv):
    del argv
    cfg = config()
    common.use_cpu_devices(cfg.cpu_devices)  # before JAX starts its backends
    workdir = common.workdir()
    t0 = time.perf_counter()
    try:
        if cfg.dataset == "mnist":
            splits = mnist.load_splits(FLAGS.data_dir, n_val=cfg.n_val, seed=cfg.seed)
            test_images, class_names = mnist.load("test", FLAGS.data_dir)[0], mnist.CLASS_NAMES
        else:
            splits = cifar10.cnn_splits(cfg.arch, FLAGS.data_dir, n_val=cfg.n_val, seed=cfg.seed)
            test_images = cifar10.load_test_images(FLAGS.data_dir)
            class_names = cifar10.label_names(FLAGS.data_dir)
    except ValueError as e:  # the only one: an impossible n_val
        raise common.FlagError(f"--n_val: {e}") from None
    n_train, in_shape = len(splits["train"].y), splits["train"].X.shape[1:]
    common.require(cfg.batch <= n_train, "batch", f"is larger than the {n_train} training images")
    data = train.to_device({"X_train": splits["train"].X, "Y_train": splits["train"].Y,
                            "X_val": splits["val"].X, "Y_val": splits["val"].Y})
    if cfg.arch == "starter":
        model = cnn.starter(cfg.dataset)
        sampler = samplers.random_batches(cfg.batch, n_train, cfg.eval_every,
                                       replace=cfg.replace_within_batch)
        n_segments = cfg.iterations // cfg.eval_every
        lr_fn = lambda hp: hp["lr"]  # noqa: E731
        augment_fn = None
    else:
        model = cnn.improved(cfg.widths, cfg.convs_per_block)
        sampler = samplers.shuffled_batches(cfg.batch, n_train)
        n_segments = cfg.epochs
        total_steps = cfg.epochs * (n_train // cfg.batch)
        lr_fn = lambda hp: optax.cosine_decay_schedule(hp["lr"], total_steps)  # noqa: E731
        augment_fn = augment.make_augment(True, 4, images=True) if cfg.augment else None
    counts = cnn.parameter_counts(model, in_shape)
    for name, c in counts:
        logging.info("parameters %-24s %8d", name, c)
    logging.info("parameters total %d", sum(c for _, c in counts))

    def optimizer_fn(hp):
        return optimizers.fman45_momentum(lr_fn(hp), hp["momentum"], hp["weight_decay"],
                                          decay_biases=cfg.decay_biases)

    trainer = train.make_trainer(model, losses.softmax_cross_entropy, optimizer_fn, sampler,
                                 grad=cfg.grad, eval_splits=("val",), eval_batch=1000,
                                 augment=augment_fn)
    # lam = 0: the decay is in the optimiser (the sheet's rule); the reported cost adds wd/2 sum w^2
    # over the decayed parameters (training.m's "weight decay loss")
    hp = train.as_hparams(lam=0.0, lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    l2 = jax.jit(lambda p: optimizers.decayed_sum_of_squares(p, decay_biases=cfg.decay_biases))

    name = f"{cfg.dataset}_{cfg.arch}"
    seed_list = seeds.seed_values(cfg.seed, cfg.seeds)
    checkpoint = common.checkpoint_path(workdir, "checkpoint.msgpack")
    # a starter run's length (constant lr) may grow; improved's epochs set the cosine schedule, so
    # they stay in its identity
    identity = common.identity(cfg, exclude=("iterations", "cpu_devices"))
    if len(seed_list) == 1:
        fit = train.fit(trainer, hp, seeds.run_key(cfg.seed, name), data, n_segments, name=name,
                        on_segment=lambda ts, m: add_costs(m, cfg.weight_decay, l2(ts.params)),
                        checkpoint=checkpoint, identity=identity)
        runs = [(fit.state, fit.history, {"final_val_cost": fit.final_metrics["val_cost"]},
                 {"compile_seconds": fit.compile_seconds, "train_seconds": fit.train_seconds})]
    else:
        runs = fit_seeds(trainer, hp, seed_list, data, n_segments, name=name, l2=l2,
                         weight_decay=cfg.weight_decay, checkpoint=checkpoint, identity=identity)
    predict = train.make_predictor(model)
    y_te = splits["test"].y
    per_seed, tested = [], []
    for ts, history, extra, timing in runs:  # the predictor one seed after another
        pred = np.asarray(predict(ts.params, ts.state, jnp.asarray(splits["test"].X)))
        C = metrics.confusion_matrix(y_te, pred, 10)
        precision, recall = metrics.precision_recall(C)
        val_pred = np.asarray(predict(ts.params, ts.state, data["X_val"]))
        per_seed.append({"test_accuracy": metrics.accuracy(y_te, pred),
                         "val_accuracy": metrics.accuracy(splits["val"].y, val_pred),
                         **extra,
                         "precision": dict(zip(class_names, precision.tolist())),
                         "recall": dict(zip(class_names, recall.tolist())),
                         "parameters": dict(counts),
                         "parameters_total": sum(c for _, c in counts),
                         **timing,
                         "images_per_second": (len(runs) * int(ts.step) * cfg.batch
                                               / timing["train_seconds"])})
        tested.append((pred, C, precision, recall))
    ts, history = runs[0][0], runs[0][1]  # the figures and tables below: the first seed's
    pred, C, precision, recall = tested[0]
    run = results.seeded_run(
        name, {**dataclasses.asdict(cfg), "n_train": n_train, "steps": int(ts.step)}, seed_list,
        per_seed)
    results.write_histories(workdir / "history.csv", [r[1] for r in runs], seed_list)
    results.write_csv(workdir / "confusion.csv",
                      [{"true": class_names[i], **{class_names[j]: int(C[i, j]) for j in range(10)}}
                       for i in range(10)])
    results.write_csv(workdir / "precision_recall.csv",
                      [{"class": c, "precision": p, "recall": r}
                       for c, p, r in zip(class_names, precision, recall)])
    title = f"{cfg.dataset} {cfg.arch}"
    first = "" if len(seed_list) == 1 else f", seed {seed_list[0]}"
    plots.curve_panels([r[1] for r in runs], workdir / "curves.png", x="step",
                       panels=("cost", "accuracy"), splits=("val",), title=f"{title}: validation")
    F = np.asarray(ts.params[0]["F"])  # k x k x c_in x n_filters
    plots.image_montage(F.transpose(3, 0, 1, 2), workdir / "filters.png", ncols=8,
                        title=f"{title}: first-layer filters{first}")
    wrong = np.flatnonzero(pred != y_te)[:30]
    if len(wrong):  # none: no figure (a perfect score, e.g. on easy data)
        plots.image_montage(
            test_images[wrong].astype(np.float32), workdir / "misclassified.png",
            titles=[f"{class_names[y_te[i]]}->{class_names[pred[i]]}" for i in wrong],
            title=f"{title}: misclassified test images (true->predicted){first}")
    else:
        (workdir / "misclassified.png").unlink(missing_ok=True)
    plots.confusion(C, class_names, workdir / "confusion.png",
                    title=f"{title}: test confusion{first}")
    results.write_results(workdir, "cnn", common.script_flags(__name__), [run],
                          wall_seconds=time.perf_counter() - t0)
    train_seconds = runs[0][3]["train_seconds"]
    print(f"{name}: test accuracy {results.format_summary(run, 'test_accuracy')}  "
          f"({int(ts.step)} steps, {train_seconds:.0f} s training)")
    if first:
        print(f"  seed {seed_list[0]}:")
    for c, p, r in zip(class_names, precision, recall):
        print(f"  {c:>10}: precision {p:.3f}  recall {r:.3f}")
    for n, c in counts:
        print(f"  {n:<28}{c:>8}")


def add_costs(m: dict, weight_decay: float, sum_of_squares) -> None:
    """The sheet's costs into an evaluation's metrics `m`: lam = 0 (the decay is in the
    optimiser, the sheet's rule), so the reported cost adds wd/2 sum w^2 over the decayed
    parameters (training.m's "weight decay loss")."""
    penalty = weight_decay / 2 * float(sum_of_squares)
    m["val_cost"] = m["val_loss"] + penalty
    # training.m's "Total loss" is the 0.995-EMA of the batch losses + the penalty; here the mean
    # batch loss of the segment + the penalty
    m["train_cost"] = m["batch_cost"] + penalty
    m["iteration"] = m["step"]


def fit_seeds(trainer: train.Trainer, hp: dict, seed_list: list[int], data: dict,
              n_segments: int, *, name: str, l2, weight_decay: float, checkpoint,
              identity: dict) -> list[tuple]:
    """The seeds of one run as one vmapped sweep (jaxdl.sweep, the seed as member axis, key
    run_key(seed, name)), checkpointed after every segment: per seed (final state, history,
    {"final_val_cost", "diverged"}, {"train_seconds": all seeds together}), the history as
    train.fit with add_costs gives it. The sum of squares of the costs' penalty is computed in
    the program, after every segment, as train.fit's on_segment does on the host."""
    def segment(ts, hp_, data_):
        ts, m = trainer.segment(ts, hp_, data_)
        return ts, {**m, "sum_of_squares": l2(ts.params)}

    swept = trainer._replace(segment=segment, compiled={})
    t0 = time.perf_counter()
    fits = seeds.fit_seeds(swept, hp, seed_list, data, n_segments * trainer.epochs_per_eval,
                           name=name, checkpoint=checkpoint, identity=identity)
    seconds = time.perf_counter() - t0
    out = []
    for fit in fits:
        history = []
        for h in fit.history:
            row = {k: v for k, v in h.items() if k != "sum_of_squares"}
            add_costs(row, weight_decay, h["sum_of_squares"])
            history.append(row)
        out.append((fit.state, history, {"final_val_cost": history[-1]["val_cost"],
                                         "diverged": fit.diverged},
                    {"train_seconds": seconds}))
    return out


if __name__ == "__main__":
    common.run(main)
