"""Gradient checks of any Model in float64: the hand-written backward against jax.grad, numerical
differences, and, where ReLU or max-pool kinks exist, a kink-free reference.

`check_model` is the one entry point; `numerical` holds the differences and the error measures,
`kinks` the kink count and the kink-free (frozen-pattern, Richardson) reference.
"""

from __future__ import annotations

from typing import Any, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import model as model_lib
from jaxdl.gradcheck import kinks, numerical
from jaxdl.gradcheck.numerical import max_abs_error, relative_error, to_float64
from jaxdl.layers import initializers
from jaxdl.layers.losses import Loss

METHODS = ("forward", "centred", "smooth")


def random_problem(model: model_lib.Model, in_shape: Sequence[int], n: int,
                   n_classes: int = 10, seed: int = 0) -> tuple[Any, Any, jax.Array, jax.Array,
                                                                jax.Array]:
    """A reduced problem, small enough to perturb every entry: (params, state, X, Y, key) with
    params and state from model.init, n standard-normal inputs of in_shape, random one-hot labels
    and a key for dropout; PRNGKey(seed) split into these four keys in that order."""
    k_init, k_x, k_y, k_drop = jax.random.split(jax.random.PRNGKey(seed), 4)
    params, state = model.init(k_init, tuple(in_shape))
    X = initializers.standard_normal(k_x, (n, *in_shape), jnp.result_type(float))
    Y = jax.nn.one_hot(jax.random.randint(k_y, (n,), 0, n_classes), n_classes)
    return params, state, X, Y, k_drop


def check_model(model: model_lib.Model, loss: Loss, params: Any, state: Any, X: jax.Array,
                Y: jax.Array, lam: float, *, key: jax.Array | None = None,
                weights: jax.Array | None = None, methods: Sequence[str] = METHODS,
                h: float = 1e-5, h_forward: float = 1e-6, eps: float = 1e-12,
                train: bool = True, count_kinks: bool = True, h_smooth: float = 1e-4,
                levels: int = 1, output_step: float | None = None, chunk: int = 512
                ) -> dict[str, dict[str, float]]:
    """Checks the manual gradient of the cost at (params, X, Y, lam), everything in float64.

    Asserts (chex) that manual and autodiff gradients agree to 1e-9 relative, then compares the
    manual gradient with each reference in `methods`: "forward" (step h_forward) and "centred"
    (step h) differences, and "smooth": kinks.smooth_piece_gradient(h_smooth, levels,
    output_step), the derivative on theta's kink-free piece, computed only where
    kinks.has_kinks(model) (elsewhere the plain differences have no kink to cross).

    chunk: parameter entries perturbed at once (a vmapped batch inside lax.map); 1 perturbs one
    entry at a time, which is faster for small convolutional nets (vmapping their filters makes
    grouped convolutions). The estimates agree to rounding either way.

    Returns {param_name: row}; row has "manual_vs_autodiff", then per reference m
    "manual_vs_<m>" and "autodiff_vs_<m>" (max relative errors, floor eps), then
    "max_abs_manual_vs_<m>" for every m but forward; with count_kinks, on a kinked model,
    "kink_entries" (entries whose +-h perturbation changes a ReLU mask or max-pool selection:
    there the centred difference is no derivative estimate); with the smooth reference,
    "min_abs_gradient" (its smallest |entry|).
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}: expected some of {METHODS}")
    params, state, X, Y = to_float64((params, state, X, Y))
    weights = None if weights is None else to_float64(weights)
    lam = jnp.asarray(lam, jnp.float64)
    manual = jax.jit(model_lib.value_and_grad(model, loss, "manual", train=train))
    autodiff = jax.jit(model_lib.value_and_grad(model, loss, "autodiff", train=train))
    (_, _), g_manual = manual(params, state, X, Y, lam, key, weights)
    (_, _), g_auto = autodiff(params, state, X, Y, lam, key, weights)
    chex.assert_trees_all_close(g_manual, g_auto, rtol=1e-9, atol=1e-12)

    def J(p):
        return model_lib.cost(model, loss, p, state, X, Y, lam, train=train, key=key,
                              weights=weights)[0]

    steps = {"forward": h_forward, "centred": h}
    kinked = kinks.has_kinks(model)
    refs = {}
    for m in methods:
        if m in steps:
            refs[m] = numerical.numerical_gradient(J, params, steps[m], m, chunk=chunk)
        elif kinked:
            refs[m] = kinks.smooth_piece_gradient(model, loss, params, state, X, Y, lam,
                                                  h=h_smooth, levels=levels,
                                                  output_step=output_step, train=train,
                                                  key=key, weights=weights, chunk=chunk)
    refs = {m: model_lib.flat_params(tree) for m, tree in refs.items()}
    crossings = (model_lib.flat_params(kinks.kink_crossings(model, params, state, X, h,
                                                            train=train, key=key))
                 if count_kinks and kinked else None)
    g_manual, g_auto = model_lib.flat_params(g_manual), model_lib.flat_params(g_auto)
    report = {}
    for name in g_manual:
        row = {"manual_vs_autodiff": relative_error(g_manual[name], g_auto[name], eps)}
        for m, ref in refs.items():
            row[f"manual_vs_{m}"] = relative_error(g_manual[name], ref[name], eps)
            row[f"autodiff_vs_{m}"] = relative_error(g_auto[name], ref[name], eps)
        for m in [m for m in refs if m != "forward"]:
            row[f"max_abs_manual_vs_{m}"] = max_abs_error(g_manual[name], refs[m][name])
        if crossings is not None:
            row["kink_entries"] = float(np.sum(np.asarray(crossings[name])))
        if "smooth" in refs:
            row["min_abs_gradient"] = float(np.min(np.abs(np.asarray(refs["smooth"][name]))))
        report[name] = row
    return report


def format_table(report: dict[str, dict[str, float]], title: str = "") -> str:
    """A plain-text table: one row per parameter, one column per comparison."""
    cols = list(next(iter(report.values())).keys())
    lines = [title] if title else []
    lines.append(f"{'param':<8}" + "".join(f"{c:>28}" for c in cols))
    for name, row in report.items():
        lines.append(f"{name:<8}" + "".join(f"{row[c]:>28.3e}" for c in cols))
    return "\n".join(lines)
