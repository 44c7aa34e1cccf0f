"""Float64 gradient checks of the A3 bonus architectures (specs 5.4): BN after the ReLU, and the
deep net with skip connections (fork / branch / merge layers), against jax.grad and centred
differences; BN-after-ReLU also against kink-free smooth-piece differences (gradcheck_relu).

    python -m experiments.gradcheck_bonus
    # every entry within 1e-6 of centred differences and 1e-9 of jax.grad
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from experiments import common
from jaxdl.models import mlp
from jaxdl import gradcheck, gradcheck_relu
from jaxdl import model as model_lib
from jaxdl.layers import losses

flags.DEFINE_integer("n", 6, "Batch size of the check.")
flags.DEFINE_integer("d", 10, "Reduced input dimension.")
flags.DEFINE_float("lam", 0.01, "L2 weight lambda.")
FLAGS = flags.FLAGS


def check(model: model_lib.Model, n: int, d: int, lam: float, seed: int, smooth: bool) -> dict:
    """gradcheck.check's table; with smooth, plus kink counts and smooth-piece errors."""
    k_init, k_x, k_y = jax.random.split(jax.random.PRNGKey(seed), 3)
    params, state = model.init(k_init, (d,))
    X = jax.random.normal(k_x, (n, d))
    Y = jax.nn.one_hot(jax.random.randint(k_y, (n,), 0, 10), 10)
    loss = losses.softmax_cross_entropy
    report = gradcheck.check(model, loss, params, state, X, Y, lam)
    if smooth:
        p, s, X, Y = gradcheck.to_float64((params, state, X, Y))
        _, g = jax.jit(model_lib.value_and_grad(model, loss, "manual"))(p, s, X, Y,
                                                                        jnp.float64(lam))
        g = model_lib.flat_params(g)
        kinks = model_lib.flat_params(gradcheck_relu.kink_crossings(model, p, s, X, 1e-5))
        ref = model_lib.flat_params(gradcheck_relu.smooth_piece_gradient(model, loss, p, s, X, Y,
                                                                         lam))
        for name, row in report.items():
            row["kink_entries"] = float(np.sum(np.asarray(kinks[name])))
            row["manual_vs_smooth"] = gradcheck.relative_error(g[name], ref[name])
    return report


def main(argv):
    del argv
    common.require(FLAGS.n >= 2, "n", "must be >= 2 (batch normalisation)")
    common.require(FLAGS.d > 0, "d", "must be > 0")
    jax.config.update("jax_enable_x64", True)
    cases = [("BN after ReLU, [12, 8]", mlp.mlp_bn_after_relu([12, 8]), True),
             ("skip connections, width 8, 2 blocks (6 weight layers)",
              mlp.skip_mlp(8, 2), False),
             ("same net without skip connections", mlp.skip_mlp(8, 2, skip=False), False)]
    worst = 0.0
    for title, model, smooth in cases:
        report = check(model, FLAGS.n, FLAGS.d, FLAGS.lam, FLAGS.seed, smooth)
        worst = max(worst, max(r["manual_vs_centred"] for r in report.values()))
        print(gradcheck.format_table(report, f"{title}: d={FLAGS.d}, n={FLAGS.n}, lambda="
                                             f"{FLAGS.lam:g} (max relative errors, float64)"))
        print()
    print(f"largest manual vs centred relative error: {worst:.3e}")


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
