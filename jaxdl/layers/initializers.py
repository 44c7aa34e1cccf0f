"""Weight initialisers: f(key, shape, fan_in, fan_out) -> array."""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

Initializer = Callable[[jax.Array, tuple[int, ...], int, int], jax.Array]


def standard_normal(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    """`jax.random.normal(key, shape, dtype)`, bit for bit, compiled once per power-of-two size
    rather than once per shape. With partitionable threefry (JAX's default) entry i depends only
    on the key and i, so the first n entries of a longer draw are the n-entry draw; a model's
    layers then share a few compiled draws instead of compiling one each. Under a transformation
    (jit, vmap) it is jax.random.normal itself, so the traced program is the one it always was."""
    if isinstance(key, jax.core.Tracer) or not jax.config.jax_threefry_partitionable:
        return jax.random.normal(key, shape, dtype)  # traced: compiled with its caller anyway
    n = math.prod(shape)
    size = 1 << max(n - 1, 0).bit_length()
    return jax.random.normal(key, (size,), dtype)[:n].reshape(shape)


def normal(std: float) -> Initializer:
    """N(0, std^2) entries: the A1 sheet's 0.01 and the sensitivity study's fixed sigma."""
    def init(key, shape, fan_in, fan_out):
        return std * standard_normal(key, shape)
    return init


def he() -> Initializer:
    """N(0, 2/fan_in): He et al. 2015, for ReLU layers."""
    def init(key, shape, fan_in, fan_out):
        return math.sqrt(2.0 / fan_in) * standard_normal(key, shape)
    return init


def xavier() -> Initializer:
    """N(0, 1/fan_in): the course's Xavier (and A2's std 1/sqrt(d), 1/sqrt(m))."""
    def init(key, shape, fan_in, fan_out):
        return math.sqrt(1.0 / fan_in) * standard_normal(key, shape)
    return init


def zeros() -> Initializer:
    def init(key, shape, fan_in, fan_out):
        return jnp.zeros(shape, jnp.float32)
    return init


def by_name(name: str, std: float | None = None) -> Initializer:
    """'he', 'xavier', 'zeros', or 'normal' (which needs std)."""
    if name == "normal":
        if std is None:
            raise ValueError("the 'normal' initialiser needs std")
        return normal(std)
    table = {"he": he, "xavier": xavier, "zeros": zeros}
    if name not in table:
        raise ValueError(f"unknown initialiser {name!r}: expected one of {sorted([*table, 'normal'])}")
    return table[name]()
