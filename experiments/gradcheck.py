"""Float64 gradient checks of every model: hand-written backward vs jax.grad vs numerical
differences, and vs a kink-free reference where ReLU or max-pool kinks exist.

    python -m experiments.gradcheck --model MODEL [--hidden 50,30,20 --bn --batch_sizes 10
        --lams 0,0.01 ...] [--workdir runs/gc]

MODEL is one of linear, mlp, bn_after_relu, skip, names, cnn_mnist, cnn_cifar10.

Each --model has its own defaults (--help lists them under each flag):

* linear: the DD2424 Assignment 1 check: batch sizes 1, 2 and 20, lambda 0 and 0.1, on the first
  --dim features of CIFAR-10 when the data is found, else on random standardised inputs.
* mlp: the k-layer MLP of DD2424 Assignment 3, Exercise 1 (--hidden, --bn), on random inputs.
* bn_after_relu, skip: the Assignment 3 bonus nets (BN after the ReLU; skip connections, printed
  beside the same net without them).
* names: the surname ConvNet (n1 = n2 = 5, k1 = k2 = 5) for each conv1d --forms pair, on real
  validation names when found (else random ones), in one table per pair: a row per parameter and
  a column per batch size.
* cnn_mnist, cnn_cifar10: the FMAN45 Assignment 3 starter networks on small random images.

Every table gives, per parameter, the maximum relative error |a - n| / max(eps, |a| + |n|)
against each reference (jaxdl.gradcheck.check_model). The kink-free reference ("smooth")
differentiates the piece of the network that contains theta, every ReLU mask and max-pool
selection frozen, with Richardson extrapolation: a derivative estimate even where the plain
centred difference crosses a kink. With --workdir the numbers also go to results.json.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags, logging  # noqa: E402

from experiments import common  # noqa: E402
from jaxdl import gradcheck, results  # noqa: E402
from jaxdl.data import cifar10  # noqa: E402
from jaxdl.data import names as names_data  # noqa: E402
from jaxdl.data.download import DataError  # noqa: E402
from jaxdl.layers import losses  # noqa: E402
from jaxdl.model import Model  # noqa: E402
from jaxdl.models import cnn, mlp  # noqa: E402
from jaxdl.models import names as names_model  # noqa: E402

MODELS = ("linear", "mlp", "bn_after_relu", "skip", "names", "cnn_mnist", "cnn_cifar10")
_CNN = dict(batch_sizes="2", lams="0.0025", size=8, h_smooth=10.0, levels=3, output_step=0.03)
# The flags each model reads beyond COMMON, with its defaults; other flags do not apply to it.
DEFAULTS = {
    "linear": dict(batch_sizes="1,2,20", lams="0,0.1", dim=20, loss="softmax_ce"),
    "mlp": dict(hidden="50,50", bn=False, bn_bias=False, batch_sizes="1,2,20", lams="0,0.1",
                dim=20),
    "bn_after_relu": dict(hidden="12,8", batch_sizes="6", lams="0.01", dim=10),
    "skip": dict(hidden="8", blocks=2, batch_sizes="6", lams="0.01", dim=10),
    "names": dict(forms="matrix+matrix,gather+patches,lax+lax,precomputed+patches",
                  batch_sizes="1,2,3", lams="0", eps=1e-30, methods="centred"),
    "cnn_mnist": _CNN,
    "cnn_cifar10": _CNN,
}
COMMON = dict(h=1e-5, h_forward=1e-6, eps=1e-12, methods="forward,centred,smooth",
              h_smooth=1e-4, levels=1, output_step=None)


def _defaults(flag: str) -> str:
    """The flag's defaults (COMMON's, then per model), for its help text."""
    parts = [str(COMMON[flag])] if flag in COMMON else []
    parts += [f"{m}: {d[flag]}" for m, d in DEFAULTS.items() if flag in d]
    return " Default: " + "; ".join(parts) + "."


flags.DEFINE_enum("model", "linear", list(MODELS), "Which model to check.")
flags.DEFINE_string("hidden", None, "Hidden widths (skip: the one width)." + _defaults("hidden"))
flags.DEFINE_integer("blocks", None, "skip: two-layer blocks." + _defaults("blocks"),
                     lower_bound=1)
flags.DEFINE_bool("bn", None, "mlp: batch normalisation after each hidden dense layer.")
flags.DEFINE_bool("bn_bias", None, "mlp: keep the (superfluous) hidden biases before BN.")
flags.DEFINE_string("batch_sizes", None, "Batch sizes to check." + _defaults("batch_sizes"))
flags.DEFINE_string("lams", None, "L2 lambdas to check." + _defaults("lams"))
flags.DEFINE_integer("dim", None, "Input dimension (linear: the first `dim` features)."
                     + _defaults("dim"), lower_bound=1)
flags.DEFINE_integer("size", None, "cnn: image height = width (two 2x2 pools need 4)."
                     + _defaults("size"), lower_bound=4)
flags.DEFINE_enum("loss", None, ["softmax_ce", "mbce"], "linear: the loss." + _defaults("loss"))
flags.DEFINE_string("forms", None, "names: comma-separated layer1+layer2 conv1d form pairs."
                    + _defaults("forms"))
flags.DEFINE_string("methods", None, f"References, from {', '.join(gradcheck.METHODS)} (smooth: "
                    "only where ReLU or max-pool kinks exist)." + _defaults("methods"))
flags.DEFINE_float("h", None, "Centred-difference step, also the kink count's." + _defaults("h"))
flags.DEFINE_float("h_forward", None, "Forward-difference step." + _defaults("h_forward"))
flags.DEFINE_float("eps", None, "Floor of the relative error's denominator." + _defaults("eps"))
flags.DEFINE_float("h_smooth", None, "Largest step of the kink-free reference."
                   + _defaults("h_smooth"))
flags.DEFINE_integer("levels", None, "Richardson extrapolations of the kink-free reference."
                     + _defaults("levels"), lower_bound=0)
flags.DEFINE_float("output_step", None, "Kink-free reference: each entry's step moves the "
                   "scores by about this (None: every entry steps by --h_smooth)."
                   + _defaults("output_step"))
for _name in ("h", "h_forward", "eps", "h_smooth", "output_step"):
    flags.register_validator(_name, lambda v: v is None or v > 0, message="must be > 0")
flags.register_validator(
    "batch_sizes", lambda v: v is None or all(s.strip().isdigit() and int(s) > 0
                                              for s in v.split(",")),
    message="expected comma-separated integers > 0")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of one invocation: the model's defaults overridden by the flags given."""
    model: str
    seed: int
    batch_sizes: tuple[int, ...]
    lams: tuple[float, ...]
    methods: tuple[str, ...]
    h: float
    h_forward: float
    eps: float
    h_smooth: float
    levels: int
    output_step: float | None
    hidden: tuple[int, ...] = ()
    blocks: int | None = None
    bn: bool = False
    bn_bias: bool = False
    dim: int | None = None
    size: int | None = None
    loss: str = "softmax_ce"
    forms: tuple[tuple[str, str], ...] = ()


