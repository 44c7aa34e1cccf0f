"""Flags and plumbing shared by every experiment script (the library itself never reads FLAGS).

A script is a thin absl app: its flags (simple bounds checked by absl's validators), one frozen
config built from them (`config`), library calls, outputs; `run(main)` starts it. Every flag
error is one line naming the flag and exit status 2, before anything compiles.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from absl import app, flags

flags.DEFINE_string("workdir", None, "Folder for results.json, histories and figures.")
flags.DEFINE_string("data_dir", None,
                    "Data folder (else $JAXDL_DATA_DIR, else the per-user cache).")
flags.DEFINE_enum("grad", "manual", ["manual", "autodiff"],
                  "Gradient: the hand-written backward passes or jax.grad.")
flags.DEFINE_integer("seed", 0, "PRNG seed.")
flags.DEFINE_string("compilation_cache_dir", None,
                    "Persistent XLA compilation cache folder (else $JAXDL_COMPILATION_CACHE; "
                    "neither: no cache). A later run with the same shapes skips its compiles.")
flags.DEFINE_bool("restart", False, "Start every run afresh: delete its old checkpoint in "
                  "--workdir instead of resuming it (a run resumes only with the same settings).")

FLAGS = flags.FLAGS


class FlagError(ValueError):
    """An impossible flag value; the message names the flag."""


def require(condition: bool, flag: str, message: str) -> None:
    """Rejects a flag value with one line that names it (call before any compilation)."""
    if not condition:
        raise FlagError(f"--{flag}: {message}")


def register_positive_range(low: str, high: str, *, strict: bool = False) -> None:
    """An absl validator of 0 < --low <= --high (< when strict), e.g. a learning-rate range."""
    def ok(v):
        return 0 < v[low] and (v[low] < v[high] or (not strict and v[low] == v[high]))
    flags.register_multi_flags_validator(
        [low, high], ok, f"--{low}, --{high}: need 0 < {low} {'<' if strict else '<='} {high}")


def config(module_name: str, **values: Any) -> Any:
    """The flags of a script (and the shared ones) as one frozen dataclass, `values` replacing or
    adding fields (parsed lists, derived numbers); lists become tuples."""
    fields = {**script_flags(module_name), **values}
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return dataclasses.make_dataclass("Config", list(fields), frozen=True)(**fields)


def cycle_epochs(n_s: int, n_cycles: int, steps_per_epoch: int, epochs_per_eval: int = 1,
                 flag: str = "n_s") -> int:
    """schedules.cycle_epochs, with cycles that end inside a segment reported as an error of
    `flag`."""
    from jaxdl import schedules
    epochs = schedules.cycle_epochs(n_s, n_cycles, steps_per_epoch, epochs_per_eval)
    require(epochs is not None, flag,
            f"{n_cycles} cycle(s) of 2*{n_s} updates is not a whole number of "
            f"{epochs_per_eval}-epoch segments of {steps_per_epoch} updates")
    return epochs


def define_cpu_devices_flag(default: int = 0) -> None:
    """--cpu_devices, for the studies that vmap members (sweeps): on a CPU, JAX exposes that many
    devices, one per core, and each sweep's members are sharded over them. The convolutional
    studies default to 1: one device's convolutions already use every core (XLA's intra-op
    threads), and splitting their members over two devices was slower (benchmarks/NOTES.md)."""
    flags.DEFINE_integer(
        "cpu_devices", default, "CPU devices JAX exposes, one per core, over which each sweep's "
        "members are sharded (0: one per core this process may use, unless XLA_FLAGS sets "
        "--xla_force_host_platform_device_count; 1: one device, whose numbers the others equal "
        "within float rounding). No effect on a GPU.", lower_bound=0)


def define_seeds_flag(cpu_devices_default: int = 0) -> None:
    """--seeds (and --cpu_devices, default `cpu_devices_default`), for the studies that train
    runs: each run at seeds --seed, --seed + 1, ..., trained as one vmapped program whose seeds
    are sharded over the devices."""
    flags.DEFINE_integer(
        "seeds", 1, "Seeds per run (--seed, --seed + 1, ...): several train as one vmapped "
        "program, the seed as member axis; results.json keeps each seed's metrics and their mean, "
        "std, min, max and n.", lower_bound=1)
    if "cpu_devices" not in FLAGS:
        define_cpu_devices_flag(cpu_devices_default)


def seed_values(cfg: Any) -> list[int]:
    """The seeds of a study's runs: cfg.seed, cfg.seed + 1, ... (cfg.seeds of them)."""
    from jaxdl import seeds
    return seeds.seed_values(cfg.seed, cfg.seeds)


def cpu_devices(requested: int) -> int:
    """The CPU device count --cpu_devices asks for: `requested`, or for 0 one per core this
    process may use (1 where XLA_FLAGS already sets the device count, which then applies)."""
    if requested:
        return requested
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def use_cpu_devices(n: int) -> None:
    """Gives JAX n CPU devices; call before anything touches a device (JAX starts its backends
    once)."""
    if n > 1:
        import jax
        jax.config.update("jax_num_cpu_devices", n)


