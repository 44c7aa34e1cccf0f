"""Times the whole A1 study (four runs of 40 epochs, batch 100, per-epoch evaluation of train and
val) in jaxdl and in a straightforward vectorised numpy implementation, in the same process.

    python benchmarks/a1.py [--repeats 3] [--threads 1] [--out a1_bench.json]

Implementations are timed interleaved (J N J N ...) because these machines drift; medians are
quoted. JAX's compile time is reported apart (one compile serves all four runs). Uses the real
CIFAR-10 (data batch 1 / 2) when found, else random data of the same shape. `--threads 1` runs
the process on one CPU (numpy's BLAS and XLA with it; set before either is imported).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from pin import pin_threads

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--threads", type=int, default=0, help="0: library defaults")
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--out", default="")
args = parser.parse_args()
if args.threads:
    pin_threads(args.threads)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jaxdl.models import mlp
from jaxdl import train  # noqa: E402
from jaxdl.data import cifar10  # noqa: E402
from jaxdl.data.download import DataError  # noqa: E402
from jaxdl.layers import losses  # noqa: E402

SETTINGS = [(0.0, 0.1), (0.0, 0.001), (0.1, 0.001), (1.0, 0.001)]  # (lam, eta)
BATCH = 100


def load():
    try:
        s = cifar10.load_splits("a1", os.environ.get("JAXDL_DATA_DIR"))
        return (s["train"].X, s["train"].Y, s["val"].X, s["val"].Y), "cifar10"
    except DataError:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(20000, 3072)).astype(np.float32)
        Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 20000)]
        return (X[:10000], Y[:10000], X[10000:], Y[10000:]), "random"


# ---- the numpy reference: the sheet's MiniBatchGD, vectorised, analytic gradients -------------
def np_evaluate(W, b, X, Y, lam):
    S = X @ W.T + b
    S = S - S.max(axis=1, keepdims=True)
    logP = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
    loss = -np.mean(np.sum(Y * logP, axis=1))
    return loss, loss + lam * np.sum(W * W), np.mean(S.argmax(1) == Y.argmax(1))


def np_study(data, epochs, seed=0):
    Xtr, Ytr, Xva, Yva = data
    rng = np.random.default_rng(seed)
    n = len(Xtr)
    accs = []
    for lam, eta in SETTINGS:
        W = (0.01 * rng.normal(size=(10, 3072))).astype(np.float32)
        b = (0.01 * rng.normal(size=10)).astype(np.float32)
        for _ in range(epochs):
            perm = rng.permutation(n)
            for j in range(n // BATCH):
                idx = perm[j * BATCH:(j + 1) * BATCH]
                Xb, Yb = Xtr[idx], Ytr[idx]
                S = Xb @ W.T + b
                P = np.exp(S - S.max(axis=1, keepdims=True))
                P /= P.sum(axis=1, keepdims=True)
                G = (P - Yb) / BATCH
                W -= eta * (G.T @ Xb + 2 * lam * W)
                b -= eta * G.sum(axis=0)
            np_evaluate(W, b, Xtr, Ytr, lam)
            val_acc = np_evaluate(W, b, Xva, Yva, lam)[2]
        accs.append(val_acc)
    return accs


# ---- jaxdl: the same study through the library ------------------------------------------------
def make_jax_study(data, epochs):
    Xtr, Ytr, Xva, Yva = data
    dev = train.to_device({"X_train": Xtr, "Y_train": Ytr, "X_val": Xva, "Y_val": Yva})
    trainer = train.make_trainer(mlp.linear(10, 0.01), losses.softmax_cross_entropy,
                                 lambda hp: optax.sgd(hp["eta"]),
                                 train.shuffled_batches(BATCH, len(Xtr)))
    warm = train.fit(trainer, train.as_hparams(lam=0.0, eta=0.1), jax.random.PRNGKey(0), dev, 1)
    compile_s = warm.compile_seconds  # the one compile every run of the study reuses

    def study():
        out = []
        for i, (lam, eta) in enumerate(SETTINGS):
            r = train.fit(trainer, train.as_hparams(lam=lam, eta=eta), jax.random.PRNGKey(i),
                          dev, epochs, log_every=10**9)
            out.append(r.history[-1]["val_accuracy"])
        return out

    return study, compile_s


def main():
    data, source = load()
    jax_study, compile_s = make_jax_study(data, args.epochs)
    times = {"jaxdl": [], "numpy": []}
    accs = {}
    for _ in range(args.repeats):
        for name, fn in (("jaxdl", jax_study), ("numpy", lambda: np_study(data, args.epochs))):
            t0 = time.perf_counter()
            accs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"workload": f"A1 study: 4 runs x {args.epochs} epochs x 100 steps, batch 100, "
                          "per-epoch train+val evaluation",
              "data": source, "threads": args.threads or "default", "backend": jax.default_backend(),
              "jax_version": jax.__version__, "repeats": args.repeats,
              "jaxdl_seconds_median": med["jaxdl"], "numpy_seconds_median": med["numpy"],
              "jaxdl_compile_seconds": compile_s, "speedup_vs_numpy": med["numpy"] / med["jaxdl"],
              "all_seconds": times,
              "final_val_accuracy": {k: [round(float(a), 4) for a in v] for k, v in accs.items()}}
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
