"""DD2424 Assignment 3, the ConvNet option: a ConvNet predicting a surname's language.

Default: the sheet's study, k1=5, n1=20, k2=3, n2=20, batch 100, momentum SGD eta=.001 rho=.9,
20 000 updates, without and with compensation for the class imbalance (per-epoch random
undersampling); every 500 updates the validation loss, accuracy and K x K confusion matrix.

    python -m experiments.names_convnet --workdir runs/names --balance none,undersample,weighted
    # measured (seed 0 with the earlier key fold_in(seed, position), so not these runs' keys;
    # final val accuracy; balanced val, so = mean per-class accuracy):
    #   20 000 updates: none 33.7 %, undersample 46.4 %, weighted 46.0 %
    #   --n_updates 50000: none 36.5 %, undersample 50.8 %, weighted 49.2 %
    # (references: about 40 % / 50-52 %; Herrera Sarrias 2019: 52.38 % best with undersampling)
    python -m experiments.names_convnet --workdir runs/names_best --n1 100 --n2 100 \
        --balance weighted --n_updates 12500     # the best net measured: 55.95 %
    python -m experiments.names_convnet --workdir runs/names5 --seeds 5 --n_updates 50000 \
        --balance none,undersample,weighted      # mean +- std over seeds 0-4 (not yet measured)

Writes results.json (with per-class accuracies), history_<run>.csv, confusion_<run>.json (every
evaluation), curves_<run>.png, confusion_<run>.png, and checkpoints final_<run>.msgpack /
best_<run>.msgpack (best validation accuracy) for `python -m experiments.names_predict`.

A run's key is run_key(--seed, its name): a run gives the same numbers alone or among others.
With --seeds N each run trains at N seeds as one vmapped program (`jaxdl.seeds.fit_seeds`):
results.json gives each seed's metrics ("per_seed") and their mean +- std ("summary", "metrics" =
the means); the headline is the final val accuracy, with the best during training beside it.
history_<run>.csv gets a seed column, curves_<run>.png the mean in a min-max band,
confusion_<run>.png the mean of the seeds' final matrices, confusion_<run>.json each seed's final
matrix (the per-evaluation matrices and best_<run>.msgpack need a host hook per evaluation, which
the vmapped program has not: best_val_accuracy / best_step come from each seed's history, without
per-class values), and final_<run>_seed<s>.msgpack each seed's net (names_predict
--run <run>_seed<s> --checkpoint final).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags, logging

from experiments import common
from jaxdl import checkpoint, metrics, plots, results, samplers, seeds, train
from jaxdl.data import names as names_data
from jaxdl.layers import losses
from jaxdl.models import names as names_model

flags.DEFINE_integer("n1", 20, "Filters in layer 1.", lower_bound=1)
flags.DEFINE_integer("k1", 5, "Filter width in layer 1.", lower_bound=1)
flags.DEFINE_integer("n2", 20, "Filters in layer 2.", lower_bound=1)
flags.DEFINE_integer("k2", 3, "Filter width in layer 2.", lower_bound=1)
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.", lower_bound=1)
flags.DEFINE_float("eta", 0.001, "Learning rate.")
flags.DEFINE_float("rho", 0.9, "Momentum: v = rho v + eta grad, theta -= v.")
flags.DEFINE_float("lam", 0.0, "L2 penalty on F1, F2, W (the sheet has none).", lower_bound=0.0)
flags.DEFINE_integer("n_updates", 20000, "Update steps per run (rounded down to whole "
                     "evaluation periods).", lower_bound=1)
flags.DEFINE_integer("eval_every", 500, "Updates between evaluations (val loss, accuracy, "
                     "confusion matrix).", lower_bound=1)
flags.DEFINE_list("balance", "none,undersample",
                  f"Comma-separated imbalance compensation of each run, from {samplers.MODES}.")
flags.DEFINE_enum("conv1", "gather", list(names_model.LAYER1_FORMS),
                  "conv1d form of layer 1 (all give the same numbers; gather is the fastest).")
flags.DEFINE_enum("conv2", "lax", list(names_model.LAYER2_FORMS),
                  "conv1d form of layer 2 (lax: the fastest on the CPU, benchmarks/NOTES.md).")
flags.register_validator("eta", lambda v: v > 0, "must be > 0")
flags.register_validator("rho", lambda v: 0 <= v < 1, "must be in [0, 1)")
flags.register_validator(
    "balance", lambda modes: bool(modes) and set(modes) <= set(samplers.MODES) and
    len(set(modes)) == len(modes), f"expected a comma-separated list from {samplers.MODES}, "
    "each mode once")
flags.register_multi_flags_validator(
    ["n_updates", "eval_every"], lambda f: f["n_updates"] >= f["eval_every"],
    "--n_updates must be at least --eval_every")
common.define_seeds_flag(cpu_devices_default=1)  # convolutions: one device (common)

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Config:
    """The study: the network's filters, the optimiser, the schedule and the runs' modes."""
    n1: int
    k1: int
    n2: int
    k2: int
    conv1: str
    conv2: str
    n_batch: int
    eta: float
    rho: float
    lam: float
    n_updates: int
    eval_every: int
    balance: tuple[str, ...]
    seed: int
    grad: str
    seeds: int
    cpu_devices: int


def config() -> Config:
    return Config(FLAGS.n1, FLAGS.k1, FLAGS.n2, FLAGS.k2, FLAGS.conv1, FLAGS.conv2, FLAGS.n_batch,
                  FLAGS.eta, FLAGS.rho, FLAGS.lam, FLAGS.n_updates, FLAGS.eval_every,
                  tuple(FLAGS.balance), FLAGS.seed, FLAGS.grad, FLAGS.seeds,
                  common.cpu_devices(FLAGS.cpu_devices))


def saved_history(path: Path) -> list[dict]:
    """The history stored in the checkpoint a run resumes from ([] when there is none)."""
    return json.loads(checkpoint.read_raw(path)["history"]) if path.exists() else []


def best_evaluation(history: list[dict]) -> dict:
    """The first evaluation with the highest validation accuracy, over the whole history (one
    resumed from a checkpoint included): {val_accuracy, step, val_loss, confusion}."""
    evals = [h for h in history if "confusion" in h]  # a diverged last entry has none
    if not evals:  # the first segment diverged
        return {"val_accuracy": float("nan"), "step": 0, "val_loss": float("nan"),
                "confusion": None}
    b = max(evals, key=lambda h: h["val_accuracy"])  # max keeps the first of equals
    return {"val_accuracy": b["val_accuracy"], "step": int(b["step"]), "val_loss": b["val_loss"],
            "confusion": b["confusion"]}


def best_during_training(history: list[dict]) -> tuple[float, int]:
    """(val accuracy, step) of the first evaluation with the highest validation accuracy among
    those whose numbers are all finite ((nan, 0) when there is none): the best during training,
    chosen on validation data."""
    evals = [h for h in history if all(np.isfinite(v) for v in h.values())]
    if not evals:
        return float("nan"), 0
    b = max(evals, key=lambda h: h["val_accuracy"])  # max keeps the first of equals
    return b["val_accuracy"], int(b["step"])


def several_seeds(trainer: train.Trainer, hp: dict, seed_list: list[int], data: dict,
                  n_epochs: int, *, name: str, mode: str, run_config: dict, meta: dict,
                  ckpt: Path, identity: dict, val_confusion, class_names: list[str],
                  workdir: Path) -> dict:
    """One run at several seeds, trained as one vmapped program (`seeds.fit_seeds`, resumable
    from `ckpt`): per seed the final validation confusion and its accuracies, the best during
    training from the seed's history, final_<name>_seed<s>.msgpack; writes the run's history,
    curves (mean in a min-max band) and confusions (each seed's final one; the figure their
    mean). Returns its results.json entry (`results.seeded_run`)."""
    t0 = time.perf_counter()
    fits = seeds.fit_seeds(trainer, hp, seed_list, data, n_epochs, name=name, checkpoint=ckpt,
                           identity=identity)
    seconds = time.perf_counter() - t0
    per_seed, confusions = [], []
    for r in fits:
        state = jax.device_get(r.state)
        C = val_confusion(state)
        last = r.history[-1]
        best_acc, best_step = best_during_training(r.history)
        per_seed.append({
            "train_accuracy": last["train_accuracy"], "val_accuracy": last["val_accuracy"],
            "val_balanced_accuracy": metrics.balanced_accuracy(C),
            "train_loss": last["train_loss"], "val_loss": last["val_loss"],
            "per_class_val_accuracy": dict(zip(class_names,
                                               metrics.per_class_accuracy(C).tolist())),
            "val_confusion": C.tolist(), "best_val_accuracy": best_acc, "best_step": best_step,
            "n_updates": int(last["step"]), "diverged": r.diverged, "train_seconds": seconds})
        confusions.append({"seed": r.seed, "step": int(last["step"]), "confusion": C.tolist()})
        checkpoint.save(workdir / f"final_{name}_seed{r.seed}.msgpack", state, history=r.history,
                        meta={**meta, "run": f"{name}_seed{r.seed}", "seed": r.seed,
                              "step": int(last["step"])})
    run = results.seeded_run(name, run_config, seed_list, per_seed)
    n = len(seed_list)
    logging.info("%s: val accuracy %s (best during training %s)", name,
                 results.format_summary(run, "val_accuracy"),
                 results.format_summary(run, "best_val_accuracy"))
    histories = [r.history for r in fits]
    results.write_histories(workdir / f"history_{name}.csv", histories, seed_list)
    results.write_json(workdir / f"confusion_{name}.json", confusions)
    plots.curve_panels(histories, workdir / f"curves_{name}.png", x="step",
                       panels=("loss", "accuracy"),
                       title=f"names ConvNet, balance={mode}, {n} seeds")
    plots.confusion(np.mean([c["confusion"] for c in confusions], axis=0), class_names,
                    workdir / f"confusion_{name}.png",
                    title=f"validation, balance={mode}, mean of {n} seeds' final matrices, "
                          f"{per_seed[0]['n_updates']} updates")
    return run


def main(argv):
    del argv
    cfg = config()
    common.use_cpu_devices(cfg.cpu_devices)  # before JAX starts its backends
    workdir = common.workdir()
    t0 = time.perf_counter()
    data_set = names_data.load(FLAGS.data_dir)
    alphabet, K = data_set.alphabet, data_set.n_classes
    net = names_model.Config(cfg.n1, cfg.k1, cfg.n2, cfg.k2, alphabet.d, alphabet.n_len, K,
                             cfg.conv1, cfg.conv2)
    common.require(net.k1 + net.k2 - 1 <= net.n_len, "k2",
                   f"k1 + k2 - 1 must be <= n_len = {net.n_len}")
    tr, va = data_set.train_idx, data_set.val_idx
    counts = names_data.class_counts(data_set.y[tr], K)
    common.require(cfg.n_batch <= K * counts.min() or "undersample" not in cfg.balance, "n_batch",
                   f"larger than the balanced set K n_min = {K * counts.min()}")
    for cls, n, rel, cum in names_data.class_table(data_set.y[tr], data_set.class_names):
        logging.info("class %-11s %5d  %6.2f %%  %6.2f %%", cls, n, rel, cum)
    indices = names_data.to_indices(data_set.names, alphabet)
    Y = np.eye(K, dtype=np.float32)[data_set.y]
    base = train.to_device({"X_train": names_model.encode(indices[tr], net), "Y_train": Y[tr],
                            "y_train": data_set.y[tr],
                            "X_val": names_model.encode(indices[va], net), "Y_val": Y[va]})
    y_val = data_set.y[va]
    model = names_model.build(net)
    predict = train.make_predictor(model)

    def val_confusion(ts) -> np.ndarray:
        return metrics.confusion_matrix(
            y_val, np.asarray(predict(ts.params, ts.state, base["X_val"])), K)

    # optax.sgd with momentum: m = g + rho m, theta -= eta m, which is the course's
    # v = rho v + eta grad for the constant eta used here
    optimizer = lambda hp: optax.sgd(hp["eta"], momentum=cfg.rho)  # noqa: E731
    hp = train.as_hparams(lam=cfg.lam, eta=cfg.eta)
    runs, seed_list = [], common.seed_values(cfg)
    for mode in cfg.balance:
        name = f"{mode}_n{net.n1}k{net.k1}_n{net.n2}k{net.k2}"
        data = dict(base)
        if mode == "weighted":
            data["w_train"] = jnp.asarray(names_data.class_weights(data_set.y[tr], K))
        sampler, epochs_per_eval, per_eval = samplers.compensation_sampler(
            mode, cfg.n_batch, counts, cfg.eval_every)
        n_evals = cfg.n_updates // per_eval
        trainer = train.make_trainer(model, losses.softmax_cross_entropy, optimizer, sampler,
                                     grad=cfg.grad, epochs_per_eval=epochs_per_eval)
        meta = {"config": dataclasses.asdict(net), "alphabet": alphabet.chars,
                "class_names": data_set.class_names, "run": name, "balance": mode}
        ckpt = common.checkpoint_path(workdir, f"checkpoint_{name}.msgpack")
        run_config = {**dataclasses.asdict(net), "balance": mode, "eta": cfg.eta,
                      "rho": cfg.rho, "lam": cfg.lam, "n_batch": cfg.n_batch,
                      "updates_per_eval": per_eval}
        # the key is run_key(seed, name) and the identity has no position: a run gives the same
        # numbers alone or among others
        identity = common.identity(cfg, exclude=("n_updates", "balance", "cpu_devices"),
                                   balance=mode)
        logging.info("%s: %d evaluations of %d updates (%d trainer epochs each), %d seed(s)",
                     name, n_evals, per_eval, epochs_per_eval, len(seed_list))
        if len(seed_list) > 1:
            runs.append(several_seeds(trainer, hp, seed_list, data, n_evals * epochs_per_eval,
                                      name=name, mode=mode, run_config=run_config, meta=meta,
                                      ckpt=ckpt, identity=identity, val_confusion=val_confusion,
                                      class_names=data_set.class_names, workdir=workdir))
            results.write_results(workdir, "names_convnet", common.script_flags(__name__), runs,
                                  wall_seconds=time.perf_counter() - t0)
            continue
        # the best checkpoint is replaced only by a better evaluation than every earlier one,
        # those of an interrupted run included (its history is in the checkpoint it resumes)
        best = {"val_accuracy": max((h["val_accuracy"] for h in saved_history(ckpt)),
                                    default=-1.0)}

        def on_segment(ts, m, best=best, meta=meta, name=name):
            # the confusion goes into the history entry, which the checkpoint keeps: a resumed
            # run ends with every evaluation's matrix, not only those made after the resume
            m["confusion"] = val_confusion(ts).tolist()
            if m["val_accuracy"] > best["val_accuracy"]:
                best["val_accuracy"] = m["val_accuracy"]
                checkpoint.save(workdir / f"best_{name}.msgpack", jax.device_get(ts),
                                meta={**meta, "step": int(m["step"])})

        # resumable: a run killed mid-way, or run again with more updates, continues from
        # checkpoint_<run>.msgpack
        fit = train.fit(trainer, hp, seeds.run_key(cfg.seed, name), data,
                        n_evals * epochs_per_eval, name=name, on_segment=on_segment,
                        checkpoint=ckpt, identity=identity)
        checkpoint.save(workdir / f"final_{name}.msgpack", fit.state, history=fit.history,
                        meta={**meta, "step": int(fit.state.step)})
        confusions = [{"step": int(h["step"]), "confusion": h["confusion"]}
                      for h in fit.history if "confusion" in h]
        history = [{k: v for k, v in h.items() if k != "confusion"} for h in fit.history]
        best = best_evaluation(fit.history)
        C = val_confusion(fit.state)
        per_class = metrics.per_class_accuracy(C)
        last = fit.final_metrics
        run_metrics = {
            "train_accuracy": last["train_accuracy"], "val_accuracy": last["val_accuracy"],
            "val_balanced_accuracy": metrics.balanced_accuracy(C),
            "train_loss": last["train_loss"], "val_loss": last["val_loss"],
            "per_class_val_accuracy": dict(zip(data_set.class_names, per_class.tolist())),
            "val_confusion": C.tolist(),
            "best_val_accuracy": best["val_accuracy"], "best_step": best["step"],
            "best_per_class_val_accuracy": None if best["confusion"] is None else dict(zip(
                data_set.class_names,
                metrics.per_class_accuracy(np.asarray(best["confusion"])).tolist())),
            "n_updates": int(fit.state.step), "diverged": fit.diverged,
            "compile_seconds": fit.compile_seconds, "train_seconds": fit.train_seconds}
        runs.append(results.seeded_run(name, run_config, seed_list, [run_metrics]))
        logging.info("%s: val accuracy %.4f (best %.4f at step %d); per class:\n%s", name,
                     last["val_accuracy"], best["val_accuracy"], best["step"],
                     "\n".join(f"  {c:<11} {100 * a:6.2f} %"
                               for c, a in zip(data_set.class_names, per_class)))
        results.write_csv(workdir / f"history_{name}.csv", history)
        results.write_json(workdir / f"confusion_{name}.json", confusions)
        plots.curve_panels(history, workdir / f"curves_{name}.png", x="step",
                           panels=("loss", "accuracy"), title=f"names ConvNet, balance={mode}")
        plots.confusion(C, data_set.class_names, workdir / f"confusion_{name}.png",
                        title=f"validation, balance={mode}, {int(fit.state.step)} updates")
        results.write_results(workdir, "names_convnet", common.script_flags(__name__), runs,
                              wall_seconds=time.perf_counter() - t0)
    for r in runs:
        m = r["metrics"]
        at = f" at {m['best_step']}" if len(seed_list) == 1 else ""
        print(f"{r['name']:>28}: val accuracy {results.format_summary(r, 'val_accuracy')} "
              f"(best during training {results.format_summary(r, 'best_val_accuracy')}{at}), "
              f"{m['n_updates']:.0f} updates in {m['train_seconds']:.1f} s")


if __name__ == "__main__":
    common.run(main)
