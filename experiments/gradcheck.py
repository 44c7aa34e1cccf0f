"""Gradient checks in float64: hand-written backward vs jax.grad vs numerical differences.

    python -m experiments.gradcheck --model linear --workdir runs/gradcheck

For the linear classifier it checks, as seed 001 does, batch sizes 1, 2 and 20 with lambda = 0 and
lambda > 0 on a reduced input (the first --dim features of CIFAR-10 when the data is available,
else random standardised inputs), and prints one table per setting: the maximum relative error
|a - n| / max(eps, |a| + |n|) of each parameter against autodiff and against forward and centred
differences. The tables also go to results.json.
"""

from __future__ import annotations

import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from experiments import common  # noqa: E402
from jaxdl.models import mlp
from jaxdl import gradcheck, results  # noqa: E402
from jaxdl.data import cifar10  # noqa: E402
from jaxdl.data.download import DataError  # noqa: E402
from jaxdl.layers import losses  # noqa: E402

flags.DEFINE_enum("model", "linear", ["linear", "mlp"], "Which model to check.")
flags.DEFINE_string("hidden", "50,50", "--model=mlp: hidden widths.")
flags.DEFINE_bool("bn", False, "--model=mlp: batch normalisation after each hidden dense layer.")
flags.DEFINE_string("batch_sizes", "1,2,20", "Batch sizes to check.")
flags.DEFINE_string("lams", "0,0.1", "Lambdas to check.")
flags.DEFINE_integer("dim", 20, "Reduced input dimension (the first `dim` features).")
flags.DEFINE_float("h", 1e-5, "Centred-difference step.")
flags.DEFINE_float("h_forward", 1e-6, "Forward-difference step (the A1 sheet's example).")
flags.DEFINE_float("eps", 1e-12, "Floor of the relative error's denominator.")
flags.DEFINE_enum("loss", "softmax_ce", ["softmax_ce", "mbce"], "Loss of the linear model.")

FLAGS = flags.FLAGS


def check_inputs(n: int, dim: int, k: int, data_dir, seed: int):
    """The first n training samples reduced to `dim` features (real data if present, else random)."""
    try:
        split = cifar10.load_splits("a1", data_dir)["train"]
        return jnp.asarray(split.X[:n, :dim]), jnp.asarray(split.Y[:n]), "cifar10"
    except DataError as e:
        logging.warning("no CIFAR-10 data (%s); checking on random inputs", e)
    key = jax.random.PRNGKey(seed)
    X = jax.random.normal(key, (n, dim))
    Y = jax.nn.one_hot(jax.random.randint(jax.random.fold_in(key, 1), (n,), 0, k), k)
    return X, Y, "random"


def linear_tables(batch_sizes, lams, dim, h, h_forward, eps, loss_name, data_dir,
                  seed):
    model = mlp.linear(cifar10.N_CLASSES, 0.01)
    params, state = model.init(jax.random.PRNGKey(seed), (dim,))
    X_all, Y_all, source = check_inputs(max(batch_sizes), dim, cifar10.N_CLASSES, data_dir, seed)
    tables = []
    for n in batch_sizes:
        for lam in lams:
            report = gradcheck.check(model, losses.by_name(loss_name), params, state,
                                     X_all[:n], Y_all[:n], lam, h=h, h_forward=h_forward,
                                     eps=eps)
            tables.append({"batch_size": n, "lam": lam, "data": source, "errors": report})
    return tables


def mlp_tables(hidden, bn, batch_sizes, lams, dim, h, seed):
    """Per-layer tables of the k-layer MLP (random inputs of dimension `dim`), with the kink-free
    smooth-piece reference of experiments.gradcheck_mlp beside the plain differences."""
    from experiments.gradcheck_mlp import check_mlp
    return [{"batch_size": n, "lam": lam, "data": "random",
             "errors": check_mlp(hidden, bn=bn, lam=lam, n=n, d=dim, seed=seed, h=h)}
            for n in batch_sizes for lam in lams]


def main(argv):
    del argv
    batch_sizes = common.parse_ints(FLAGS.batch_sizes, "batch_sizes")
    common.require(bool(batch_sizes) and min(batch_sizes) > 0, "batch_sizes", "must be > 0")
    lams = common.parse_floats(FLAGS.lams, "lams")
    common.require(min(lams) >= 0, "lams", "must be >= 0")
    common.require(FLAGS.dim > 0, "dim", "must be > 0")
    common.require(FLAGS.h > 0, "h", "must be > 0")
    workdir = common.workdir()
    t0 = time.perf_counter()
    if FLAGS.model == "linear":
        tables = linear_tables(batch_sizes, lams, FLAGS.dim, FLAGS.h, FLAGS.h_forward, FLAGS.eps,
                               FLAGS.loss, FLAGS.data_dir, FLAGS.seed)
        steps = f"h = {FLAGS.h:g} (forward {FLAGS.h_forward:g})"
    else:
        hidden = common.parse_ints(FLAGS.hidden, "hidden")
        common.require(bool(hidden) and min(hidden) > 0, "hidden", "widths must be > 0")
        common.require(not FLAGS.bn or min(batch_sizes) >= 2, "batch_sizes",
                       "batch norm needs batches of at least 2")
        tables = mlp_tables(hidden, FLAGS.bn, batch_sizes, lams, FLAGS.dim, FLAGS.h, FLAGS.seed)
        steps = f"h = {FLAGS.h:g}; smooth: Richardson, ReLU masks frozen"
    runs = []
    for t in tables:
        arch = FLAGS.model if FLAGS.model == "linear" else (
            f"mlp [{FLAGS.hidden}]" + (" + BN" if FLAGS.bn else ""))
        title = (f"{arch}: batch size {t['batch_size']}, lambda {t['lam']:g}, "
                 f"d = {FLAGS.dim} ({t['data']} inputs), {steps}, float64")
        print(gradcheck.format_table(t["errors"], title) + "\n")
        worst = {k: max(row[k] for row in t["errors"].values())
                 for k in next(iter(t["errors"].values()))}
        runs.append({"name": f"{FLAGS.model}_n{t['batch_size']}_lam{t['lam']:g}",
                     "config": {"batch_size": t["batch_size"], "lam": t["lam"], "dim": FLAGS.dim,
                                "h": FLAGS.h, "h_forward": FLAGS.h_forward, "data": t["data"]},
                     "metrics": {f"max_rel_error_{k}": v for k, v in worst.items()},
                     "per_parameter": t["errors"]})
    results.write_results(workdir, "gradcheck", common.script_flags(__name__), runs,
                          wall_seconds=time.perf_counter() - t0)
    worst_c = max(r["metrics"]["max_rel_error_manual_vs_centred"] for r in runs)
    worst_a = max(r["metrics"]["max_rel_error_manual_vs_autodiff"] for r in runs)
    print(f"worst: manual vs centred {worst_c:.2e}, manual vs autodiff {worst_a:.2e}")
    if FLAGS.model == "mlp":
        worst_s = max(r["metrics"]["max_rel_error_manual_vs_smooth"] for r in runs)
        print(f"worst: manual vs smooth-piece centred {worst_s:.2e}")


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
