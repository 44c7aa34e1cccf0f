"""The FMAN45 optimiser: momentum as an exponential moving average, weight decay outside it.

    m_n     = mu m_{n-1} + (1 - mu) g_n           (g = dL/dw of the data loss alone)
    w_{n+1} = w_n - alpha (m_n + lambda_wd w_n)   (decay on weights/filters only, core.WEIGHT_KEYS)

i.e. optax.chain(ema(mu, debias=False), add_decayed_weights(lambda_wd, mask), scale(-alpha)).
Train with hp["lam"] = 0 (the decay lives here, not in the cost's gradient); the loss the sheet
reports, L + lambda_wd/2 sum w^2, is the model's cost with lam = lambda_wd / 2.
Not optax.sgd(momentum=...): that is m = g + mu m, without the (1 - mu).
"""

from __future__ import annotations

import jax
import optax

from jaxdl.layers.core import WEIGHT_KEYS


def weight_mask(params):
    """True for weight matrices and filters (W, F), False for biases and the rest."""
    return [{name: name in WEIGHT_KEYS for name in layer} for layer in params]


def fman45_momentum(learning_rate: optax.ScalarOrSchedule, momentum: float | jax.Array,
                    weight_decay: float | jax.Array) -> optax.GradientTransformation:
    """The sheet's rule above; learning_rate may be a schedule, all three may be traced arrays."""
    return optax.chain(optax.ema(momentum, debias=False),
                       optax.add_decayed_weights(weight_decay, weight_mask),
                       optax.scale_by_learning_rate(learning_rate))
