"""The optimisers of the studies, as optax chains.

`cyclical_sgd`: DD2424 A2/A3's plain SGD under the triangular cyclical rate,
    theta_{t+1} = theta_t - eta_t grad J(theta_t)          (no momentum)

`fman45_momentum`: the FMAN45 rule, momentum as an exponential moving average, weight decay
outside it,
    m_n     = mu m_{n-1} + (1 - mu) g_n           (g = dL/dw of the data loss alone)
    w_{n+1} = w_n - alpha (m_n + lambda_wd w_n)

i.e. optax.chain(ema(mu, debias=False), add_decayed_weights(lambda_wd, mask), scale(-alpha)).
The sheet's training.m loops over every parameter of every layer, biases included, so by default
every parameter is decayed; decay_biases=False restricts the decay to weights/filters
(core.WEIGHT_KEYS). Train with hp["lam"] = 0 (the decay lives here, not in the cost's gradient);
the loss the sheet reports adds lambda_wd/2 sum w^2 over the same (decayed) parameters,
`decayed_sum_of_squares`.
Not optax.sgd(momentum=...): that is m = g + mu m, without the (1 - mu).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxdl import schedules
from jaxdl.layers.core import WEIGHT_KEYS


def cyclical_sgd(hp: dict) -> optax.GradientTransformation:
    """Plain SGD with schedules.cyclical(hp["eta_min"], hp["eta_max"], hp["n_s"]): the
    hyper-parameters are (possibly traced) arrays, so a sweep can vmap over them."""
    return optax.scale_by_learning_rate(schedules.cyclical(hp["eta_min"], hp["eta_max"],
                                                           hp["n_s"]))


def weight_mask(params):
    """True for weight matrices and filters (W, F), False for biases and the rest."""
    return [{name: name in WEIGHT_KEYS for name in layer} for layer in params]


def fman45_momentum(learning_rate: optax.ScalarOrSchedule, momentum: float | jax.Array,
                    weight_decay: float | jax.Array, *,
                    decay_biases: bool = True) -> optax.GradientTransformation:
    """The sheet's rule above; learning_rate may be a schedule, all three may be traced arrays.

    decay_biases: True (the sheet) decays every parameter, False only W and F.
    """
    return optax.chain(optax.ema(momentum, debias=False),
                       optax.add_decayed_weights(weight_decay,
                                                 None if decay_biases else weight_mask),
                       optax.scale_by_learning_rate(learning_rate))


def decayed_sum_of_squares(params, *, decay_biases: bool = True) -> jax.Array:
    """sum w^2 over the parameters fman45_momentum decays (all, or W and F only): the sheet's
    reported weight-decay loss is weight_decay / 2 times this."""
    mask = jax.tree.map(lambda _: True, params) if decay_biases else weight_mask(params)
    return sum((jnp.sum(p ** 2) for p, m in zip(jax.tree.leaves(params), jax.tree.leaves(mask))
                if m), jnp.zeros(()))
