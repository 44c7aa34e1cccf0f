"""Float64 gradient check of a k-layer MLP, with or without batch normalisation (specs 5.2 Ex 1).

Library function for `experiments.gradcheck --model mlp`; also runnable on its own:

    python -m experiments.gradcheck_mlp --hidden 50,30,20,20,10,10,10,10 --bn
    # every W, b, gamma, beta within 1e-6 of centred differences and 1e-9 of jax.grad

Inputs are a reduced problem as the sheet suggests: n random standard-normal samples of dimension
d (default 10), random labels. With BN the cost uses the batch statistics (train mode).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.models import mlp
from jaxdl import gradcheck, gradcheck_relu
from jaxdl import model as model_lib
from jaxdl.layers import initializers, losses


def check_mlp(hidden: Sequence[int], *, bn: bool = False, lam: float = 0.0, n: int = 10,
              d: int = 10, n_classes: int = 10, bn_bias: bool = False, dropout_rate: float = 0.0,
              seed: int = 0, h: float = 1e-5, h_smooth: float = 1e-4,
              methods: tuple[str, ...] = gradcheck.METHODS, count_kinks: bool = True
              ) -> dict[str, dict[str, float]]:
    """Gradient check of mlp(hidden, bn=bn) with He init, keyed W1, b1, gamma1, beta1, W2, ...
    (numbered by dense layer). Needs jax_enable_x64.

    Columns: those of gradcheck.check (manual vs jax.grad, vs forward and centred differences
    at h), plus "kink_entries" (entries whose +-h perturbation changes a ReLU pattern: there the
    plain centred difference is no derivative estimate; skipped if not count_kinks) and
    "manual_vs_smooth" / "max_abs_manual_vs_smooth" against
    gradcheck_relu.smooth_piece_gradient at h_smooth (Richardson centred differences on the
    smooth piece of the ReLU net that contains theta).
    """
    model = mlp.mlp(hidden, n_classes, bn=bn, w_init=initializers.he(),
                    dropout_rate=dropout_rate, bn_bias=bn_bias)
    k_init, k_x, k_y, k_drop = jax.random.split(jax.random.PRNGKey(seed), 4)
    params, state = model.init(k_init, (d,))
    X = jax.random.normal(k_x, (n, d))
    Y = jax.nn.one_hot(jax.random.randint(k_y, (n,), 0, n_classes), n_classes)
    loss = losses.softmax_cross_entropy
    report = gradcheck.check(model, loss, params, state, X, Y, lam, key=k_drop, h=h,
                             methods=methods)
    params, state, X, Y = gradcheck.to_float64((params, state, X, Y))
    _, g_manual = jax.jit(model_lib.value_and_grad(model, loss, "manual"))(
        params, state, X, Y, jnp.float64(lam), k_drop)
    kinks = (gradcheck_relu.kink_crossings(model, params, state, X, h, key=k_drop)
             if count_kinks else None)
    smooth = gradcheck_relu.smooth_piece_gradient(model, loss, params, state, X, Y, lam,
                                                  h=h_smooth, key=k_drop)
    g_manual, smooth = model_lib.flat_params(g_manual), model_lib.flat_params(smooth)
    for name, row in report.items():
        if count_kinks:
            row["kink_entries"] = float(np.sum(np.asarray(model_lib.flat_params(kinks)[name])))
        row["manual_vs_smooth"] = gradcheck.relative_error(g_manual[name], smooth[name])
        row["max_abs_manual_vs_smooth"] = float(np.max(np.abs(
            np.asarray(g_manual[name]) - np.asarray(smooth[name]))))
    return report


def main(argv):
    del argv
    from absl import flags
    from experiments import common
    FLAGS = flags.FLAGS
    hidden = common.parse_ints(FLAGS.hidden, "hidden")
    common.require(bool(hidden) and all(m > 0 for m in hidden), "hidden",
                   "expected positive comma-separated widths")
    common.require(FLAGS.n >= (2 if FLAGS.bn else 1), "n", "must be >= 2 with --bn (>= 1 without)")
    common.require(FLAGS.d > 0, "d", "must be > 0")
    common.require(FLAGS.lam >= 0, "lam", "must be >= 0")
    jax.config.update("jax_enable_x64", True)
    report = check_mlp(hidden, bn=FLAGS.bn, lam=FLAGS.lam, n=FLAGS.n, d=FLAGS.d,
                       bn_bias=FLAGS.bn_bias, seed=FLAGS.seed, h=FLAGS.h)
    title = (f"{len(hidden) + 1}-layer MLP {hidden}{' + BN' if FLAGS.bn else ''}, d={FLAGS.d}, "
             f"n={FLAGS.n}, lambda={FLAGS.lam:g}, h={FLAGS.h:g} (max relative errors, float64)")
    print(gradcheck.format_table(report, title))


if __name__ == "__main__":
    from absl import app, flags
    from experiments import common
    flags.DEFINE_string("hidden", "50,50", "Comma-separated hidden widths.")
    flags.DEFINE_bool("bn", False, "Batch normalisation after every hidden dense layer.")
    flags.DEFINE_bool("bn_bias", False, "Keep the (superfluous) hidden biases before BN.")
    flags.DEFINE_float("lam", 0.0, "L2 weight lambda.")
    flags.DEFINE_integer("n", 10, "Batch size of the check.")
    flags.DEFINE_integer("d", 10, "Reduced input dimension.")
    flags.DEFINE_float("h", 1e-5, "Finite-difference step.")
    app.run(common.main_wrapper(main))
