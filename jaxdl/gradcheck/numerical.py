"""Numerical differences, the relative error, and the float64 cast every gradient check needs.

Numerical gradients perturb every parameter entry, as the course's routines do:
forward difference (ComputeGradsNum)  (J(theta + h e_i) - J(theta)) / h, and
centred difference (ComputeGradsNumSlow) (J(theta + h e_i) - J(theta - h e_i)) / (2h).
The entries are evaluated in parallel (lax.map over chunks of a vmapped cost), not in a loop.

Each method has its own step: centred h = 1e-5 (DD2424 Assignment 2's "best precision"; in float64
its errors are ~100x smaller than at 1e-6) and forward h = 1e-6 (the example call of DD2424
Assignment 1; forward differences are only O(h) accurate, so a smaller step is better for them).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

DIFFERENCES = ("forward", "centred")


def numerical_gradient(f: Callable[[Any], jax.Array], params: Any, h: float = 1e-5,
                       method: str = "centred", chunk: int = 512) -> Any:
    """Finite-difference gradient of scalar f(params) with respect to every entry of params."""
    if method not in DIFFERENCES:
        raise ValueError(f"unknown method {method!r}: expected one of {DIFFERENCES}")
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
    """max_i |a_i - n_i| / max(eps, |a_i| + |n_i|): the figure of merit of every check."""
    a, n = np.asarray(a, np.float64), np.asarray(n, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(eps, np.abs(a) + np.abs(n))))


def max_abs_error(a, n) -> float:
    """max_i |a_i - n_i|: the measure where the exact gradient is 0 or below the rounding floor."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(n))))


def to_float64(tree: Any) -> Any:
    """Casts every floating array of a pytree to float64 (needs jax_enable_x64)."""
    if not jax.config.jax_enable_x64:
        raise RuntimeError("gradient checks run in float64: enable jax_enable_x64 first "
                           "(jax.config.update('jax_enable_x64', True))")
    return _to_float64(tree)


@jax.jit
def _to_float64(tree: Any) -> Any:  # one compiled program, not one eager cast per leaf
    return jax.tree.map(lambda x: x.astype(jnp.float64)
                        if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
