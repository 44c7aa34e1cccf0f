"""Gradient checks: hand-written backward vs jax.grad vs numerical differences, in float64.

Numerical gradients perturb every parameter entry, as the course's routines do:
forward difference (ComputeGradsNum)  (J(theta + h e_i) - J(theta)) / h, and
centred difference (ComputeGradsNumSlow) (J(theta + h e_i) - J(theta - h e_i)) / (2h).
The entries are evaluated in parallel (lax.map over chunks of a vmapped cost), not in a loop.

Each method has its own step: centred h = 1e-5 (the A2 sheet's "best precision"; in float64 its
errors are ~100x smaller than at 1e-6) and forward h_forward = 1e-6 (the A1 sheet's example call;
forward differences are only O(h) accurate, so a smaller step is better for them).

The figure of merit is the maximum over a parameter's entries of the relative error
|a - n| / max(eps, |a| + |n|).
"""

from __future__ import annotations

from typing import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxdl import model as model_lib
from jaxdl.layers.losses import Loss

METHODS = ("forward", "centred")


def numerical_gradient(f: Callable, params, h: float = 1e-5, method: str = "centred",
                       chunk: int = 512):
    """Finite-difference gradient of scalar f(params) with respect to every entry of params."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {METHODS}")
    flat, unravel = ravel_pytree(params)

    @jax.jit
    def run(flat):
        f0 = f(unravel(flat))

        def partial(i):
            e = jnp.zeros_like(flat).at[i].set(h)
            if method == "centred":
                return (f(unravel(flat + e)) - f(unravel(flat - e))) / (2 * h)
            return (f(unravel(flat + e)) - f0) / h

        return jax.lax.map(partial, jnp.arange(flat.size), batch_size=chunk)

    return unravel(run(flat))


def relative_error(a, n, eps: float = 1e-12) -> float:
    """max_i |a_i - n_i| / max(eps, |a_i| + |n_i|)."""
    a, n = np.asarray(a, np.float64), np.asarray(n, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(eps, np.abs(a) + np.abs(n))))


def to_float64(tree):
    """Casts every floating array of a pytree to float64 (needs jax_enable_x64)."""
    if not jax.config.jax_enable_x64:
        raise RuntimeError("gradient checks run in float64: enable jax_enable_x64 first "
                           "(jax.config.update('jax_enable_x64', True))")
    return jax.tree.map(lambda x: x.astype(jnp.float64)
                        if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def check(model: model_lib.Model, loss: Loss, params, state, X, Y, lam: float, *,
          key=None, weights=None, h: float = 1e-5, h_forward: float = 1e-6,
          eps: float = 1e-12, methods=METHODS, train: bool = True,
          references: dict | None = None) -> dict[str, dict[str, float]]:
    """Compares the manual gradient with autodiff and numerical differences, all in float64.

    Returns {param_name: {"manual_vs_autodiff": e, "manual_vs_centred": e,
    "manual_vs_forward": e, "autodiff_vs_centred": e, "max_abs_manual_vs_centred": d}} of maximum
    relative errors. Asserts (chex) that manual and autodiff gradients agree to 1e-9 relative.
    references: optional {name: gradient pytree like params} computed elsewhere (e.g.
    gradcheck_relu.smooth_piece_gradient), compared the same way: "manual_vs_<name>",
    "autodiff_vs_<name>", "max_abs_manual_vs_<name>".
    """
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

    steps = {"centred": h, "forward": h_forward}
    numeric = {m: model_lib.flat_params(numerical_gradient(J, params, steps[m], m))
               for m in methods}
    numeric.update({r: model_lib.flat_params(tree) for r, tree in (references or {}).items()})
    g_manual, g_auto = model_lib.flat_params(g_manual), model_lib.flat_params(g_auto)
    report = {}
    for name in g_manual:
        row = {"manual_vs_autodiff": relative_error(g_manual[name], g_auto[name], eps)}
        for m in numeric:
            row[f"manual_vs_{m}"] = relative_error(g_manual[name], numeric[m][name], eps)
            row[f"autodiff_vs_{m}"] = relative_error(g_auto[name], numeric[m][name], eps)
        for m in [m for m in numeric if m != "forward"]:
            row[f"max_abs_manual_vs_{m}"] = float(
                np.max(np.abs(np.asarray(g_manual[name]) - np.asarray(numeric[m][name]))))
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
