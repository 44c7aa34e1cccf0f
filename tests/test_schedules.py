"""Cyclical (DD2424 A2 eqs 14-15) and step-decay learning rates against the sheet's formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import schedules


def sheet_eta(t, eta_min, eta_max, n_s):
    """The sheet's piece-wise formula, written as printed (t = update step, from 0)."""
    l = t // (2 * n_s)
    if 2 * l * n_s <= t <= (2 * l + 1) * n_s:
        return eta_min + (t - 2 * l * n_s) / n_s * (eta_max - eta_min)
    return eta_max - (t - (2 * l + 1) * n_s) / n_s * (eta_max - eta_min)


@pytest.mark.parametrize("eta_min,eta_max,n_s", [(1e-5, 1e-1, 500), (1e-5, 1e-1, 2250),
                                                 (0.01, 0.5, 7)])
def test_cyclical_matches_sheet_formula(eta_min, eta_max, n_s):
    # float32 arithmetic: near eta_min the error is a few ulps of eta_max, not of eta
    atol = 4 * float(jnp.finfo(jnp.float32).eps) * eta_max
    sched = jax.jit(schedules.cyclical(eta_min, eta_max, n_s))
    for l in range(4):  # corners and mid-slopes of four cycles
        start = 2 * l * n_s
        corners = {start: eta_min, start + n_s: eta_max, start + 2 * n_s: eta_min}
        for t, expected in corners.items():
            assert float(sched(t)) == pytest.approx(expected, rel=1e-6), t
        for t in (start + n_s // 2, start + n_s // 4, start + n_s + n_s // 2,
                  start + n_s + 3 * n_s // 4, start + 1, start + 2 * n_s - 1):
            assert float(sched(t)) == pytest.approx(sheet_eta(t, eta_min, eta_max, n_s),
                                                    rel=1e-6, abs=atol), t
    ts = np.arange(8 * n_s + 1)
    np.testing.assert_allclose(jax.vmap(sched)(jnp.asarray(ts)),
                               [sheet_eta(t, eta_min, eta_max, n_s) for t in ts], rtol=1e-6,
                               atol=atol)


def test_cyclical_takes_traced_hyperparameters():
    f = jax.jit(lambda lo, hi, ns, t: schedules.cyclical(lo, hi, ns)(t))
    assert float(f(1e-5, 0.1, 800.0, 800)) == pytest.approx(0.1, rel=1e-6)
    assert float(f(1e-5, 0.1, 500.0, 250)) == pytest.approx(sheet_eta(250, 1e-5, 0.1, 500),
                                                            rel=1e-6)


def test_first_sgd_update_uses_eta_min():
    """optax counts from 0, so the first update is taken with eta_1 = eta_min (the sheet's)."""
    opt = optax.scale_by_learning_rate(schedules.cyclical(1e-5, 1e-1, 10))
    params = {"W": jnp.ones(3)}
    grads = {"W": jnp.full(3, 2.0)}
    state = opt.init(params)
    etas = []
    for _ in range(12):
        updates, state = opt.update(grads, state, params)
        etas.append(-float(updates["W"][0]) / 2.0)
    np.testing.assert_allclose(etas, [sheet_eta(t, 1e-5, 1e-1, 10) for t in range(12)],
                               rtol=1e-5)


def test_step_decay():
    sched = schedules.step_decay(0.1, 0.5, 100)
    for t, expected in [(0, 0.1), (99, 0.1), (100, 0.05), (250, 0.025)]:
        assert float(sched(t)) == pytest.approx(expected, rel=1e-6)


def test_cycle_epochs_needs_cycles_that_end_with_a_segment():
    assert schedules.cycle_epochs(500, 1, 100) == 10  # A2 Ex 3: 1000 updates, 100 an epoch
    assert schedules.cycle_epochs(800, 3, 100) == 48
    assert schedules.cycle_epochs(225, 1, 450) == 1
    assert schedules.cycle_epochs(225, 1, 100) is None  # 450 updates end inside an epoch
    assert schedules.cycle_epochs(500, 1, 100, epochs_per_segment=5) == 10
    assert schedules.cycle_epochs(500, 1, 100, epochs_per_segment=4) is None
