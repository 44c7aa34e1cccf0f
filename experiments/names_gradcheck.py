"""Gradient check of the surname ConvNet in float64, in the layout of seed 000 Table 1.

    python -m experiments.names_gradcheck [--workdir DIR]

n1 = n2 = 5, k1 = k2 = 5 (the teacher's setting), batch sizes 1, 2, 3 of real names when the data
is found (else random names), for each conv1d form pair. Prints, per form pair, the maximum
relative error |a - n| / max(eps, |a| + |n|) of W, F1, F2 against centred differences (h = 1e-5)
and against jax.grad; DIR/results.json gets all the numbers.
"""

from __future__ import annotations

import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from experiments import common  # noqa: E402
from jaxdl.models import names as names_model
from jaxdl import gradcheck, results  # noqa: E402
from jaxdl.data import names as names_data  # noqa: E402
from jaxdl.data.download import DataError  # noqa: E402
from jaxdl.layers import losses  # noqa: E402

flags.DEFINE_string("forms", "matrix+matrix,gather+patches,lax+lax,precomputed+patches",
                    "Comma-separated layer1+layer2 conv1d forms to check.")
flags.DEFINE_string("batch_sizes", "1,2,3", "Comma-separated batch sizes.")
flags.DEFINE_float("h", 1e-5, "Centred-difference step.")
flags.DEFINE_float("eps", 1e-30, "eps of the relative error (seed 000 used 1e-30).")

FLAGS = flags.FLAGS
ROWS = (("W", "W3"), ("F_1", "F1"), ("F_2", "F2"))


def sample_names(n_max: int):
    """(indices, labels, source): the first n_max validation names, or random ones offline."""
    try:
        data = names_data.load(FLAGS.data_dir)
        idx = data.val_idx[np.linspace(0, len(data.val_idx) - 1, n_max).astype(int)]
        return (names_data.to_indices([data.names[i] for i in idx], data.alphabet),
                data.y[idx], "real validation names")
    except DataError as e:
        logging.warning("%s; using random names", e)
        rng = np.random.default_rng(0)
        return rng.integers(0, 29, (n_max, 19)).astype(np.int32), rng.integers(0, 18, n_max), \
            "random names"


def main(argv):
    del argv
    pairs = [p.strip().split("+") for p in FLAGS.forms.split(",") if p.strip()]
    common.require(all(len(p) == 2 and p[0] in names_model.LAYER1_FORMS
                       and p[1] in names_model.LAYER2_FORMS for p in pairs), "forms",
                   f"expected layer1+layer2 pairs from {names_model.LAYER1_FORMS} + "
                   f"{names_model.LAYER2_FORMS}")
    sizes = common.parse_ints(FLAGS.batch_sizes, "batch_sizes")
    common.require(bool(sizes) and min(sizes) > 0, "batch_sizes", "must be positive")
    t0 = time.perf_counter()
    indices, labels, source = sample_names(max(sizes))
    tables = []
    for form1, form2 in pairs:
        cfg = names_model.Config(n1=5, k1=5, n2=5, k2=5, form1=form1, form2=form2)
        model = names_model.build(cfg)
        params, state = model.init(jax.random.PRNGKey(FLAGS.seed), names_model.in_shape(cfg))
        report = {}
        for n in sizes:
            X = names_model.encode(indices[:n], cfg)
            Y = jax.nn.one_hot(jnp.asarray(labels[:n]), 18)
            report[n] = gradcheck.check(model, losses.softmax_cross_entropy, params, state, X, Y,
                                        0.0, h=FLAGS.h, eps=FLAGS.eps, methods=("centred",))
        tables.append({"form1": form1, "form2": form2, "report": report})
        print(f"\nconv1d forms {form1} + {form2} ({source}; n1=n2=5, k1=k2=5; float64)")
        for column, title in (("manual_vs_centred", f"vs centred differences, h={FLAGS.h:g}"),
                              ("manual_vs_autodiff", "vs jax.grad"),
                              ("max_abs_manual_vs_centred", "max abs error vs centred")):
            print(f"  max relative error {title}" if "abs" not in column else f"  {title}")
            print("  " + f"{'':<5}" + "".join(f"{f'batch {n}':>14}" for n in sizes))
            for label, key in ROWS:
                print("  " + f"{label:<5}" + "".join(f"{report[n][key][column]:>14.2e}"
                                                      for n in sizes))
    if FLAGS.workdir:
        results.write_json(common.workdir() / "results.json",
                           {"experiment": "names_gradcheck", "jax_version": jax.__version__,
                            "wall_seconds": time.perf_counter() - t0, "source": source,
                            "tables": tables})


if __name__ == "__main__":
    app.run(common.main_wrapper(main))
