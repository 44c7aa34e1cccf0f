"""Coarse-to-fine lambda search and multi-seed final runs, each phase one vmapped sweep.

    python -m experiments.lambda_search --model a2 --workdir runs/search_a2
    python -m experiments.lambda_search --model a3 --workdir runs/search_a3

a2: two-layer net m = 50 (A2 init: std 1/sqrt(fan_in), b = 0); search on 45k / 5k with
    n_s = 2 floor(45000 / 100) = 900, 2 cycles; final: best lambda, 3 cycles, 49k / 1k
    (n_s = 2 floor(49000 / 100) = 980), 5 seeds.
    Expected: final test about 51.1-52.6 % (public band).
a3: 3-layer [50, 50] with batch norm, He init; search on 45k / 5k with n_s = 2250, 2 cycles;
    final: best lambda, 3 cycles, 45k / 5k, 5 seeds. Expected: 52.6-54.3 % (public band).

Coarse: --n_coarse values l ~ U(l_min, l_max), lambda = 10^l. Fine: --n_fine values over the span
of the coarse top 3 (in log10), widened by --fine_margin on each side. All members of a phase
share one seed (the same initialisation and minibatch order), so lambda alone differs.

Writes coarse.csv/.md, fine.csv/.md, final.csv/.md, search.png and results.json into --workdir.
Each phase checkpoints after every segment (checkpoint_coarse/fine/final.msgpack in --workdir)
and logs its progress (best val accuracy so far, ETA): the same command run again after an
interruption resumes the phase where it stopped, reads back the finished ones and ends with the
tables of an uninterrupted run; with other settings it is refused (--restart starts afresh).
--distributed runs the same sweep as one program over several processes (jax.distributed).
On a CPU the members of each phase are split over the cores, one JAX device each (--cpu_devices:
0, the default, is one per core; 1 gives one device, whose numbers the split equals within float
rounding).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags, logging

from experiments import common
from jaxdl import optimizers, plots, results, samplers, sweep, train
from jaxdl.data import cifar10
from jaxdl.layers import initializers, losses
from jaxdl.models import mlp

flags.DEFINE_enum("model", "a2", ["a2", "a3"], "a2: two-layer m=50; a3: 3-layer [50,50] BN.")
flags.DEFINE_float("l_min", -5.0, "Coarse range: lambda = 10^l, l in [l_min, l_max].")
flags.DEFINE_float("l_max", -1.0, "Coarse range upper end (log10 lambda).")
flags.DEFINE_integer("n_coarse", 20, "Coarse lambda values (the top 3 are reported).",
                     lower_bound=3)
flags.DEFINE_integer("n_fine", 12, "Fine lambda values (0: skip the fine search).", lower_bound=0)
flags.DEFINE_float("fine_margin", 0.25, "Fine range: the coarse top-3 span +- this (log10).")
flags.DEFINE_integer("cycles", 2, "Cycles per search run.", lower_bound=1)
flags.DEFINE_integer("final_cycles", 3, "Cycles of the final runs.", lower_bound=0)
flags.DEFINE_string("final_seeds", "0,1,2,3,4", "Seeds of the final runs (one sweep).")
flags.DEFINE_integer("n_s", None, "Half-cycle length in updates (default: k floor(n / n_batch), "
                     "k = 2 for a2, 5 for a3: 900 / 2250 on 45k).", lower_bound=1)
flags.DEFINE_integer("n_batch", 100, "Mini-batch size.", lower_bound=1)
flags.DEFINE_float("eta_min", 1e-5, "Cyclical learning rate minimum.")
flags.DEFINE_float("eta_max", 1e-1, "Cyclical learning rate maximum.")
flags.DEFINE_integer("n_val", 5000, "Validation images of the search (held out of the 50k).")
flags.DEFINE_integer("final_n_val", None, "Validation images of the final runs (default: a2 "
                     "1000, a3 5000).")
flags.DEFINE_integer("n_train_limit", 0, "Use only the first N training samples (0: all); "
                     "for quick checks.", lower_bound=0)
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() and shard the members "
                  "over every process's devices.")
flags.DEFINE_string("coordinator_address", None, "With --distributed: host:port of process 0.")
flags.DEFINE_integer("num_processes", None, "With --distributed: number of processes.")
flags.DEFINE_integer("process_id", None, "With --distributed: this process's index.")
common.define_cpu_devices_flag()
flags.register_multi_flags_validator(["l_min", "l_max"], lambda f: f["l_max"] > f["l_min"],
                                     "--l_max: the lambda range is empty (needs l_max > l_min)")
common.register_positive_range("eta_min", "eta_max", strict=True)
flags.mark_flag_as_required("workdir")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Search:
    """The searched net and its sheet's n_s rule: n_s = n_s_epochs floor(n / n_batch) (a2: 900 on
    45k and 980 on 49k; a3: 2250 on 45k), so every cycle ends exactly at an epoch's end, where it
    is evaluated."""
    hidden: tuple[int, ...]
    bn: bool
    init: str
    n_s_epochs: int
    final_n_val: int


SEARCH = {"a2": Search(hidden=(50,), bn=False, init="xavier", n_s_epochs=2, final_n_val=1000),
          "a3": Search(hidden=(50, 50), bn=True, init="he", n_s_epochs=5, final_n_val=5000)}


def config_from_flags():
    seeds = common.parse_ints(FLAGS.final_seeds, "final_seeds")
    common.require(bool(seeds) or FLAGS.final_cycles == 0, "final_seeds", "is empty")
    return common.config(__name__, final_seeds=tuple(seeds),
                         cpu_devices=common.cpu_devices(FLAGS.cpu_devices))


def load_data(cfg, n_val: int, eval_test: bool, flag: str = "n_val") -> dict:
    return cifar10.device_splits(common.cifar10_splits("all", n_val, flag),
                                 ("train", "val", "test") if eval_test else ("train", "val"),
                                 n_train=cfg.n_train_limit or None)


def make_trainer(cfg, n_train: int, n_s: int, eval_test: bool):
    common.require(cfg.n_batch <= n_train, "n_batch",
                   f"{cfg.n_batch} is larger than the {n_train} training samples")
    net = SEARCH[cfg.model]
    model = mlp.mlp(net.hidden, 10, bn=net.bn, w_init=initializers.by_name(net.init))
    steps_per_epoch = n_train // cfg.n_batch
    # evaluate about 10 times per cycle but never more often than once per epoch
    epochs_per_eval = max(1, round(2 * n_s / steps_per_epoch / 10))
    splits = ("train", "val", "test") if eval_test else ("train", "val")
    trainer = train.make_trainer(model, losses.softmax_cross_entropy, optimizers.cyclical_sgd,
                                 samplers.shuffled_batches(cfg.n_batch, n_train), grad=cfg.grad,
                                 epochs_per_eval=epochs_per_eval, eval_splits=splits)
    return trainer, steps_per_epoch


# not part of a phase's identity: the run lengths (more cycles continue a phase) and the flags
# that only choose its lambdas and seeds, which the identity holds themselves
RUN_LENGTH_AND_LISTS = ("cycles", "final_cycles", "final_seeds", "n_coarse", "l_min", "l_max",
                        "n_fine", "fine_margin")


def phase(cfg, name, trainer, steps_per_epoch, n_s, cycles, lams, seeds, data, workdir):
    """One sweep: every (lambda, seed) pair a member. Returns per-member rows and the raw result.
    The run ends at the end of a cycle (eta = eta_min), where the sheets evaluate. Checkpointed
    after every segment in <workdir>/checkpoint_<name>.msgpack: an interrupted phase resumes, a
    finished one is read back at once."""
    m = len(lams)
    hp = {"lam": jnp.asarray(lams, jnp.float32), "eta_min": jnp.full(m, cfg.eta_min),
          "eta_max": jnp.full(m, cfg.eta_max), "n_s": jnp.full(m, float(n_s))}
    epe = trainer.epochs_per_eval
    n_seg = common.cycle_epochs(n_s, cycles, steps_per_epoch, epe) // epe
    logging.info("%s: %d members x %d segments of %d epochs, on %d devices", name, m, n_seg,
                 epe, jax.device_count())
    t0 = time.perf_counter()
    identity = common.identity(cfg, exclude=RUN_LENGTH_AND_LISTS, phase=name, n_s=n_s,
                               lambdas=[float(v) for v in lams], seeds=[int(s) for s in seeds])
    result = sweep.run(trainer, hp, sweep.seeds_keys(seeds), data, n_seg, name=name,
                       checkpoint=common.checkpoint_path(workdir, f"checkpoint_{name}.msgpack"),
                       identity=identity)
    seconds = time.perf_counter() - t0
    h = result.history
    rows = []
    for i in range(m):
        row = {"lambda": float(lams[i]), "log10_lambda": float(np.log10(lams[i])),
               "seed": int(seeds[i]), "train_accuracy": float(h["train_accuracy"][i, -1]),
               "val_accuracy": float(h["val_accuracy"][i, -1]),
               "best_val_accuracy": float(np.nanmax(h["val_accuracy"][i])),
               "val_loss": float(h["val_loss"][i, -1]),
               "diverged": bool(result.diverged[i])}
        if "test_accuracy" in h:
            row["test_accuracy"] = float(h["test_accuracy"][i, -1])
        rows.append(row)
    logging.info("%s: %.1f s (compile included)", name, seconds)
    return rows, result, seconds


def markdown_table(rows: list[dict], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if c == "lambda":
                cells.append(f"{v:.3e}")
            elif c.endswith("accuracy"):
                cells.append(f"{100 * v:.2f} %")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    cfg = config_from_flags()
    common.use_cpu_devices(cfg.cpu_devices)  # before JAX starts its backends
    if cfg.distributed:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(cfg.coordinator_address, cfg.num_processes, cfg.process_id)
    net = SEARCH[cfg.model]
    workdir = common.workdir()
    write = jax.process_index() == 0
    t0 = time.perf_counter()
    runs, phases = [], {}

    data = load_data(cfg, cfg.n_val, eval_test=False)
    n_train = data["X_train"].shape[0]
    n_s = cfg.n_s or net.n_s_epochs * (n_train // cfg.n_batch)
    trainer, spe = make_trainer(cfg, n_train, n_s, eval_test=False)
    key = jax.random.PRNGKey(cfg.seed)
    coarse_l = np.asarray(sweep.sample_log_uniform(key, cfg.n_coarse, cfg.l_min, cfg.l_max))
    rows, _, secs = phase(cfg, "coarse", trainer, spe, n_s, cfg.cycles, coarse_l,
                          [cfg.seed] * len(coarse_l), data, workdir)
    phases["coarse"] = {"rows": rows, "seconds": secs}
    ranked = sorted([r for r in rows if not r["diverged"]], key=lambda r: -r["val_accuracy"])
    best = ranked[0]
    if cfg.n_fine:
        top = [r["log10_lambda"] for r in ranked[:3]]
        lo, hi = min(top) - cfg.fine_margin, max(top) + cfg.fine_margin
        fine_l = np.asarray(sweep.sample_log_uniform(jax.random.fold_in(key, 1), cfg.n_fine,
                                                     lo, hi))
        rows_f, _, secs = phase(cfg, "fine", trainer, spe, n_s, cfg.cycles, fine_l,
                                [cfg.seed] * len(fine_l), data, workdir)
        phases["fine"] = {"rows": rows_f, "seconds": secs, "range_log10": [lo, hi]}
        ranked_f = sorted([r for r in rows_f if not r["diverged"]],
                          key=lambda r: -r["val_accuracy"])
        if ranked_f and ranked_f[0]["val_accuracy"] >= best["val_accuracy"]:
            best = ranked_f[0]
    for r in phases["coarse"]["rows"] + phases.get("fine", {}).get("rows", []):
        runs.append({"name": f"search_lam{r['lambda']:.3e}",
                     "config": {"lambda": r["lambda"], "cycles": cfg.cycles, "n_s": n_s,
                                "phase": "fine" if r in phases.get("fine", {}).get("rows", [])
                                else "coarse"},
                     "metrics": {k: r[k] for k in ("train_accuracy", "val_accuracy",
                                                   "best_val_accuracy", "diverged")}})

    summary = {"best_lambda": best["lambda"], "best_search_val_accuracy": best["val_accuracy"]}
    if cfg.final_cycles:
        final_data = load_data(cfg, cfg.final_n_val or net.final_n_val, eval_test=True,
                               flag="final_n_val")
        n_final = final_data["X_train"].shape[0]
        n_s_final = cfg.n_s or net.n_s_epochs * (n_final // cfg.n_batch)
        f_trainer, f_spe = make_trainer(cfg, n_final, n_s_final, eval_test=True)
        rows_final, _, secs = phase(cfg, "final", f_trainer, f_spe, n_s_final, cfg.final_cycles,
                                    np.full(len(cfg.final_seeds), best["lambda"]),
                                    cfg.final_seeds, final_data, workdir)
        phases["final"] = {"rows": rows_final, "seconds": secs}
        for r in rows_final:
            runs.append({"name": f"final_seed{r['seed']}",
                         "config": {"lambda": r["lambda"], "cycles": cfg.final_cycles,
                                    "n_s": n_s_final, "seed": r["seed"], "phase": "final"},
                         "metrics": {k: r[k] for k in ("train_accuracy", "val_accuracy",
                                                       "test_accuracy", "diverged")}})
        for k in ("train_accuracy", "val_accuracy", "test_accuracy"):
            v = np.array([r[k] for r in rows_final if not r["diverged"]])
            summary[f"final_{k}_mean"] = float(v.mean())
            summary[f"final_{k}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0

    if not write:
        return
    cols = ["lambda", "train_accuracy", "val_accuracy", "best_val_accuracy", "diverged"]
    for name, p in phases.items():
        rows = sorted(p["rows"], key=lambda r: -r["val_accuracy"])
        results.write_csv(workdir / f"{name}.csv", rows)
        c = cols + (["seed", "test_accuracy"] if name == "final" else [])
        results.atomic_write_text(workdir / f"{name}.md", markdown_table(rows, c))
    fig_rows = {name: phases[name]["rows"] for name in ("coarse", "fine") if name in phases}
    plot_search(fig_rows, workdir / "search.png", f"{cfg.model}: val accuracy against lambda")
    results.write_results(workdir, f"lambda_search_{cfg.model}", common.script_flags(__name__),
                          runs, wall_seconds=time.perf_counter() - t0, summary=summary,
                          top3=[{k: r[k] for k in ("lambda", "val_accuracy")}
                                for r in sorted(phases["coarse"]["rows"],
                                                key=lambda r: -r["val_accuracy"])[:3]],
                          phase_seconds={k: v["seconds"] for k, v in phases.items()},
                          process_count=jax.process_count())
    for k, v in summary.items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")


def plot_search(phase_rows: dict, path, title: str):
    fig, ax = plots.subplots(figsize=(5, 3.5))
    for name, rows in phase_rows.items():
        ax.scatter([r["log10_lambda"] for r in rows], [100 * r["val_accuracy"] for r in rows],
                   label=name, s=18)
    ax.set_xlabel("log10 lambda")
    ax.set_ylabel("val accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    plots.save(fig, path)


if __name__ == "__main__":
    common.run(main)