def results_flags(cfg: Config | None = None) -> dict:
    """The settings results.json records as its flags: the resolved config (`cfg`, else the
    flags'), which experiments.reproduce compares with those of a rerun."""
    return dataclasses.asdict(cfg or config_from_flags())


def config_from_flags() -> Config:
    """The model's defaults, then the flags given; rejects a flag the model does not read."""
    model = FLAGS.model
    values = {**COMMON, **DEFAULTS[model]}
    for name in (f.name for f in FLAGS.get_flags_for_module(__name__) if f.name != "model"):
        if FLAGS[name].present:
            common.require(name in values, name, f"does not apply to --model {model}")
            values[name] = FLAGS[name].value
    values["batch_sizes"] = tuple(common.parse_ints(values["batch_sizes"], "batch_sizes"))
    values["lams"] = tuple(common.parse_floats(values["lams"], "lams"))
    common.require(min(values["lams"]) >= 0, "lams", "must be >= 0")
    values["methods"] = tuple(m.strip() for m in values["methods"].split(",") if m.strip())
    common.require(bool(values["methods"]) and set(values["methods"]) <= set(gradcheck.METHODS),
                   "methods", f"expected some of {', '.join(gradcheck.METHODS)}")
    if "hidden" in values:
        values["hidden"] = tuple(common.parse_ints(values["hidden"], "hidden"))
        common.require(bool(values["hidden"]) and min(values["hidden"]) > 0, "hidden",
                       "widths must be > 0")
        common.require(model != "skip" or len(values["hidden"]) == 1, "hidden",
                       "--model skip takes one width (every layer of the net has it)")
    if "forms" in values:
        pairs = tuple(tuple(p.strip().split("+")) for p in values["forms"].split(",")
                      if p.strip())
        common.require(bool(pairs) and all(len(p) == 2 and p[0] in names_model.LAYER1_FORMS
                                           and p[1] in names_model.LAYER2_FORMS for p in pairs),
                       "forms", f"expected layer1+layer2 pairs from {names_model.LAYER1_FORMS}"
                                f" + {names_model.LAYER2_FORMS}")
        values["forms"] = pairs
    batch_norm = model in ("bn_after_relu", "skip") or values.get("bn")
    common.require(not batch_norm or min(values["batch_sizes"]) >= 2, "batch_sizes",
                   "batch norm needs batches of at least 2")
    return Config(model=model, seed=FLAGS.seed, **values)


