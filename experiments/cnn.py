"""FMAN45 Assignment 3: CNNs on MNIST and CIFAR-10 (specs.md section 7).

--arch starter: mnist_starter.m / cifar10_starter.m with training.m exactly (section 7.2): every
iteration a batch of 16 distinct training images drawn afresh (randsample), the sheet's momentum
rule m = mu m + (1 - mu) g, w -= lr (m + wd w) on every parameter, biases included (training.m
loops over all of them), constant lr; the reported cost adds wd/2 sum w^2 over the same parameters.
Non-sheet variants: --nodecay_biases (W and F only), --replace_within_batch.
    python -m experiments.cnn --dataset mnist --workdir runs/cnn_mnist      # 3000 it; sheet ~98 %
    python -m experiments.cnn --dataset cifar10 --workdir runs/cnn_cifar    # 5000 it; sheet ~48 %
--arch improved (CIFAR-10 only): all five batches, conv 32-64-128 (3x3, ReLU, 2x2 pool) + FC,
per-channel standardisation, random flips and 4-pixel translations on the device, batch 128,
the same momentum rule with a cosine-decayed learning rate, --epochs epochs:
    python -m experiments.cnn --dataset cifar10 --arch improved --workdir runs/cnn_improved

Writes results.json (test accuracy, per-class precision/recall, parameter counts), history.csv,
curves.png, filters.png (first-layer filters), misclassified.png, confusion.png and
confusion.csv into --workdir.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags, logging

from experiments import common
from jaxdl.models import cnn
from jaxdl import metrics, optimizers, plots, results, samplers, train
from jaxdl import model as model_lib
from jaxdl.data import cifar10, mnist
from jaxdl.layers import losses

flags.DEFINE_enum("dataset", "mnist", ["mnist", "cifar10"], "Data set.")
flags.DEFINE_enum("arch", "starter", ["starter", "improved"],
                  "starter: the sheet's network; improved: our CIFAR-10 network.")
flags.DEFINE_integer("iterations", None, "Starter: update steps (default: MNIST 3000, "
                     "CIFAR-10 5000, the sheets').")
flags.DEFINE_integer("epochs", 10, "Improved: epochs over the 49 000 training images.")
flags.DEFINE_integer("batch", None, "Mini-batch size (default: starter 16, improved 128).")
flags.DEFINE_float("lr", None, "Learning rate alpha (default: MNIST .1, CIFAR-10 starter 1e-3, "
                   "improved .1 at the start, cosine-decayed to 0).")
flags.DEFINE_float("momentum", None, "mu (default: MNIST .9, CIFAR-10 starter .95, improved .9).")
flags.DEFINE_float("weight_decay", None, "lambda_wd (default: MNIST .005, CIFAR-10 starter "
                   ".001, improved 5e-4).")
flags.DEFINE_integer("eval_every", 500, "Starter: iterations between validation evaluations.")
flags.DEFINE_string("widths", "32,64,128", "Improved: channels of the conv blocks.")
flags.DEFINE_integer("convs_per_block", 1, "Improved: 3x3 convolutions before each pool.")
flags.DEFINE_bool("augment", True, "Improved: random flips and translations.")
flags.DEFINE_bool("decay_biases", None, "Weight decay on the biases too (default: starter yes, "
                  "as training.m; improved no).")
flags.DEFINE_bool("replace_within_batch", False, "Starter: draw each batch's images "
                  "independently (repeats possible) instead of randsample's distinct ones.")
flags.DEFINE_integer("n_val", None, "Validation images (default: starter 2001 as the sheets; "
                     "improved 1000).")

FLAGS = flags.FLAGS

SHEET = {  # (iterations, batch, lr, momentum, weight_decay)
    ("mnist", "starter"): (3000, 16, 0.1, 0.9, 0.005),
    ("cifar10", "starter"): (5000, 16, 1e-3, 0.95, 0.001),
    ("cifar10", "improved"): (None, 128, 0.1, 0.9, 5e-4),
}
MNIST_NAMES = [str(d) for d in range(10)]


def settings() -> dict:
    """The run's hyper-parameters: the sheet's defaults, overridden by flags; validated."""
    common.require((FLAGS.dataset, FLAGS.arch) in SHEET, "arch",
                   "improved is defined for --dataset cifar10 only")
    iterations, batch, lr, momentum, wd = SHEET[(FLAGS.dataset, FLAGS.arch)]
    s = {"iterations": FLAGS.iterations or iterations, "batch": FLAGS.batch or batch,
         "lr": lr if FLAGS.lr is None else FLAGS.lr,
         "momentum": momentum if FLAGS.momentum is None else FLAGS.momentum,
         "weight_decay": wd if FLAGS.weight_decay is None else FLAGS.weight_decay,
         "n_val": FLAGS.n_val or (2001 if FLAGS.arch == "starter" else 1000),
         "decay_biases": (FLAGS.arch == "starter" if FLAGS.decay_biases is None
                          else FLAGS.decay_biases)}
    common.require(s["batch"] > 0, "batch", "must be > 0")
    common.require(s["lr"] > 0, "lr", "must be > 0")
    common.require(0 <= s["momentum"] < 1, "momentum", "must lie in [0, 1)")
    common.require(s["weight_decay"] >= 0, "weight_decay", "must be >= 0")
    common.require(s["n_val"] > 0, "n_val", "must be > 0")
    if FLAGS.arch == "starter":
        common.require(s["iterations"] > 0, "iterations", "must be > 0")
        common.require(FLAGS.eval_every > 0, "eval_every", "must be > 0")
        common.require(s["iterations"] % FLAGS.eval_every == 0, "eval_every",
                       f"must divide --iterations={s['iterations']}")
    else:
        common.require(FLAGS.epochs > 0, "epochs", "must be > 0")
        s["widths"] = common.parse_ints(FLAGS.widths, "widths")
        common.require(bool(s["widths"]) and all(w > 0 for w in s["widths"]) and
                       len(s["widths"]) <= 5, "widths", "needs 1 to 5 positive integers")
        common.require(FLAGS.convs_per_block > 0, "convs_per_block", "must be > 0")
    return s


def load_data(n_val: int, seed: int) -> tuple[dict, np.ndarray, list[str]]:
    """-> splits {name: (X n x H x W x C float32, y)}, test images for display, class names."""
    if FLAGS.dataset == "mnist":
        sp = mnist.load_splits(FLAGS.data_dir, n_val=n_val, seed=seed)
        shown = mnist.load("test", FLAGS.data_dir)[0]
        return {k: (v.X, v.y) for k, v in sp.items()}, shown, MNIST_NAMES
    names = cifar10.label_names(FLAGS.data_dir)
    X_te_raw, y_te = cifar10.load_batches(("test_batch",), FLAGS.data_dir)
    test_images = cifar10.vectors_to_images(X_te_raw)
    rng = np.random.default_rng(seed)
    if FLAGS.arch == "starter":
        # cifar10_starter.m: batches 1-2 as 0-255 doubles, minus the mean RGB triplet, shuffled,
        # 2001 for validation
        X, y = cifar10.load_batches(("data_batch_1", "data_batch_2"), FLAGS.data_dir)
        X = cifar10.vectors_to_images(X).astype(np.float32)
        mean = X.mean(axis=(0, 1, 2))
        X, X_te = X - mean, test_images.astype(np.float32) - mean
    else:
        X, y = cifar10.load_batches(cifar10.TRAIN_BATCHES, FLAGS.data_dir)
        X = cifar10.vectors_to_images(X).astype(np.float32) / 255.0
        perm0 = rng.permutation(len(X))
        X, y = X[perm0], y[perm0]
        mean, std = X[:-n_val].mean(axis=(0, 1, 2)), X[:-n_val].std(axis=(0, 1, 2))
        X, X_te = (X - mean) / std, (test_images.astype(np.float32) / 255.0 - mean) / std
    perm = rng.permutation(len(X))
    X, y = X[perm], y[perm]
    splits = {"train": (X[:-n_val], y[:-n_val]), "val": (X[-n_val:], y[-n_val:]),
              "test": (X_te, y_te)}
    return splits, test_images, names


def flip_and_translate(max_shift: int = 4):
    """augment(key, X_b): a random horizontal flip and a random shift of up to max_shift pixels
    (zero padding, i.e. the mean after standardisation) per image, on the device."""

    def augment(key, X_b):
        n, H, W, _ = X_b.shape
        k_flip, k_shift = jax.random.split(key)
        flip = jax.random.bernoulli(k_flip, 0.5, (n,))
        X_b = jnp.where(flip[:, None, None, None], X_b[:, :, ::-1, :], X_b)
        padded = jnp.pad(X_b, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
        offsets = jax.random.randint(k_shift, (n, 2), 0, 2 * max_shift + 1)

        def crop(img, off):
            return jax.lax.dynamic_slice(img, (off[0], off[1], 0), (H, W, img.shape[-1]))
        return jax.vmap(crop)(padded, offsets)
    return augment


def make_predict(model: model_lib.Model, chunk: int = 1000):
    """Jitted class predictions, chunk by chunk (n must be a multiple of chunk or smaller)."""
    @jax.jit
    def predict(params, state, X):
        n = X.shape[0]
        c = min(chunk, n)
        Xc = X[: n // c * c].reshape(n // c, c, *X.shape[1:])
        scores = jax.lax.map(lambda x: model.apply(params, state, x)[0], Xc)
        pred = jnp.argmax(scores.reshape(-1, scores.shape[-1]), -1)
        if n % c:
            pred = jnp.concatenate([pred, jnp.argmax(model.apply(params, state, X[n // c * c:])[0], -1)])
        return pred
    return predict


def main(argv):
    del argv
    s = settings()
    workdir = common.workdir()
    t0 = time.perf_counter()
    splits, test_images, class_names = load_data(s["n_val"], FLAGS.seed)
    X_tr, y_tr = splits["train"]
    n_train, in_shape = len(X_tr), X_tr.shape[1:]
    common.require(s["batch"] <= n_train, "batch", f"is larger than the {n_train} training images")
    onehot = lambda y: cifar10.one_hot(y, 10)  # noqa: E731
    data = train.to_device({"X_train": X_tr, "Y_train": onehot(y_tr),
                            "X_val": splits["val"][0], "Y_val": onehot(splits["val"][1])})
    if FLAGS.arch == "starter":
        model = cnn.starter(FLAGS.dataset)
        sampler = samplers.random_batches(s["batch"], n_train, FLAGS.eval_every,
                                          replace=FLAGS.replace_within_batch)
        n_segments = s["iterations"] // FLAGS.eval_every
        lr_fn = lambda hp: hp["lr"]  # noqa: E731
        augment = None
    else:
        model = cnn.improved(s["widths"], FLAGS.convs_per_block)
        sampler = samplers.shuffled_batches(s["batch"], n_train)
        n_segments = FLAGS.epochs
        total_steps = FLAGS.epochs * (n_train // s["batch"])
        lr_fn = lambda hp: optax.cosine_decay_schedule(hp["lr"], total_steps)  # noqa: E731
        augment = flip_and_translate() if FLAGS.augment else None
    counts = cnn.parameter_counts(model, in_shape)
    for name, c in counts:
        logging.info("parameters %-24s %8d", name, c)
    logging.info("parameters total %d", sum(c for _, c in counts))

    def optimizer_fn(hp):
        return optimizers.fman45_momentum(lr_fn(hp), hp["momentum"], hp["weight_decay"],
                                          decay_biases=s["decay_biases"])

    trainer = train.make_trainer(model, losses.softmax_cross_entropy, optimizer_fn, sampler,
                                 grad=FLAGS.grad, eval_splits=("val",), eval_batch=1000,
                                 augment=augment)
    # lam = 0: the decay is in the optimiser (the sheet's rule); the reported cost adds wd/2 sum w^2
    # over the decayed parameters (training.m's "weight decay loss")
    hp = train.as_hparams(lam=0.0, lr=s["lr"], momentum=s["momentum"],
                          weight_decay=s["weight_decay"])
    l2 = jax.jit(lambda p: optimizers.decayed_sum_of_squares(p, decay_biases=s["decay_biases"]))

    def add_cost(ts, m):
        penalty = s["weight_decay"] / 2 * float(l2(ts.params))
        m["val_cost"] = m["val_loss"] + penalty
        # training.m's "Total loss" is the 0.995-EMA of the batch losses + the penalty; here the
        # mean batch loss of the segment + the penalty
        m["train_cost"] = m["batch_cost"] + penalty
        m["iteration"] = m["step"]

    name = f"{FLAGS.dataset}_{FLAGS.arch}"
    fit = train.fit(trainer, hp, jax.random.PRNGKey(FLAGS.seed), data, n_segments, name=name,
                    on_segment=add_cost, checkpoint=workdir / "checkpoint.msgpack")
    ts, history = fit.state, fit.history
    predict = make_predict(model)
    X_te, y_te = splits["test"]
    pred = np.asarray(predict(ts.params, ts.state, jnp.asarray(X_te)))
    C = metrics.confusion_matrix(y_te, pred, 10)
    precision, recall = metrics.precision_recall(C)
    test_acc = metrics.accuracy(y_te, pred)
    val_pred = np.asarray(predict(ts.params, ts.state, data["X_val"]))
    run = {"name": name,
           "config": {**s, "dataset": FLAGS.dataset, "arch": FLAGS.arch,
                      "n_train": n_train, "steps": int(ts.step)},
           "metrics": {"test_accuracy": test_acc,
                       "val_accuracy": metrics.accuracy(splits["val"][1], val_pred),
                       "final_val_cost": fit.final_metrics["val_cost"],
                       "precision": dict(zip(class_names, precision.tolist())),
                       "recall": dict(zip(class_names, recall.tolist())),
                       "parameters": dict(counts),
                       "parameters_total": sum(c for _, c in counts),
                       "compile_seconds": fit.compile_seconds,
                       "train_seconds": fit.train_seconds,
                       "images_per_second": int(ts.step) * s["batch"] / fit.train_seconds}}
    results.write_csv(workdir / "history.csv", history)
    results.write_csv(workdir / "confusion.csv",
                      [{"true": class_names[i], **{class_names[j]: int(C[i, j]) for j in range(10)}}
                       for i in range(10)])
    results.write_csv(workdir / "precision_recall.csv",
                      [{"class": c, "precision": p, "recall": r}
                       for c, p, r in zip(class_names, precision, recall)])
    title = f"{FLAGS.dataset} {FLAGS.arch}"
    plots.curve_panels(history, workdir / "curves.png", x="step", panels=("cost", "accuracy"),
                       splits=("val",), title=f"{title}: validation")
    F = np.asarray(ts.params[0]["F"])  # k x k x c_in x n_filters
    plots.image_montage(F.transpose(3, 0, 1, 2), workdir / "filters.png", ncols=8,
                        title=f"{title}: first-layer filters")
    wrong = np.flatnonzero(pred != y_te)[:30]
    plots.image_montage(test_images[wrong].astype(np.float32), workdir / "misclassified.png",
                        titles=[f"{class_names[y_te[i]]}->{class_names[pred[i]]}" for i in wrong],
                        title=f"{title}: misclassified test images (true->predicted)")
    plots.confusion(C, class_names, workdir / "confusion.png", title=f"{title}: test confusion")
    results.write_results(workdir, "cnn", common.script_flags(__name__), [run],
                          wall_seconds=time.perf_counter() - t0)
    print(f"{name}: test accuracy {100 * test_acc:.2f} %  ({int(ts.step)} steps, "
          f"{fit.train_seconds:.0f} s training)")
    for c, p, r in zip(class_names, precision, recall):
        print(f"  {c:>10}: precision {p:.3f}  recall {r:.3f}")
    for n, c in counts:
        print(f"  {n:<28}{c:>8}")


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
