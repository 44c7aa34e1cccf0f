"""Float64 gradient check of both FMAN45 starter networks: hand-written backward vs jax.grad vs
forward and centred differences (specs section 7.1, Ex 2-4 and test_gradient_whole_net.m), and vs
a kink-free reference accurate below the centred difference's rounding floor.

The layer stacks are exactly the starters' (section 7.2); the images are small random ones
(--size x --size, --n of them) so that perturbing every parameter stays quick. --size 28 (MNIST)
and 32 (CIFAR-10) check the full-size nets (slow on a CPU: ~2 x 15 000 / 50 000 evaluations).

The plain centred difference at h = 1e-5 has a rounding floor of about eps |J| / h ~ 1e-11: on
the entries whose gradient is ~1e-6 its relative error is ~1e-5 whatever the backward pass does.
The reference ("smooth") therefore differentiates the piece of the network that contains theta,
every ReLU mask and max-pool argmax frozen (jaxdl.gradcheck_relu): there no step crosses a kink,
so each entry gets the step that moves the scores by --output_step (at most --h_smooth: up to
100x the weights' scale where an entry barely matters, so the rounding floor drops ~1e6-fold) and
--levels Richardson extrapolations; forward passes only.

    python -m experiments.cnn_gradcheck --workdir runs/cnn_gradcheck
    # every parameter of both nets within 1e-6 (relative, per entry) of the smooth reference
"""

from __future__ import annotations

import jax
import numpy as np

from jaxdl.models import cnn
from jaxdl import gradcheck, gradcheck_relu
from jaxdl import model as model_lib
from jaxdl.layers import losses

CHANNELS = {"mnist": 1, "cifar10": 3}


def check_starter(dataset: str, *, size: int = 8, n: int = 2, lam: float = 0.0025, seed: int = 0,
                  h: float = 1e-5, h_smooth: float = 10.0, levels: int = 3,
                  output_step: float = 0.03,
                  methods: tuple[str, ...] = gradcheck.METHODS,
                  count_kinks: bool = True) -> dict[str, dict[str, float]]:
    """Gradient check of cnn.starter(dataset) on n random size x size images. Needs
    jax_enable_x64.

    Columns: those of gradcheck.check at h (manual vs jax.grad, vs forward and centred
    differences) and against the reference "smooth" =
    gradcheck_relu.smooth_piece_gradient(h=h_smooth, levels=levels, output_step=output_step)
    (each entry's step moves the scores by about output_step, at most h_smooth, then `levels`
    Richardson extrapolations); "kink_entries": entries whose +-h perturbation changes a ReLU
    mask or a max-pool argmax, where the plain centred difference is no derivative estimate
    (skipped if not count_kinks); "min_abs_gradient": the smallest |entry| (of the reference).
    """
    model = cnn.starter(dataset)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    shape = (size, size, CHANNELS[dataset])
    params, state = model.init(k1, shape)
    X = jax.random.normal(k2, (n, *shape))
    Y = jax.nn.one_hot(jax.random.randint(k3, (n,), 0, 10), 10)
    loss = losses.softmax_cross_entropy
    params, state, X, Y = gradcheck.to_float64((params, state, X, Y))
    smooth = gradcheck_relu.smooth_piece_gradient(model, loss, params, state, X, Y, lam,
                                                  h=h_smooth, levels=levels,
                                                  output_step=output_step)
    report = gradcheck.check(model, loss, params, state, X, Y, lam, h=h, methods=methods,
                             references={"smooth": smooth})
    smooth = model_lib.flat_params(smooth)
    kinks = (model_lib.flat_params(gradcheck_relu.kink_crossings(model, params, state, X, h))
             if count_kinks else None)
    for name, row in report.items():
        if count_kinks:
            row["kink_entries"] = float(np.sum(np.asarray(kinks[name])))
        row["min_abs_gradient"] = float(np.min(np.abs(np.asarray(smooth[name]))))
    return report


def main(argv):
    del argv
    from absl import flags

    from experiments import common
    from jaxdl import results
    FLAGS = flags.FLAGS
    common.require(FLAGS.size >= 4, "size", "must be >= 4 (two 2x2 pools)")
    common.require(FLAGS.n > 0, "n", "must be > 0")
    common.require(FLAGS.h > 0, "h", "must be > 0")
    common.require(FLAGS.h_smooth > 0, "h_smooth", "must be > 0")
    common.require(FLAGS.levels >= 0, "levels", "must be >= 0")
    common.require(FLAGS.output_step > 0, "output_step", "must be > 0")
    jax.config.update("jax_enable_x64", True)
    out = {}
    for dataset in CHANNELS:
        report = check_starter(dataset, size=FLAGS.size, n=FLAGS.n, lam=FLAGS.lam,
                               seed=FLAGS.seed, h=FLAGS.h, h_smooth=FLAGS.h_smooth,
                               levels=FLAGS.levels, output_step=FLAGS.output_step)
        print(gradcheck.format_table(
            report, f"{dataset} starter, {FLAGS.n} images {FLAGS.size}x{FLAGS.size}x"
                    f"{CHANNELS[dataset]}, centred h={FLAGS.h:g}; smooth: steps moving the "
                    f"scores by {FLAGS.output_step:g} (<= {FLAGS.h_smooth:g}), {FLAGS.levels} "
                    f"Richardson levels (max relative errors, float64)"))
        out[dataset] = report
    if FLAGS.workdir:
        results.write_json(common.workdir() / "gradcheck.json", out)


if __name__ == "__main__":
    from absl import app, flags
    from experiments import common
    flags.DEFINE_integer("size", 8, "Image height = width.")
    flags.DEFINE_integer("n", 2, "Number of random images.")
    flags.DEFINE_float("lam", 0.0025, "L2 weight in the checked cost (weight_decay / 2).")
    flags.DEFINE_float("h", 1e-5, "Step of the plain forward / centred differences.")
    flags.DEFINE_float("h_smooth", 10.0, "Largest step of the kink-free reference.")
    flags.DEFINE_float("output_step", 0.03, "The reference's step moves the scores by this.")
    flags.DEFINE_integer("levels", 3, "Richardson extrapolations of the reference.")
    app.run(common.main_wrapper(main))