def script_flags(module_name: str) -> dict:
    """The values of the flags a script defines, plus the shared ones, for results.json."""
    names = {f.name for f in FLAGS.get_flags_for_module(module_name)}
    names |= {f.name for f in FLAGS.get_flags_for_module(__name__)}
    return {n: FLAGS[n].value for n in sorted(names)}


def workdir() -> Path:
    """--workdir, created if missing; a file there, or a folder this user cannot write into, is a
    FlagError (call before loading data or compiling, so the refusal comes first)."""
    require(bool(FLAGS.workdir), "workdir", "is required (a folder for the outputs)")
    path = Path(FLAGS.workdir)
    require(not path.exists() or path.is_dir(), "workdir", f"{path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".jaxdl-write-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise FlagError(f"--workdir: cannot write into {path} ({e.strerror or e})") from None
    return path


# flags that do not change a run's computation: never part of its identity
NOT_IDENTITY = ("workdir", "data_dir", "compilation_cache_dir", "restart")


def identity(cfg: Any, *, exclude: tuple[str, ...] = (), **run: Any) -> dict:
    """A run's identity for train.fit: the fields of the frozen config `cfg` less the folders
    (NOT_IDENTITY) and `exclude` (the run length, which a longer rerun may extend, and the lists
    that name the study's runs), plus this run's own settings `run`."""
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    return {**{k: v for k, v in fields.items() if k not in NOT_IDENTITY + exclude}, **run}


def checkpoint_path(workdir: Path, name: str) -> Path:
    """<workdir>/<name>, the checkpoint a run resumes from; with --restart, deleted first so the
    run starts afresh."""
    path = workdir / name
    if FLAGS.restart:
        path.unlink(missing_ok=True)
    return path


def parse_floats(text: str, flag: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise FlagError(f"--{flag}: expected comma-separated numbers, got {text!r}") from None
    require(bool(values), flag, "is empty")
    return values


def parse_ints(text: str, flag: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise FlagError(f"--{flag}: expected comma-separated integers, got {text!r}") from None


def parse_widths(text: str, flag: str) -> tuple[int, ...]:
    """Comma-separated positive layer widths."""
    widths = parse_ints(text, flag)
    require(bool(widths) and min(widths) > 0, flag,
            f"expected positive comma-separated widths, got {text!r}")
    return tuple(widths)


def enable_compilation_cache(path: str | os.PathLike | None = None) -> str | None:
    """Opt-in persistent compilation cache: `path`, else --compilation_cache_dir, else
    $JAXDL_COMPILATION_CACHE. Caches every program that took >= 0.1 s to compile (jax's default,
    1 s, would skip most of ours), or the threshold set in jax's own
    $JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS. Call before anything compiles. Returns the folder
    or None."""
    path = path or FLAGS.compilation_cache_dir or os.environ.get("JAXDL_COMPILATION_CACHE")
    if not path:
        return None
    import jax
    jax.config.update("jax_compilation_cache_dir", str(path))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return str(path)


def main_wrapper(main):
    """Turns FlagError and DataError into one line `error: ...` and exit status 2, and Ctrl-C into
    one line saying where the checkpoints are (checkpoint.resume_note) and exit status 130, not a
    traceback; turns on the compilation cache when asked (enable_compilation_cache)."""
    from jaxdl.data.download import DataError

    def wrapped(argv):
        try:
            enable_compilation_cache()
            return main(argv)
        except (FlagError, DataError) as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            from jaxdl.checkpoint import resume_note
            print(f"interrupted: {resume_note(FLAGS.workdir)}", file=sys.stderr)
            sys.exit(130)
    return wrapped


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with an impossible value (a bound, a validator, an unknown enum
    value or flag) reported as one line naming the flag and exit status 2."""
    try:
        return FLAGS(argv)
    except flags.Error as e:  # absl's message may span lines: one line, as every user error
        print("error: " + "; ".join(line.strip() for line in str(e).splitlines() if line.strip()),
              file=sys.stderr)
        sys.exit(2)


def run(main) -> None:
    """app.run for an experiment: the shared flags listed by the script's --help, JAX's own flags
    (--jax_enable_x64, --jax_default_matmul_precision, ...) accepted, parse_flags, then main under
    main_wrapper."""
    import jax
    jax.config.config_with_absl()
    for flag in FLAGS.get_flags_for_module(__name__):  # --help lists the main module's key flags
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main_wrapper(main), flags_parser=parse_flags)


def cifar10_splits(split: str, n_val: int = 5000, flag: str = "n_val") -> dict:
    """cifar10.load_splits with an impossible validation size reported as an error of `flag`."""
    from jaxdl.data import cifar10
    try:
        return cifar10.load_splits(split, FLAGS.data_dir, n_val=n_val)
    except ValueError as e:
        raise FlagError(f"--{flag}: {e}") from None