class Variant(NamedTuple):
    name: str  # of its runs in results.json
    title: str
    model: Model
    in_shape: tuple[int, ...]
    names_net: names_model.Config | None = None  # names: how to encode the input


def variants(cfg: Config) -> list[Variant]:
    """The networks one invocation checks (skip: with and without the skip connections; names:
    one per form pair)."""
    if cfg.model == "names":
        nets = [names_model.Config(n1=5, k1=5, n2=5, k2=5, form1=f1, form2=f2)
                for f1, f2 in cfg.forms]
        return [Variant(f"names_{n.form1}+{n.form2}", f"conv1d forms {n.form1} + {n.form2}",
                        names_model.build(n), names_model.in_shape(n), n) for n in nets]
    if cfg.model.startswith("cnn_"):
        dataset = cfg.model.removeprefix("cnn_")
        shape = (cfg.size, cfg.size, {"mnist": 1, "cifar10": 3}[dataset])
        return [Variant(cfg.model, f"{dataset} starter", cnn.starter(dataset), shape)]
    shape = (cfg.dim,)
    if cfg.model == "linear":
        return [Variant("linear", "linear", mlp.linear(cifar10.N_CLASSES, 0.01), shape)]
    if cfg.model == "mlp":
        title = f"mlp [{','.join(map(str, cfg.hidden))}]" + (" + BN" if cfg.bn else "")
        return [Variant("mlp", title, mlp.mlp(cfg.hidden, bn=cfg.bn, bn_bias=cfg.bn_bias),
                        shape)]
    if cfg.model == "bn_after_relu":
        return [Variant("bn_after_relu", f"BN after ReLU {list(cfg.hidden)}",
                        mlp.mlp_bn_after_relu(cfg.hidden), shape)]
    width, blocks = cfg.hidden[0], cfg.blocks
    title = f"skip connections, width {width}, {blocks} blocks ({2 + 2 * blocks} weight layers)"
    return [Variant("skip", title, mlp.skip_mlp(width, blocks), shape),
            Variant("skip_plain", "same net without skip connections",
                    mlp.skip_mlp(width, blocks, skip=False), shape)]


def linear_inputs(n: int, dim: int, seed: int, data_dir: str | None):
    """The first n CIFAR-10 training samples reduced to `dim` features, else random ones."""
    try:
        split = cifar10.load_splits("a1", data_dir)["train"]
        return jnp.asarray(split.X[:n, :dim]), jnp.asarray(split.Y[:n]), "cifar10 inputs"
    except DataError as e:
        logging.warning("no CIFAR-10 data (%s); checking on random inputs", e)
    key = jax.random.PRNGKey(seed)
    k = cifar10.N_CLASSES
    X = jax.random.normal(key, (n, dim))
    Y = jax.nn.one_hot(jax.random.randint(jax.random.fold_in(key, 1), (n,), 0, k), k)
    return X, Y, "random inputs"


def names_inputs(n: int, net: names_model.Config, data_dir: str | None):
    """n validation names spread over the set, else random ones, encoded for net."""
    try:
        data = names_data.load(data_dir)
        idx = data.val_idx[np.linspace(0, len(data.val_idx) - 1, n).astype(int)]
        indices = names_data.to_indices([data.names[i] for i in idx], data.alphabet)
        labels, source = data.y[idx], "real validation names"
    except DataError as e:
        logging.warning("%s; using random names", e)
        rng = np.random.default_rng(0)
        indices, labels = rng.integers(0, 29, (n, 19)).astype(np.int32), rng.integers(0, 18, n)
        source = "random names"
    return (names_model.encode(indices, net), jax.nn.one_hot(jnp.asarray(labels), 18),
            source)


