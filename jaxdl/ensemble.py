"""Snapshot ensembles (Huang et al. 2017; the DD2424 Assignment 2 bonus): the models saved at the
end of each cycle of a cyclical learning rate, combined by majority vote or by their mean class
probability.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from jaxdl import model as model_lib
from jaxdl import train


def probabilities(model: model_lib.Model, snapshots: Sequence[tuple], X_nxd: jax.Array,
                  chunk: int = 10000) -> jax.Array:
    """softmax(model(X)) in eval mode for each (params, state) snapshot: P_sxnxk."""
    predict = train.make_predictor(model, chunk=chunk, output="probabilities")
    return jnp.stack([predict(p, s, X_nxd) for p, s in snapshots])


def majority_vote(P_sxnxk: jax.Array) -> jax.Array:
    """Each snapshot votes for its argmax class; most votes wins. A tie is broken by the mean
    probability (< 1, so it never overrides a whole vote: votes + mean_p / 2)."""
    k = P_sxnxk.shape[-1]
    votes_nxk = jnp.sum(jax.nn.one_hot(jnp.argmax(P_sxnxk, -1), k), axis=0)
    return jnp.argmax(votes_nxk + 0.5 * jnp.mean(P_sxnxk, axis=0), -1)


def mean_probability(P_sxnxk: jax.Array) -> jax.Array:
    """argmax over classes of the snapshots' mean probability."""
    return jnp.argmax(jnp.mean(P_sxnxk, axis=0), -1)
