"""Training: one jitted segment (a few epochs, each a lax.scan over minibatches) plus evaluation.

Everything a run needs is an argument, never closed over: hyper-parameters `hp` (a dict of arrays,
so a sweep can vmap them and a new value never recompiles), the PRNG key, and the data (a dict of
device arrays). One segment = `epochs_per_eval` epochs followed by an evaluation of the model on
every split in `eval_splits`. `fit` runs segments from the host (one dispatch and one small
transfer per segment: that is where progress is logged and checkpoints go); `fit_and_test` is one
such run followed by its test evaluation; `run` scans segments inside one compiled program, which
is what `jaxdl.sweep` vmaps. Batch samplers: `jaxdl.samplers`.

Data dict: {"X_train", "Y_train", "X_val", "Y_val", ...} (e.g. `jaxdl.data.cifar10.device_splits`),
optionally "w_train" (per-sample loss weights); "X_test", "Y_test" for `fit_and_test`.
Hyper-parameters: `hp["lam"]` always; the rest is read by `optimizer_fn(hp)`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from jaxdl import checkpoint as checkpoint_lib
from jaxdl import model as model_lib
from jaxdl.layers.losses import Loss
from jaxdl.samplers import Sampler

OptimizerFn = Callable[[dict], optax.GradientTransformation]


@flax.struct.dataclass
class TrainState:
    params: Any
    state: Any  # batch-norm running statistics etc.
    opt_state: Any
    key: jax.Array  # never used directly: fold_in(key, step) per step, fold_in(key, -epoch) per shuffle
    step: jax.Array  # update steps taken (int32)
    epoch: jax.Array  # epochs taken (int32)


class Trainer(NamedTuple):
    init: Callable[..., TrainState]  # (hp, key, in_shape) -> TrainState
    step: Callable[..., tuple[TrainState, jax.Array]]  # (ts, hp, X_b, Y_b, w_b) -> ts, cost
    epoch: Callable[..., tuple[TrainState, jax.Array]]  # (ts, hp, data) -> ts, mean batch cost
    evaluate: Callable[..., dict]  # (params, state, hp, X, Y) -> {loss, cost, accuracy}
    segment: Callable[..., tuple[TrainState, dict]]  # (ts, hp, data) -> ts, metrics
    run: Callable[..., tuple[TrainState, dict]]  # (hp, key, data, n_segments) -> ts, history
    epochs_per_eval: int
    eval_splits: tuple[str, ...]
    compiled: dict  # signature -> compiled segment: one compile per study, not one per run
    model: model_lib.Model
    loss: Loss


def make_trainer(model: model_lib.Model, loss: Loss, optimizer_fn: OptimizerFn, sampler: Sampler,
                 *, grad: str = "manual", epochs_per_eval: int = 1,
                 eval_splits: Sequence[str] = ("train", "val"), eval_batch: int = 10000,
                 augment: Callable | None = None) -> Trainer:
    """Builds the pure training functions for one model, loss, optimiser and batch sampler.

    grad: "manual" (hand-written backward) or "autodiff" (jax.grad); the rest is identical.
    augment: optional (key, X_b) -> X_b applied to each minibatch on the device.
    """
    value_and_grad = model_lib.value_and_grad(model, loss, grad, train=True)
    eval_splits = tuple(eval_splits)

    def init(hp, key, in_shape):
        k_init, k_run = jax.random.split(key)
        params, state = model.init(k_init, in_shape)
        opt_state = optimizer_fn(hp).init(params)
        zero = jnp.zeros((), jnp.int32)
        return TrainState(params, state, opt_state, k_run, zero, zero)

    def step(ts, hp, X_b, Y_b, w_b=None):
        key = jax.random.fold_in(ts.key, ts.step)
        if augment is not None:
            key, k_aug = jax.random.split(key)
            X_b = augment(k_aug, X_b)
        (J, aux), grads = value_and_grad(ts.params, ts.state, X_b, Y_b, hp["lam"], key, w_b)
        updates, opt_state = optimizer_fn(hp).update(grads, ts.opt_state, ts.params)
        params = optax.apply_updates(ts.params, updates)
        return ts.replace(params=params, state=aux.state, opt_state=opt_state,
                          step=ts.step + 1), J

    def epoch(ts, hp, data):
        idx = sampler(jax.random.fold_in(ts.key, -1 - ts.epoch), data)
        w = data.get("w_train")

        def body(ts, idx_b):
            w_b = None if w is None else w[idx_b]
            return step(ts, hp, data["X_train"][idx_b], data["Y_train"][idx_b], w_b)

        ts, costs = jax.lax.scan(body, ts, idx)
        return ts.replace(epoch=ts.epoch + 1), jnp.mean(costs)

    def evaluate(params, state, hp, X, Y):
        """Loss, cost and accuracy in evaluation mode, in chunks of eval_batch samples."""
        n = X.shape[0]
        loss_sum, correct = jnp.zeros(()), jnp.zeros((), jnp.int32)
        for start in range(0, n, eval_batch):  # static unroll: shapes known at trace time
            X_c, Y_c = X[start:start + eval_batch], Y[start:start + eval_batch]
            scores, _ = model.apply(params, state, X_c, train=False)
            chunk_loss, _ = loss.forward(scores, Y_c)
            loss_sum = loss_sum + chunk_loss * X_c.shape[0]
            correct = correct + jnp.sum(jnp.argmax(scores, -1) == jnp.argmax(Y_c, -1))
        data_loss = loss_sum / n
        return {"loss": data_loss, "cost": data_loss + hp["lam"] * model_lib.l2_penalty(params),
                "accuracy": correct / n}

    def segment(ts, hp, data):
        def body(ts, _):
            return epoch(ts, hp, data)
        ts, costs = jax.lax.scan(body, ts, None, length=epochs_per_eval)
        metrics = {"batch_cost": jnp.mean(costs), "step": ts.step, "epoch": ts.epoch}
        for split in eval_splits:
            for name, value in evaluate(ts.params, ts.state, hp, data[f"X_{split}"],
                                        data[f"Y_{split}"]).items():
                metrics[f"{split}_{name}"] = value
        return ts, metrics

    def run(hp, key, data, n_segments):
        ts = init(hp, key, data["X_train"].shape[1:])
        return jax.lax.scan(lambda ts, _: segment(ts, hp, data), ts, None, length=n_segments)

    return Trainer(init, step, epoch, evaluate, segment, run, epochs_per_eval, eval_splits, {},
                   model, loss)


def compiler_options() -> dict:
    """XLA options for compiling the training programs (`jax.jit(..., compiler_options=...)`).

    On the CPU, XLA's default copy insertion copies every loop-carried parameter once per step
    of the scan, because the in-place update reads the old value after other ops have read it;
    its region analysis proves the update safe and drops the copy. The same numbers, bit for bit.
    Other backends get none.
    """
    if jax.default_backend() == "cpu":
        return {"xla_cpu_copy_insertion_use_region_analysis": True}
    return {}


def to_device(data: dict) -> dict:
    """Puts every array of a data dict on the default device once."""
    return {k: jnp.asarray(v) for k, v in data.items()}


def as_hparams(**values: float) -> dict:
    """Hyper-parameters as float32 arrays, so new values reuse the compiled program."""
    return {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}


class FitResult(NamedTuple):
    state: TrainState
    history: list[dict]  # one dict of floats per evaluation
    compile_seconds: float
    train_seconds: float
    diverged: bool = False  # the cost became NaN or inf; state is the last finite one

    @property
    def final_metrics(self) -> dict:
        """The last evaluation of `state`: the last finite one when the run diverged."""
        if self.diverged and len(self.history) > 1:
            return self.history[-2]
        return self.history[-1]


def fit(trainer: Trainer, hp: dict, key: jax.Array, data: dict, n_epochs: int, *,
        name: str = "run", log_every: int = 1,
        on_segment: Callable[[TrainState, dict], None] | None = None,
        checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1,
        init_state: TrainState | None = None, identity: dict | None = None) -> FitResult:
    """Trains for n_epochs (a multiple of trainer.epochs_per_eval) from the host, segment by segment.

    Logs step, epoch, metrics, steps per second and an ETA every `log_every` segments, and calls
    `on_segment(ts, metrics)` after each. With `checkpoint` (a file path), the train state (params,
    optimiser state, PRNG key, step) and history are saved atomically every `checkpoint_every`
    segments, and a run started again with the same path continues from the last save: the same
    compiled program on the same state, so it ends with the metrics of an uninterrupted run.
    `identity`: the settings that change the computation (the study's config, without its folders
    and its run length), stored with the name, hp and epochs_per_eval; a checkpoint saved with
    any other value is refused (CheckpointMismatch, naming each setting with both values), while
    a longer n_epochs continues it (a shorter one is refused).
    A non-finite cost stops the run with a warning; the last good checkpoint is kept.
    `init_state` replaces `trainer.init(hp, key, ...)` as the starting state (e.g. other initial
    weights); a checkpoint to resume from takes precedence over it.
    """
    if n_epochs % trainer.epochs_per_eval:
        raise ValueError(f"n_epochs={n_epochs} is not a multiple of epochs_per_eval="
                         f"{trainer.epochs_per_eval}")
    n_segments = n_epochs // trainer.epochs_per_eval
    ts = init_state if init_state is not None else jax.jit(trainer.init, static_argnums=2)(
        hp, key, tuple(data["X_train"].shape[1:]))
    history: list[dict] = []
    meta = {"name": name, "hp": {k: float(v) for k, v in jax.device_get(hp).items()},
            "epochs_per_eval": trainer.epochs_per_eval, "identity": identity or {}}
    if checkpoint is not None and Path(checkpoint).exists():
        # before restoring: other settings may also mean another model structure
        checkpoint_lib.check_identity(checkpoint, checkpoint_lib.read_meta(checkpoint), meta)
        ts, history, _ = checkpoint_lib.restore(checkpoint, ts)
        if len(history) > n_segments:  # a shorter run would return the longer one's state
            raise checkpoint_lib.CheckpointMismatch(
                f"checkpoint {checkpoint} is at epoch {int(ts.epoch)}, past this run's "
                f"{n_epochs}: to start afresh, pass --restart or use a new --workdir")
        logging.info("%s: resumed from %s at epoch %d", name, checkpoint, int(ts.epoch))
    t0 = time.perf_counter()
    signature = str(jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), (ts, hp, data)))
    if signature not in trainer.compiled:
        # not donated: when a segment diverges, the state it started from is the one we keep
        trainer.compiled[signature] = jax.jit(
            trainer.segment, compiler_options=compiler_options()).lower(ts, hp, data).compile()
    compiled = trainer.compiled[signature]
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    first, start_step, diverged = len(history), int(ts.step), False
    for i in range(first, n_segments):
        new_ts, metrics = compiled(ts, hp, data)
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if not all(np.isfinite(v) for v in metrics.values()):
            logging.warning("%s: the cost became %s at epoch %d: diverged, stopping this run "
                            "(the last good state is kept%s)", name, metrics["batch_cost"],
                            int(metrics["epoch"]), f" in {checkpoint}" if checkpoint else "")
            history.append(metrics)
            diverged = True
            break
        ts = new_ts
        history.append(metrics)
        if on_segment is not None:  # before saving: it may add entries to `metrics`, which the
            # checkpoint's history keeps (the log line shows the floats among them)
            on_segment(ts, metrics)
        if checkpoint is not None and ((i + 1) % checkpoint_every == 0 or i + 1 == n_segments):
            checkpoint_lib.save(checkpoint, ts, history=history, meta=meta)
        if (i + 1) % log_every == 0 or i + 1 == n_segments:
            elapsed = time.perf_counter() - t0
            eta = elapsed / (i + 1 - first) * (n_segments - i - 1)
            logging.info("%s: epoch %d/%d step %d  %s  (%.0f steps/s, ETA %.0fs)", name,
                         int(metrics["epoch"]), n_epochs, int(metrics["step"]),
                         "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()
                                   if k not in ("step", "epoch")
                                   and isinstance(v, (int, float))),
                         (metrics["step"] - start_step) / max(elapsed, 1e-9), eta)
    jax.block_until_ready(ts)
    return FitResult(ts, history, compile_seconds, time.perf_counter() - t0, diverged)


class TestedRun(NamedTuple):
    """metrics: the final {split}_{loss, cost, accuracy} of the trainer's eval splits and of test,
    steps, diverged, compile_seconds, train_seconds."""

    history: list[dict]  # one dict of floats per evaluation (the step-0 one first, if asked for)
    metrics: dict
    state: TrainState
    snapshots: list[tuple]  # host (params, state) at each step that is a multiple of snapshot_every


def fit_and_test(trainer: Trainer, hp: dict, key: jax.Array, data: dict, n_epochs: int, *,
                 name: str = "run", eval_at_start: bool = False,
                 init_model: model_lib.Model | None = None, snapshot_every: int | None = None,
                 checkpoint: str | os.PathLike | None = None,
                 identity: dict | None = None) -> TestedRun:
    """One run: `fit` for n_epochs, then the final state evaluated on data["X_test"],
    data["Y_test"] (never seen during training).

    eval_at_start: the history begins with an evaluation of the initial state at step 0.
    init_model: a model of the same architecture whose initialiser replaces the trainer's (its
        params are drawn from the same half of `key` that trainer.init uses).
    snapshot_every: keep (params, state) whenever the step count is a multiple of it (2 n_s: the
        end of each cycle, for a snapshot ensemble).
    checkpoint, identity: as in `fit`, an interrupted run resumes where it stopped, if its
        settings are the same.
    """
    shape = tuple(data["X_train"].shape[1:])
    ts = jax.jit(trainer.init, static_argnums=2)(hp, key, shape)
    if init_model is not None:  # trainer.init draws its params from the first half of key
        params, _ = init_model.init(jax.random.split(key)[0], shape)
        ts = ts.replace(params=params)
    evaluate = jax.jit(trainer.evaluate)
    history: list[dict] = []
    if eval_at_start:
        start = {"batch_cost": float("nan"), "step": 0.0, "epoch": 0.0}
        for split in trainer.eval_splits:
            for k, v in evaluate(ts.params, ts.state, hp, data[f"X_{split}"],
                                 data[f"Y_{split}"]).items():
                start[f"{split}_{k}"] = float(v)
        history.append(start)
    snapshots: list[tuple] = []

    def on_segment(ts, metrics):
        if snapshot_every and int(metrics["step"]) % snapshot_every == 0:
            snapshots.append(jax.device_get((ts.params, ts.state)))

    fit_result = fit(trainer, hp, key, data, n_epochs, name=name, init_state=ts,
                     checkpoint=checkpoint, on_segment=on_segment, identity=identity)
    last, state = fit_result.final_metrics, fit_result.state
    test = jax.device_get(evaluate(state.params, state.state, hp, data["X_test"], data["Y_test"]))
    metrics = {f"{s}_{m}": last[f"{s}_{m}"] for s in trainer.eval_splits
               for m in ("loss", "cost", "accuracy")}
    metrics.update({f"test_{m}": float(test[m]) for m in ("loss", "cost", "accuracy")})
    metrics.update({"steps": int(last["step"]), "diverged": fit_result.diverged,
                    "compile_seconds": fit_result.compile_seconds,
                    "train_seconds": fit_result.train_seconds})
    logging.info("%s: test accuracy %.4f (%.1fs training)", name, metrics["test_accuracy"],
                 fit_result.train_seconds)
    return TestedRun(history + fit_result.history, metrics, state, snapshots)


def make_predictor(model: model_lib.Model, *, chunk: int = 1000, output: str = "class"
                   ) -> Callable[[Any, Any, jax.Array], jax.Array]:
    """Jitted (params, state, X) -> eval-mode predictions, one row per sample: the argmax class
    (output="class") or the softmax probabilities ("probabilities").

    The model sees `chunk` samples at a time: the whole chunks in one lax.map, then the remainder;
    n <= chunk is a single call on all of X.
    """
    if output not in ("class", "probabilities"):
        raise ValueError(f"output must be 'class' or 'probabilities', got {output!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")

    def head(params, state, X):
        scores = model.apply(params, state, X, train=False)[0]
        return jnp.argmax(scores, -1) if output == "class" else jax.nn.softmax(scores, -1)

    @jax.jit
    def predict(params, state, X):
        n = X.shape[0]
        if n <= chunk:
            return head(params, state, X)
        whole = n // chunk * chunk
        chunks = X[:whole].reshape(n // chunk, chunk, *X.shape[1:])
        out = jax.lax.map(lambda x: head(params, state, x), chunks)
        out = out.reshape(whole, *out.shape[2:])
        if whole == n:
            return out
        return jnp.concatenate([out, head(params, state, X[whole:])])
    return predict
