"""One training epoch of the 3-layer BN MLP [50, 50] on 45k CIFAR-sized samples (450 SGD updates of
batch 100 under the cyclical learning rate): jitted JAX (lax.scan over minibatches, the hand-written
backward) against a straightforward vectorised numpy implementation of the same training, in the
same process, interleaved repeats, medians and their ratio.

    python -m benchmarks.mlp --repeats 5

The samples are random standard-normal 3072-vectors (the arithmetic does not depend on the
values); both implementations start from the same parameters, and their parameters after one
update are compared first so the timings are of the same computation.
"""

from __future__ import annotations

import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from experiments import cyclic_mlp
from jaxdl.models import mlp
from jaxdl import train

flags.DEFINE_integer("repeats", 5, "Timed epochs per implementation (interleaved).")
flags.DEFINE_integer("n", 45000, "Training samples.")
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.")
flags.DEFINE_string("out", None, "Optional JSON file for the timings.")
FLAGS = flags.FLAGS

LAM, ETA_MIN, ETA_MAX, N_S, EPS, ALPHA = 0.005, 1e-5, 1e-1, 2250, 1e-8, 0.9


def eta_numpy(t: int) -> float:
    phase = (t % (2 * N_S)) / N_S
    return ETA_MIN + (phase if phase <= 1 else 2 - phase) * (ETA_MAX - ETA_MIN)


def numpy_step(p: dict, st: dict, X: np.ndarray, Y: np.ndarray, t: int) -> None:
    """One SGD update of [dense -> BN -> relu] x 2 -> dense -> softmax CE, in place (float32)."""
    n = X.shape[0]
    caches, h = [], X
    for l in (1, 2):
        s = h @ p[f"W{l}"].T
        mu = s.mean(0)
        D = s - mu
        v = (D * D).mean(0)
        inv = 1 / np.sqrt(v + EPS)
        s_hat = D * inv
        if st["count"] == 0:
            st[f"mean{l}"], st[f"var{l}"] = mu, v
        else:
            st[f"mean{l}"] = ALPHA * st[f"mean{l}"] + (1 - ALPHA) * mu
            st[f"var{l}"] = ALPHA * st[f"var{l}"] + (1 - ALPHA) * v
        out = p[f"gamma{l}"] * s_hat + p[f"beta{l}"]
        caches.append((h, D, inv, s_hat, out > 0))
        h = np.maximum(out, 0)
    st["count"] += 1
    s = h @ p["W3"].T + p["b3"]
    s = s - s.max(1, keepdims=True)
    P = np.exp(s)
    P /= P.sum(1, keepdims=True)
    G = (P - Y) / n
    grads = {"W3": G.T @ h + 2 * LAM * p["W3"], "b3": G.sum(0)}
    G = G @ p["W3"]
    for l in (2, 1):
        h_in, D, inv, s_hat, mask = caches[l - 1]
        G = G * mask
        grads[f"gamma{l}"] = (G * s_hat).sum(0)
        grads[f"beta{l}"] = G.sum(0)
        G = G * p[f"gamma{l}"]
        G1 = G * inv
        c = (G * inv ** 3 * D).sum(0)
        G = G1 - G1.mean(0) - D * c / n
        grads[f"W{l}"] = G.T @ h_in + 2 * LAM * p[f"W{l}"]
        if l > 1:
            G = G @ p[f"W{l}"]
    eta = np.float32(eta_numpy(t))
    for k in p:
        p[k] -= eta * grads[k]


def numpy_epoch(p, st, X, Y, t0, rng, n_batch):
    idx = rng.permutation(X.shape[0])
    steps = X.shape[0] // n_batch
    for j in range(steps):
        b = idx[j * n_batch:(j + 1) * n_batch]
        numpy_step(p, st, X[b], Y[b], t0 + j)
    return t0 + steps


def to_numpy_params(params: list) -> dict:
    """The JAX model's params list [dense, bn, relu, dense, bn, relu, dense] as a flat dict."""
    return {"W1": params[0]["W"], "gamma1": params[1]["gamma"], "beta1": params[1]["beta"],
            "W2": params[3]["W"], "gamma2": params[4]["gamma"], "beta2": params[4]["beta"],
            "W3": params[6]["W"], "b3": params[6]["b"]}


def main(argv):
    del argv
    n, n_batch = FLAGS.n, FLAGS.n_batch
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3072), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    model = mlp.mlp([50, 50], bn=True)
    trainer = cyclic_mlp.make_trainer(model, n, n_batch)
    hp = cyclic_mlp.hparams(LAM, ETA_MIN, ETA_MAX, N_S)
    data = {"X_train": jnp.asarray(X), "Y_train": jnp.asarray(Y)}
    ts = jax.jit(trainer.init, static_argnums=2)(hp, jax.random.PRNGKey(0), (3072,))
    p_np = {k: np.array(v) for k, v in to_numpy_params(ts.params).items()}
    st_np = {"count": 0}

    # same computation: one update from the same parameters on the same batch
    step = jax.jit(trainer.step)
    ts1, _ = step(ts, hp, data["X_train"][:n_batch], data["Y_train"][:n_batch])
    p1 = {k: np.array(v) for k, v in p_np.items()}
    numpy_step(p1, {"count": 0}, X[:n_batch], Y[:n_batch], 0)
    diff = max(float(np.max(np.abs(p1[k] - np.asarray(v))))
               for k, v in to_numpy_params(ts1.params).items())
    print(f"max |numpy - jax| over the parameters after one update: {diff:.2e}")

    epoch = jax.jit(trainer.epoch, donate_argnums=0, compiler_options=train.compiler_options())
    t0 = time.perf_counter()
    epoch = epoch.lower(ts, hp, data).compile()
    compile_s = time.perf_counter() - t0
    ts, _ = epoch(ts, hp, data)  # warm-up
    jax.block_until_ready(ts)
    t_np = numpy_epoch(p_np, st_np, X, Y, 0, rng, n_batch)  # warm-up
    jax_times, np_times = [], []
    for _ in range(FLAGS.repeats):
        t0 = time.perf_counter()
        ts, cost = epoch(ts, hp, data)
        jax.block_until_ready((ts, cost))
        jax_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        t_np = numpy_epoch(p_np, st_np, X, Y, t_np, rng, n_batch)
        np_times.append(time.perf_counter() - t0)
    jax_med, np_med = statistics.median(jax_times), statistics.median(np_times)
    result = {"device": str(jax.devices()[0]), "n": n, "n_batch": n_batch,
              "steps_per_epoch": n // n_batch, "compile_seconds": compile_s,
              "jax_epoch_seconds": jax_times, "numpy_epoch_seconds": np_times,
              "jax_median": jax_med, "numpy_median": np_med, "speedup": np_med / jax_med,
              "max_abs_param_diff_one_step": diff}
    print(f"device {result['device']}: one epoch ({n // n_batch} updates of batch {n_batch}), "
          f"median of {FLAGS.repeats}: jax {jax_med:.3f} s, numpy {np_med:.3f} s, "
          f"numpy / jax = {np_med / jax_med:.2f}x (compile {compile_s:.2f} s)")
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    app.run(main)
