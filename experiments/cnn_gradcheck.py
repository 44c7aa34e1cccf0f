"""Float64 gradient check of both FMAN45 starter networks: hand-written backward vs jax.grad vs
forward and centred differences (specs section 7.1, Ex 2-4 and test_gradient_whole_net.m).

The layer stacks are exactly the starters' (section 7.2); the images are small random ones
(--size x --size, --n of them) so that perturbing every parameter stays quick. --size 28 (MNIST)
and 32 (CIFAR-10) check the full-size nets (slow on a CPU: ~2 x 15 000 / 50 000 evaluations).

    python -m experiments.cnn_gradcheck --workdir runs/cnn_gradcheck
"""

from __future__ import annotations

import jax
from absl import app, flags

from experiments import common
from jaxdl import convnets, gradcheck, results
from jaxdl import model as model_lib
from jaxdl.layers import losses

flags.DEFINE_integer("size", 8, "Image height = width.")
flags.DEFINE_integer("n", 2, "Number of random images.")
flags.DEFINE_float("lam", 0.0025, "L2 weight in the checked cost (weight_decay / 2).")
flags.DEFINE_float("h", 1e-5, "Finite-difference step.")

FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.require(FLAGS.size >= 4, "size", "must be >= 4 (two 2x2 pools)")
    common.require(FLAGS.n > 0, "n", "must be > 0")
    common.require(FLAGS.h > 0, "h", "must be > 0")
    jax.config.update("jax_enable_x64", True)
    out = {}
    for dataset, channels in (("mnist", 1), ("cifar10", 3)):
        model = model_lib.sequential(convnets.starter(dataset))
        k1, k2, k3 = jax.random.split(jax.random.PRNGKey(FLAGS.seed), 3)
        shape = (FLAGS.size, FLAGS.size, channels)
        params, state = model.init(k1, shape)
        X = jax.random.normal(k2, (FLAGS.n, *shape))
        Y = jax.nn.one_hot(jax.random.randint(k3, (FLAGS.n,), 0, 10), 10)
        report = gradcheck.check(model, losses.softmax_cross_entropy, params, state, X, Y,
                                 FLAGS.lam, h=FLAGS.h)
        print(gradcheck.format_table(report, f"{dataset} starter, {FLAGS.n} images "
                                             f"{FLAGS.size}x{FLAGS.size}x{channels}, h={FLAGS.h:g}"))
        out[dataset] = report
    if FLAGS.workdir:
        results.write_json(common.workdir() / "gradcheck.json", out)


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
