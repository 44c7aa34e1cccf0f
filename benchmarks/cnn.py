"""Images per second of the MNIST starter CNN's jitted training step (specs section 7.2 network,
FMAN45 momentum rule), hand-written backward vs jax.grad, at several batch sizes.

    python -m benchmarks.cnn [--batches 16,128] [--steps 500] [--workdir DIR]

One timed call = one compiled lax.scan over --steps update steps on device-resident data (random
images of the MNIST shape: the speed does not depend on the pixel values). Compile once, then the
median of --repeats calls. Writes DIR/benchmark_cnn.json when --workdir is given.
"""

from __future__ import annotations

import time

import jax
import numpy as np
from absl import app, flags

from experiments import common
from jaxdl.models import cnn
from jaxdl import optimizers, results, train
from jaxdl import model as model_lib
from jaxdl.layers import losses

flags.DEFINE_string("batches", "16,128", "Comma-separated batch sizes.")
flags.DEFINE_integer("steps", 500, "Update steps per timed call.")
flags.DEFINE_integer("repeats", 3, "Timed calls per setting (the median is reported).")
flags.DEFINE_string("grads", "manual,autodiff", "Gradient kinds to time.")

FLAGS = flags.FLAGS


def time_setting(batch: int, grad: str) -> dict:
    n = batch * FLAGS.steps
    rng = np.random.default_rng(0)
    data = train.to_device({"X_train": rng.normal(size=(n, 28, 28, 1)).astype(np.float32),
                            "Y_train": np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]})
    model = cnn.starter("mnist")
    trainer = train.make_trainer(
        model, losses.softmax_cross_entropy,
        lambda hp: optimizers.fman45_momentum(hp["lr"], hp["momentum"], hp["weight_decay"]),
        train.sequential_batches(batch, n), grad=grad, eval_splits=())
    hp = train.as_hparams(lam=0.0, lr=0.1, momentum=0.9, weight_decay=0.005)
    ts = trainer.init(hp, jax.random.PRNGKey(0), (28, 28, 1))
    t0 = time.perf_counter()
    epoch = jax.jit(trainer.epoch, compiler_options=train.compiler_options()).lower(
        ts, hp, data).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(FLAGS.repeats):
        t0 = time.perf_counter()
        ts, cost = epoch(ts, hp, data)
        jax.block_until_ready(ts)
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))
    return {"batch": batch, "grad": grad, "steps": FLAGS.steps, "compile_seconds": compile_s,
            "seconds": times, "median_seconds": median,
            "images_per_second": batch * FLAGS.steps / median,
            "steps_per_second": FLAGS.steps / median, "final_cost": float(cost)}


def main(argv):
    del argv
    batches = common.parse_ints(FLAGS.batches, "batches")
    grads = [g.strip() for g in FLAGS.grads.split(",") if g.strip()]
    common.require(bool(batches) and all(b > 0 for b in batches), "batches", "must be > 0")
    common.require(bool(grads) and all(g in model_lib.GRAD_KINDS for g in grads), "grads",
                   f"expected names from {model_lib.GRAD_KINDS}")
    common.require(FLAGS.steps > 0, "steps", "must be > 0")
    common.require(FLAGS.repeats > 0, "repeats", "must be > 0")
    rows = []
    for batch in batches:
        for grad in grads:
            row = time_setting(batch, grad)
            rows.append(row)
            print(f"batch {batch:>4} {grad:>8}: {row['images_per_second']:>9.0f} images/s "
                  f"({row['steps_per_second']:.0f} steps/s, compile {row['compile_seconds']:.1f} s)")
    if FLAGS.workdir:
        results.write_json(common.workdir() / "benchmark_cnn.json",
                           {"backend": jax.default_backend(), "device": str(jax.devices()[0]),
                            "rows": rows})


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
