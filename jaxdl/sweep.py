"""Hyper-parameter and seed sweeps as one vmapped, jitted program, sharded over devices.

A sweep runs `trainer.run(hp, key, data, n_segments)` for m members at once: `hp` holds one value
per member for every hyper-parameter (arrays of shape [m]) and `keys` one PRNG key per member. The
data is an unbatched argument (in_axes=None), shared by all members, not copied per member. The
member axis is sharded over the devices of a 1-D `Mesh` with `NamedSharding` (computation follows
data), padded by repeating the last member when m does not divide the device count; the same call
fills one CPU, one GPU, eight fake CPU devices or every device of a multi-process job.

Members are independent computations, so one that diverges (NaN or inf) does not disturb the
others; it is marked in `SweepResult.diverged`.

When every member has the same key (a lambda search at one seed), the key enters unbatched: all
members share the initialisation and the minibatch order, and their first-layer products become
one large GEMM X_b [W_1 ... W_m] instead of m small ones.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxdl.train import Trainer, TrainState, compiler_options

AXIS = "members"


class SweepResult(NamedTuple):
    state: TrainState  # every leaf has a leading member axis [m]
    history: dict  # metric -> [m, n_segments] numpy array
    diverged: np.ndarray  # [m] bool: a non-finite cost or metric at any evaluation


def member_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over the given devices (default: all devices of all processes)."""
    devices = list(devices) if devices is not None else jax.devices()
    return Mesh(np.asarray(devices), (AXIS,))


def member_shardings(mesh: Mesh) -> tuple[NamedSharding, NamedSharding]:
    """(member, replicated): the member axis split over the mesh, and a copy on every device."""
    return NamedSharding(mesh, P(AXIS)), NamedSharding(mesh, P())


def _pad(tree, m: int, target: int):
    """Repeats the last member so the member axis has `target` entries."""
    if target == m:
        return tree
    return jax.tree.map(lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], target - m, 0)]), tree)


def _to_host(x: jax.Array) -> np.ndarray:
    """A member-sharded array as numpy, gathered from every process when it spans several."""
    if x.is_fully_addressable:
        return np.asarray(jax.device_get(x))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def grid(**values: Sequence[float]) -> dict:
    """The Cartesian product of hyper-parameter values as a dict of float32 arrays [m]."""
    names = list(values)
    mesh = np.meshgrid(*[np.asarray(values[n], np.float32) for n in names], indexing="ij")
    return {n: jnp.asarray(a.ravel()) for n, a in zip(names, mesh)}


def seeds_keys(seeds: Sequence[int]) -> jax.Array:
    """One PRNG key per member from integer seeds."""
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


def run(trainer: Trainer, hp: dict, keys: jax.Array, data: dict, n_segments: int, *,
        mesh: Mesh | None = None) -> SweepResult:
    """Trains every member (hp[name][i], keys[i]) for n_segments segments in one program."""
    m = keys.shape[0]
    for name, value in hp.items():
        if jnp.shape(value) != (m,):
            raise ValueError(f"hyper-parameter {name!r} has shape {jnp.shape(value)}; "
                             f"expected ({m},), one value per member")
    mesh = mesh or member_mesh()
    n_dev = mesh.devices.size
    target = math.ceil(m / n_dev) * n_dev
    member, replicated = member_shardings(mesh)
    hp_p = jax.device_put(_pad(hp, m, target), member)
    data = jax.device_put(data, replicated)
    if bool(np.all(np.asarray(keys) == np.asarray(keys[:1]))):
        # one seed for all: the key (hence initialisation and minibatch order) is not batched, so
        # every member gathers the same minibatch and XLA computes X_b [W_1 ... W_m] as one GEMM
        keys_p, key_axis = jax.device_put(keys[0], replicated), None
    else:
        keys_p, key_axis = jax.device_put(_pad(keys, m, target), member), 0
    cache_key = ("sweep", n_segments, key_axis, mesh)  # one compile per shape, not per call
    if cache_key not in trainer.compiled:
        vmapped = jax.vmap(lambda h, k, d: trainer.run(h, k, d, n_segments),
                           in_axes=(0, key_axis, None))
        trainer.compiled[cache_key] = jax.jit(vmapped, out_shardings=member,
                                              compiler_options=compiler_options())
    state, history = trainer.compiled[cache_key](hp_p, keys_p, data)
    state = jax.tree.map(lambda x: x[:m], state)
    history = {k: _to_host(v)[:m] for k, v in history.items()}
    finite = np.ones(m, bool)
    for v in history.values():
        if np.issubdtype(v.dtype, np.floating):
            finite &= np.all(np.isfinite(v), axis=tuple(range(1, v.ndim)))
    return SweepResult(state, history, ~finite)


def member(result: SweepResult, i: int) -> tuple[TrainState, dict]:
    """Member i's final state and history, as a run made alone returns them."""
    return (jax.tree.map(lambda x: x[i], result.state),
            {k: v[i] for k, v in result.history.items()})


def sample_log_uniform(key: jax.Array, n: int, l_min: float, l_max: float) -> jax.Array:
    """lambda = 10^l with l = l_min + (l_max - l_min) U(0, 1), the course's coarse-to-fine rule."""
    if not l_max > l_min:
        raise ValueError(f"empty range: l_max={l_max} must exceed l_min={l_min}")
    return 10.0 ** (l_min + (l_max - l_min) * jax.random.uniform(key, (n,)))
