"""Learning-rate schedules as optax schedules (step count t starts at 0 = the first update).

All arguments may be traced arrays, so a sweep can vmap over them without recompiling.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax


def cyclical(eta_min, eta_max, n_s) -> optax.Schedule:
    """Triangular cyclical rate (Smith 2015; DD2424 A2 eq. 14-15), one cycle = 2 n_s updates.

    For 2l n_s <= t <= (2l+1) n_s:      eta_t = eta_min + (t - 2l n_s) / n_s (eta_max - eta_min)
    For (2l+1) n_s <= t <= 2(l+1) n_s:  eta_t = eta_max - (t - (2l+1) n_s) / n_s (eta_max - eta_min)
    so eta at the first update (t = 0) is eta_min.
    """
    def schedule(t):
        t = jnp.asarray(t, jnp.float32)
        phase = jnp.mod(t, 2 * n_s) / n_s  # in [0, 2)
        frac = jnp.where(phase <= 1, phase, 2 - phase)
        return eta_min + frac * (eta_max - eta_min)
    return schedule


def step_decay(eta0, factor, every) -> optax.Schedule:
    """eta_t = eta0 * factor ** floor(t / every): divide by 1/factor every `every` updates."""
    def schedule(t):
        return eta0 * jnp.power(factor, jnp.floor(jnp.asarray(t, jnp.float32) / every))
    return schedule


def cycle_epochs(n_s: int, n_cycles: int, steps_per_epoch: int,
                 epochs_per_segment: int = 1) -> int | None:
    """Epochs covering exactly n_cycles cycles of 2 n_s updates, or None when they do not end at
    the end of a segment of epochs_per_segment epochs (a run evaluates at the ends of segments,
    and the sheets evaluate at the end of a cycle, where eta = eta_min)."""
    steps = 2 * n_s * n_cycles
    if steps % (steps_per_epoch * epochs_per_segment):
        return None
    return steps // steps_per_epoch
