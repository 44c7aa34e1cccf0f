"""Times 985 updates (5 epochs of 197) at batch 100 of the surname ConvNet (n1 = n2 = 5,
k1 = k2 = 5; specs §6.4 "efficiency", seed 000 §3.5) for each way of computing the convolutions.

    python benchmarks/names.py [--workdir DIR]   # DIR/benchmark_names.json if given

Variants (layer 1 form + layer 2 form; all compute the same numbers, see tests/test_conv1d.py):
  mx_every_step     MF forward and MX backward built every step in both layers (the sheet's eqs);
  mx_precomputed    layer 1's M^input_{x,k1} precomputed once per name (trick a), layer 2 as above;
  precomputed_eq46  trick a + layer 2 by eq 46 without the I_nf (x) . blow-up (trick b);
  lax               lax.conv_general_dilated forward on the one-hot input, eq 46 backward;
  gather            layer 1 as a lookup of filter columns by character index, layer 2 eq 46.
The seed's numpy code took 37.6 s (MX every step) and 28.5 s (precomputed MX).
Timings: compile once, then the median of --repeats timed calls of one jitted 985-update segment.
"""

from __future__ import annotations

import os
import sys
import time

import jax
import numpy as np
import optax
from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import common
from jaxdl.models import names as names_model
from jaxdl import results, train
from jaxdl.data import names as names_data
from jaxdl.layers import losses

VARIANTS = {"mx_every_step": ("matrix", "matrix"), "mx_precomputed": ("precomputed", "matrix"),
            "precomputed_eq46": ("precomputed", "patches"), "lax": ("lax", "lax"),
            "gather": ("gather", "patches")}

flags.DEFINE_string("variants", ",".join(VARIANTS), "Comma-separated variants to time.")
flags.DEFINE_integer("repeats", 3, "Timed calls per variant (the median is reported).")
flags.DEFINE_integer("n_epochs", 5, "Epochs of 197 updates per timed call (5 = 985 updates).")

FLAGS = flags.FLAGS


def time_variant(form1: str, form2: str, data_set, grad: str) -> dict:
    cfg = names_model.Config(n1=5, k1=5, n2=5, k2=5, d=data_set.alphabet.d,
                               n_len=data_set.alphabet.n_len, form1=form1, form2=form2)
    tr = data_set.train_idx
    indices = names_data.to_indices([data_set.names[i] for i in tr], data_set.alphabet)
    data = train.to_device({"X_train": names_model.encode(indices, cfg),
                            "Y_train": np.eye(18, dtype=np.float32)[data_set.y[tr]]})
    trainer = train.make_trainer(names_model.build(cfg), losses.softmax_cross_entropy,
                                 lambda hp: optax.sgd(hp["eta"], momentum=0.9),
                                 train.shuffled_batches(100, len(tr)), grad=grad,
                                 epochs_per_eval=FLAGS.n_epochs, eval_splits=())
    hp = train.as_hparams(lam=0.0, eta=0.001)
    ts = trainer.init(hp, jax.random.PRNGKey(0), names_model.in_shape(cfg))
    t0 = time.perf_counter()
    segment = jax.jit(trainer.segment, compiler_options=train.compiler_options()).lower(
        ts, hp, data).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(FLAGS.repeats):
        t0 = time.perf_counter()
        ts, m = segment(ts, hp, data)
        jax.block_until_ready(ts)
        times.append(time.perf_counter() - t0)
    updates = FLAGS.n_epochs * (len(tr) // 100)
    return {"form1": form1, "form2": form2, "grad": grad, "updates": updates,
            "compile_seconds": compile_s, "seconds": times, "median_seconds": float(np.median(times)),
            "final_batch_cost": float(m["batch_cost"])}


def main(argv):
    del argv
    names = [v.strip() for v in FLAGS.variants.split(",") if v.strip()]
    common.require(all(v in VARIANTS for v in names), "variants",
                   f"expected names from {sorted(VARIANTS)}")
    common.require(FLAGS.repeats > 0, "repeats", "must be > 0")
    data_set = names_data.load(FLAGS.data_dir)
    rows = []
    for name in names:
        row = {"variant": name, **time_variant(*VARIANTS[name], data_set, FLAGS.grad)}
        logging.info("%s", row)
        rows.append(row)
        print(f"{name:>18} ({row['form1']}+{row['form2']}, {FLAGS.grad}): {row['updates']} updates "
              f"in {row['median_seconds']:.3f} s (median of {FLAGS.repeats}; compile "
              f"{row['compile_seconds']:.1f} s)", flush=True)
    if FLAGS.workdir:
        results.write_json(common.workdir() / "benchmark_names.json",
                           {"backend": jax.default_backend(), "device": str(jax.devices()[0]),
                            "rows": rows})


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
