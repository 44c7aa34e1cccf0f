"""Smith's learning-rate range test ("Cyclical Learning Rates for Training Neural Networks", 2017;
DD2424 Assignment 2, bonus exercise): train once while eta grows from eta_lo to eta_hi, and read off where the
validation accuracy starts to rise (eta_min) and where it peaks before it turns ragged (eta_max).

The whole test is one compiled program: a lax.scan over chunks of `steps_per_chunk` updates
(each a scan of `Trainer.step` on freshly permuted minibatches), each chunk followed by an
evaluation on the validation split. eta is read from hp (eta_lo, eta_hi, n_steps) so nothing
recompiles for another range.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import train

KINDS = ("linear", "exponential")


def schedule(eta_lo, eta_hi, n_steps, kind: str = "linear") -> optax.Schedule:
    """eta_t for update t = 0, 1, ...: from eta_lo at t = 0 to eta_hi at t = n_steps - 1,
    linearly or geometrically (the latter spends equal time on every decade)."""
    if kind not in KINDS:
        raise ValueError(f"unknown range kind {kind!r}: expected one of {KINDS}")

    def eta(t):
        frac = jnp.clip(t / jnp.maximum(n_steps - 1, 1), 0.0, 1.0)
        if kind == "linear":
            return eta_lo + frac * (eta_hi - eta_lo)
        return eta_lo * (eta_hi / eta_lo) ** frac
    return eta


def optimizer_fn(kind: str = "linear") -> Callable[[dict], optax.GradientTransformation]:
    """Plain SGD under the range schedule; hp needs eta_lo, eta_hi, n_steps."""
    return lambda hp: optax.scale_by_learning_rate(
        schedule(hp["eta_lo"], hp["eta_hi"], hp["n_steps"], kind))


def run(trainer: train.Trainer, hp: dict, key: jax.Array, data: dict, n_chunks: int,
        steps_per_chunk: int, batch_size: int, kind: str = "linear") -> dict[str, np.ndarray]:
    """Runs the test; returns per-chunk arrays eta (at the chunk's last update), batch_cost (mean
    over the chunk), val_loss, val_accuracy, and per-step eta_step / cost_step."""
    n = data["X_train"].shape[0]
    if steps_per_chunk * batch_size > n:
        raise ValueError(f"a chunk of {steps_per_chunk} x {batch_size} samples exceeds the {n} "
                         "training samples")

    @jax.jit
    def whole(hp, data):  # data an argument, not a closed-over constant
        eta = schedule(hp["eta_lo"], hp["eta_hi"], hp["n_steps"], kind)

        def chunk(ts, c):
            idx = jax.random.permutation(jax.random.fold_in(key, c), n)
            idx = idx[: steps_per_chunk * batch_size].reshape(steps_per_chunk, batch_size)

            def body(ts, idx_b):
                eta_t = eta(ts.step)
                ts, J = trainer.step(ts, hp, data["X_train"][idx_b], data["Y_train"][idx_b])
                return ts, (J, eta_t)

            ts, (costs, etas) = jax.lax.scan(body, ts, idx)
            m = trainer.evaluate(ts.params, ts.state, hp, data["X_val"], data["Y_val"])
            return ts, {"eta": etas[-1], "batch_cost": jnp.mean(costs), "val_loss": m["loss"],
                        "val_accuracy": m["accuracy"], "cost_step": costs, "eta_step": etas}

        ts = trainer.init(hp, key, data["X_train"].shape[1:])
        return jax.lax.scan(chunk, ts, jnp.arange(n_chunks))[1]

    out = jax.device_get(whole(hp, data))
    out["cost_step"] = out["cost_step"].reshape(-1)
    out["eta_step"] = out["eta_step"].reshape(-1)
    return {k: np.asarray(v) for k, v in out.items()}


def suggest(result: dict[str, np.ndarray], rise: float = 0.1) -> tuple[float, float]:
    """(eta_min, eta_max) by Smith's reading: eta_max where the validation accuracy peaks,
    eta_min where it has first gained `rise` of its total gain over the first chunk."""
    acc, eta = result["val_accuracy"], result["eta"]
    acc = np.where(np.isfinite(acc), acc, -np.inf)
    best = int(np.argmax(acc))
    threshold = acc[0] + rise * (acc[best] - acc[0])
    first = int(np.argmax(acc[: best + 1] >= threshold))
    return float(eta[first]), float(eta[best])