def problems(cfg: Config, variant: Variant, data_dir: str | None) -> list[tuple]:
    """(n, params, state, X, Y, key, source) per batch size: the first n real samples (linear,
    names) or gradcheck.random_problem's n random ones."""
    n_max = max(cfg.batch_sizes)
    if cfg.model not in ("linear", "names"):
        return [(n, *gradcheck.random_problem(variant.model, variant.in_shape, n, 10, cfg.seed),
                 "random inputs") for n in cfg.batch_sizes]
    params, state = variant.model.init(jax.random.PRNGKey(cfg.seed), variant.in_shape)
    X, Y, source = (linear_inputs(n_max, cfg.dim, cfg.seed, data_dir) if cfg.model == "linear"
                    else names_inputs(n_max, variant.names_net, data_dir))
    return [(n, params, state, X[:n], Y[:n], None, source) for n in cfg.batch_sizes]


def names_table(title: str, reports: dict[int, dict], h: float) -> str:
    """One form pair's check: a row per parameter, a column per batch size, three blocks."""
    lines = [f"\n{title}"]
    for column, what in (("manual_vs_centred", f"max relative error vs centred differences, "
                                               f"h={h:g}"),
                         ("manual_vs_autodiff", "max relative error vs jax.grad"),
                         ("max_abs_manual_vs_centred", "max abs error vs centred")):
        lines.append(f"  {what}")
        lines.append("  " + f"{'':<5}" + "".join(f"{f'batch {n}':>14}" for n in reports))
        for label, key in (("W", "W3"), ("F_1", "F1"), ("F_2", "F2")):
            lines.append("  " + f"{label:<5}" + "".join(f"{r[key][column]:>14.2e}"
                                                        for r in reports.values()))
    return "\n".join(lines)


def main(argv):
    del argv
    cfg = config_from_flags()
    workdir = common.workdir() if FLAGS.workdir else None  # refused before any checking
    t0 = time.perf_counter()
    options = dict(methods=cfg.methods, h=cfg.h, h_forward=cfg.h_forward, eps=cfg.eps,
                   count_kinks="smooth" in cfg.methods, h_smooth=cfg.h_smooth,
                   levels=cfg.levels, output_step=cfg.output_step)
    steps = f"h = {cfg.h:g} (forward {cfg.h_forward:g})"
    smooth_steps = (f"; smooth: ReLU masks and max-pool selections frozen, steps <= "
                    f"{cfg.h_smooth:g}" + (f" moving the scores by {cfg.output_step:g}"
                                           if cfg.output_step else "")
                    + f", {cfg.levels} Richardson level(s)")
    runs = []
    for variant in variants(cfg):
        kinked = "smooth" in cfg.methods and gradcheck.kinks.has_kinks(variant.model)
        steps_here = steps + (smooth_steps if kinked else "")
        by_lam = {lam: {} for lam in cfg.lams}
        for n, params, state, X, Y, key, source in problems(cfg, variant, FLAGS.data_dir):
            for lam in cfg.lams:
                report = gradcheck.check_model(variant.model, losses.by_name(cfg.loss), params,
                                               state, X, Y, lam, key=key, **options)
                by_lam[lam][n] = report
                if cfg.model != "names":
                    print(gradcheck.format_table(
                        report, f"{variant.title}: batch size {n}, lambda {lam:g}, input "
                                f"{'x'.join(map(str, variant.in_shape))} ({source}), "
                                f"{steps_here}, float64, max relative errors") + "\n")
                worst = {k: max(row[k] for row in report.values())
                         for k in next(iter(report.values()))}
                runs.append({"name": f"{variant.name}_n{n}_lam{lam:g}",
                             "config": {"network": variant.title, "batch_size": n, "lam": lam,
                                        "data": source},
                             "metrics": {f"max_rel_error_{k}": v for k, v in worst.items()},
                             "per_parameter": report})
        if cfg.model == "names":
            for lam, by_n in by_lam.items():
                print(names_table(f"{variant.title} ({source}; n1=n2=5, k1=k2=5; lambda "
                                  f"{lam:g}; float64)", by_n, cfg.h))
    if workdir:
        results.write_results(workdir, "gradcheck", results_flags(cfg), runs,
                              wall_seconds=time.perf_counter() - t0)
    for column, what in (("manual_vs_centred", "manual vs centred"),
                         ("manual_vs_autodiff", "manual vs autodiff"),
                         ("manual_vs_smooth", "manual vs smooth-piece (kink-free)")):
        values = [r["metrics"][f"max_rel_error_{column}"] for r in runs
                  if f"max_rel_error_{column}" in r["metrics"]]
        if values:
            print(f"worst: {what} {max(values):.2e}")


if __name__ == "__main__":
    common.run(main)
