"""The speed suite: every training workload in jaxdl against numpy and PyTorch, in one process.

    python benchmarks/run.py [--repeats 5] [--threads 1] [--only a1,mlp] [--grad autodiff]
        [--out bench.json]

Workloads (--only): a1, mlp, names, sweep, cnn, cnn_improved (see WORKLOADS). For each, the implementations
start from the same parameters and follow the same minibatch index sequence; before anything is
timed, each is checked to compute the same function (the per-step training costs of the first
--check_steps steps agree to float32 tolerance). Then they are timed interleaved (J N T J N T ...;
these machines drift) and medians are reported, with the [min-max] over the repeats beside
them (a bimodal row shows as a wide range): seconds of the training loop (jaxdl's compile
apart), achieved GFLOP/s from an analytic count of the matmul FLOPs, the fraction of a measured
float32 matmul ceiling, and ratios. PyTorch is used when installed (`pip install torch==2.13.0`),
else skipped with a note. The BN MLP and the CNNs also run as Flax NNX models (rows flax_nnx_loop:
a jitted step from a Python loop, flax_nnx_scan: the loop as one jitted lax.scan), what a JAX user
writes without jaxdl (references.NnxPeer). Real data (CIFAR-10 batch 1, MNIST, the surnames) when JAXDL_DATA_DIR
has it, else random data of the same shapes.

JAX exposes one CPU device per core (--cpu_devices), and the vmapped sweep shards its members over
them as `jaxdl.sweep.run` does (row `jaxdl`; `jaxdl_one_device` is the same sweep on one device).
The other workloads run on one device. `--threads N` runs the whole process on N CPUs (pin.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's jaxdl, not an installed one
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import references as ref  # noqa: E402
from pin import pin_threads  # noqa: E402
from jaxdl import optimizers, samplers, sweep, train  # noqa: E402
from jaxdl.data import cifar10, mnist, names as names_lib  # noqa: E402
from jaxdl.data.download import DataError  # noqa: E402
from jaxdl.layers import losses  # noqa: E402
from jaxdl.models import cnn, mlp, names as names_model  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def setup(threads: int = 0, cpu_devices: int = 0, precision: str = "highest") -> None:
    """Configures the process before any computation: pins it to `threads` CPUs (0: leave it; this
    may restart the process, see pin.py), gives JAX `cpu_devices` CPU devices (0: one per core, or
    one with --threads) and sets JAX's default matmul precision ("default" leaves it)."""
    if threads:
        pin_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
    jax.config.update("jax_num_cpu_devices",
                      cpu_devices or (1 if threads else os.cpu_count() or 1))
    if precision != "default":
        jax.config.update("jax_default_matmul_precision", precision)


def numpy_blas() -> str:
    """The OpenBLAS kernel numpy runs (its core name, read from the loaded library) and the
    environment variables that override it: where OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set,
    numpy may run slower kernels than it would pick itself (time with them unset)."""
    import ctypes
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # loads the BLAS
    core = "unknown"
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f
                           if "openblas" in line.lower() and ".so" in line})
        for path in libs:
            lib = ctypes.CDLL(path)
            for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename64_",
                           "scipy_openblas_get_corename", "openblas_get_corename"):
                fn = getattr(lib, symbol, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    core = f"OpenBLAS {fn().decode()} kernels"
                    break
    except OSError:  # no /proc (not Linux): say so rather than guess
        pass
    overrides = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                 if k in os.environ]
    return core + (f" (set by {', '.join(overrides)})" if overrides else "")


def real_or_random(name, load, shape, k, n, seed=0):
    """(X, Y, source): load() -> (X, Y) and source `name` when the data is found, else n
    standard-normal samples of `shape` with random one-hot labels over k classes ("random")."""
    try:
        return (*load(), name)
    except DataError:
        rng = np.random.default_rng(seed)
        return (rng.normal(size=(n, *shape)).astype(np.float32),
                np.eye(k, dtype=np.float32)[rng.integers(0, k, n)], "random")


def data(n=10000):
    """Standardised CIFAR-10 batch 1 (the A1 split's training set), else random data."""
    def load():
        s = cifar10.load_splits("a1", os.environ.get("JAXDL_DATA_DIR"))["train"]
        return s.X[:n], s.Y[:n]
    return real_or_random("cifar10", load, (3072,), 10, n)


def batch_indices(n, steps, batch, seed=0):
    """A reshuffle every epoch, cut into batches: the same sequence for every implementation."""
    rng = np.random.default_rng(seed)
    per_epoch = n // batch
    out = [rng.permutation(n)[: per_epoch * batch].reshape(per_epoch, batch)
           for _ in range(-(-steps // per_epoch))]
    return np.concatenate(out)[:steps]


def matmul_ceiling(n=2048, reps=10):
    """GFLOP/s of a jitted float32 n x n matmul (the machine's practical ceiling)."""
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f(a).block_until_ready()
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


class JaxRun:
    """jaxdl's training loop for one workload: a jitted lax.scan of trainer.step over the index
    sequence, compiled once with `options` (the training programs' compiler options; timed apart);
    `run(idx)` returns per-step costs. With vmapped_hp and a mesh, the members are sharded over the
    mesh's devices (jaxdl.sweep.run's layout)."""

    def __init__(self, trainer, hp, params, X, Y, vmapped_hp=False, mesh=None):
        self.trainer, self.hp = trainer, hp
        self.options = train.compiler_options()
        ts = trainer.init(jax.tree.map(lambda v: v[0], hp) if vmapped_hp else hp,
                          jax.random.PRNGKey(0), X.shape[1:])
        self.ts = ts.replace(params=jax.tree.map(jnp.asarray, params))
        self.X, self.Y = jnp.asarray(X), jnp.asarray(Y)
        self.replicated = None

        def run(ts, hp, X, Y, idx):
            def body(ts, rows):
                return trainer.step(ts, hp, X[rows], Y[rows])
            return jax.lax.scan(body, ts, idx)[1]
        if vmapped_hp:
            run = jax.vmap(run, in_axes=(None, 0, None, None, None))
        if mesh is None:
            self.fn = jax.jit(run)
        else:
            member, self.replicated = sweep.member_shardings(mesh)
            self.hp = jax.device_put(hp, member)
            self.ts, self.X, self.Y = jax.device_put((self.ts, self.X, self.Y), self.replicated)
            self.fn = jax.jit(run, out_shardings=member)
        self.compiled = {}

    def _idx(self, idx):
        return jax.device_put(jnp.asarray(idx), self.replicated)

    def compile(self, idx):
        """Compiles the loop for idx's shape (once); returns the seconds it took."""
        t0 = time.perf_counter()
        if idx.shape not in self.compiled:
            self.compiled[idx.shape] = self.fn.lower(self.ts, self.hp, self.X, self.Y,
                                                     self._idx(idx)).compile(self.options)
        return time.perf_counter() - t0

    def __call__(self, idx):
        self.compile(idx)
        return np.asarray(self.compiled[idx.shape](self.ts, self.hp, self.X, self.Y,
                                                   self._idx(idx)))


def implementations(jx, numpy_fn, torch_fn):
    """{"jaxdl": jx, "numpy": numpy_fn, "pytorch": torch_fn} (PyTorch only when installed)."""
    impls = {"jaxdl": jx, "numpy": numpy_fn}
    if torch is not None:
        impls["pytorch"] = torch_fn
    return impls


def a1_workload(X, Y, grad):
    steps, batch, lam, eta = 4000, 100, 0.1, 0.001
    model = mlp.linear(10, 0.01)
    params, _ = model.init(jax.random.PRNGKey(0), (X.shape[1],))
    params_np = jax.tree.map(np.asarray, params)
    trainer = train.make_trainer(model, losses.softmax_cross_entropy,
                                 lambda hp: optax.sgd(hp["eta"]),
                                 samplers.shuffled_batches(batch, len(X)), grad=grad)
    jx = JaxRun(trainer, train.as_hparams(lam=lam, eta=eta), params, X, Y)
    impls = implementations(jx, lambda idx: ref.np_linear(params_np, X, Y, idx, lam, eta),
                            lambda idx: ref.torch_linear(params_np, X, Y, idx, lam, eta))
    flops_per_step = 4 * batch * X.shape[1] * 10  # forward s = XW^T, gradient G^T X
    return impls, batch_indices(len(X), steps, batch), flops_per_step * steps


def mlp_parts(X, batch, grad, hidden=(50, 50)):
    """The 3-layer BN MLP: (params, its cyclical-SGD trainer, matmul FLOPs of one step)."""
    model = mlp.mlp(hidden, 10, bn=True)
    params, _ = model.init(jax.random.PRNGKey(0), (X.shape[1],))
    trainer = train.make_trainer(model, losses.softmax_cross_entropy, optimizers.cyclical_sgd,
                                 samplers.shuffled_batches(batch, len(X)), grad=grad)
    widths = [X.shape[1], *hidden, 10]
    fwd = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    back_dx = sum(a * b for a, b in zip(widths[1:-1], widths[2:]))  # dX of all but layer 1
    return params, trainer, 2 * batch * (2 * fwd + back_dx)


def mlp_workload(X, Y, grad):
    steps, batch, lam, n_s = 900, 100, 0.005, 450.0
    params, trainer, step_flops = mlp_parts(X, batch, grad)
    params_np = jax.tree.map(np.asarray, params)
    hp = train.as_hparams(lam=lam, eta_min=1e-5, eta_max=1e-1, n_s=n_s)
    jx = JaxRun(trainer, hp, params, X, Y)
    impls = implementations(
        jx, lambda idx: ref.np_mlp_bn(params_np, X, Y, idx, lam, 1e-5, 1e-1, n_s),
        lambda idx: ref.torch_mlp_bn(params_np, X, Y, idx, lam, 1e-5, 1e-1, n_s))
    impls.update(nnx_peers(ref.nnx_mlp_bn(params_np), optimizers.cyclical_sgd(hp), lam, X, Y))
    return impls, batch_indices(len(X), steps, batch), step_flops * steps


def nnx_peers(module_cls, tx, lam, X, Y, forms=("loop", "scan")) -> dict:
    """The Flax NNX rows: a jitted step from a Python loop, and the loop as one lax.scan."""
    return {f"flax_nnx_{form}": ref.NnxPeer(module_cls, tx, lam, X, Y, form) for form in forms}


def sweep_workload(X, Y, grad):
    steps, batch, n_s = 450, 100, 225.0
    lams = np.logspace(-5, -1, 8).astype(np.float32)
    params, trainer, step_flops = mlp_parts(X, batch, grad)
    params_np = jax.tree.map(np.asarray, params)
    hp = {"lam": jnp.asarray(lams), "eta_min": jnp.full(8, 1e-5), "eta_max": jnp.full(8, 1e-1),
          "n_s": jnp.full(8, n_s)}
    one_device = JaxRun(trainer, hp, params, X, Y, vmapped_hp=True)
    one = JaxRun(trainer, jax.tree.map(lambda v: v[0], hp), params, X, Y)
    n_dev = math.gcd(len(lams), len(jax.devices()))  # the members split evenly
    # on a CPU, one device per core (--cpu_devices): the members split over the cores
    sharded = (JaxRun(trainer, hp, params, X, Y, vmapped_hp=True,
                      mesh=sweep.member_mesh(jax.devices()[:n_dev])) if n_dev > 1 else None)

    def sequential(idx):
        out = []
        for i in range(8):
            one.hp = jax.tree.map(lambda v: v[i], hp)
            out.append(one(idx))
        return np.stack(out)
    sequential.compile = one.compile

    def each_lam(reference):
        return lambda idx: np.stack([reference(params_np, X, Y, idx, float(lam), 1e-5, 1e-1, n_s)
                                     for lam in lams])

    impls = {"jaxdl": sharded or one_device,
             **({"jaxdl_one_device": one_device} if sharded else {}),
             "jaxdl_sequential": sequential, "numpy": each_lam(ref.np_mlp_bn)}
    if torch is not None:
        impls["pytorch"] = each_lam(ref.torch_mlp_bn)
    return impls, batch_indices(len(X), steps, batch), 8 * step_flops * steps


def names_data():
    """Training surnames as character indices (real data when found, else random indices),
    their labels, and the alphabet size d."""
    try:
        ds = names_lib.load(os.environ.get("JAXDL_DATA_DIR"))
        ind = names_lib.to_indices([ds.names[i] for i in ds.train_idx], ds.alphabet)
        return ind, np.asarray(ds.y[ds.train_idx]), ds.alphabet.d
    except DataError:
        rng = np.random.default_rng(0)
        return rng.integers(0, 29, (19798, 19)).astype(np.int32), rng.integers(0, 18, 19798), 28


def names_workload(X, Y, grad):
    steps, batch, eta = 985, 100, 0.001
    ind, y, d = names_data()
    cfg = names_model.Config(n1=5, k1=5, n2=5, k2=5, d=d, n_len=ind.shape[1])
    model = names_model.build(cfg)
    params, _ = model.init(jax.random.PRNGKey(0), names_model.in_shape(cfg))
    params_np = jax.tree.map(np.asarray, params)
    Yn = np.eye(18, dtype=np.float32)[y]
    onehot = names_lib.one_hot(ind, d)  # the references' input; index d = past the name's end
    trainer = train.make_trainer(model, losses.softmax_cross_entropy,
                                 lambda hp: optax.sgd(hp["eta"], momentum=0.9),
                                 samplers.shuffled_batches(batch, len(ind)), grad=grad)
    jx = JaxRun(trainer, train.as_hparams(lam=0.0, eta=eta), params,
                names_model.encode(ind, cfg), Yn)
    impls = implementations(jx, lambda idx: ref.np_names_convnet(params_np, onehot, Yn, idx, eta),
                            lambda idx: ref.torch_names_convnet(params_np, onehot, Yn, idx, eta))
    J1, J2 = cfg.n_len - cfg.k1 + 1, cfg.n_len - cfg.k1 - cfg.k2 + 2
    # the FLOPs of the dense formulation (layer 1 as patches x filters, as numpy computes it)
    fwd = J1 * cfg.k1 * d * cfg.n1 + J2 * cfg.k2 * cfg.n1 * cfg.n2 + J2 * cfg.n2 * 18
    back_dx = J2 * cfg.k2 * cfg.n1 * cfg.n2 + J2 * cfg.n2 * 18
    return impls, batch_indices(len(ind), steps, batch), 2 * batch * (2 * fwd + back_dx) * steps


def mnist_data(n_random=10000):
    """The MNIST training split as jaxdl.data.mnist.load_splits gives it (pixels / 255 minus the
    training mean), else random images of the MNIST shape."""
    def load():
        s = mnist.load_splits(os.environ.get("JAXDL_DATA_DIR"))["train"]
        return s.X, s.Y
    return real_or_random("mnist", load, (28, 28, 1), 10, n_random)


def decay_probe(params, wd):
    """(params, wd) for the decay probe: every bias set to 0.1 and weight decay 0.5 (lr * 0.5 of
    each parameter a step: 5 % on MNIST, 2.5 % on the improved net), so that an implementation
    which decays the biases differently computes visibly other costs within the check's steps
    (with zero initial biases and the real decay the difference stays below its tolerance)."""
    return [{k: (np.full_like(v, 0.1) if k == "b" else v) for k, v in p.items()}
            for p in params], 0.5


def cnn_workload(X, Y, grad, probe=False):
    steps, batch, lr, momentum, wd = 3000, 16, 0.1, 0.9, 0.005
    Xm, Ym, source = mnist_data()
    if not probe:
        print(f"cnn data: {source} ({len(Xm)} training images)")
    model = cnn.starter("mnist")
    params, _ = model.init(jax.random.PRNGKey(0), Xm.shape[1:])
    params_np = jax.tree.map(np.asarray, params)
    if probe:
        params_np, wd = decay_probe(params_np, wd)
        params = params_np
    trainer = train.make_trainer(
        model, losses.softmax_cross_entropy,
        lambda hp: optimizers.fman45_momentum(hp["lr"], hp["momentum"], hp["weight_decay"]),
        samplers.shuffled_batches(batch, len(Xm)), grad=grad, eval_splits=())
    hp = train.as_hparams(lam=0.0, lr=lr, momentum=momentum, weight_decay=wd)
    jx = JaxRun(trainer, hp, params, Xm, Ym)
    impls = implementations(jx, lambda idx: ref.np_cnn(params_np, Xm, Ym, idx, lr, momentum, wd),
                            lambda idx: ref.torch_cnn(params_np, Xm, Ym, idx, lr, momentum, wd))
    impls.update(nnx_peers(ref.nnx_cnn(params_np, 2, (True, True)),
                           optimizers.fman45_momentum(lr, momentum, wd), 0.0, Xm, Ym))
    # multiply-adds per image of the conv layers (as im2col matmuls: 28x28 outputs of 5x5x1 -> 16,
    # 14x14 outputs of 5x5x16 -> 16) and the dense 784 -> 10; counted: forward, the weight gradients
    # of all three, the input gradients of all but the first, 2 FLOPs per multiply-add (pooling,
    # ReLU, softmax, im2col copies and the update are not counted)
    conv1, conv2, fc = 28 * 28 * 25 * 1 * 16, 14 * 14 * 25 * 16 * 16, 7 * 7 * 16 * 10
    fwd = conv1 + conv2 + fc
    back_dx = conv2 + fc  # no input gradient for the first layer
    return impls, batch_indices(len(Xm), steps, batch), 2 * batch * (2 * fwd + back_dx) * steps


def cnn_improved_workload(X, Y, grad, probe=False):
    """The improved CIFAR-10 CNN (conv 3x3 32-64-128, each ReLU + 2x2 pool, FC 10) at its real
    shapes and batch, constant learning rate, no augmentation (experiments.cnn --arch improved
    decays the rate and flips / shifts the images: neither changes the cost of a step)."""
    steps, batch, lr, momentum, wd = 200, 128, 0.05, 0.9, 5e-4
    images = jnp.asarray(cifar10.vectors_to_images(X))  # the standardised batch 1 as N x 32x32x3
    model = cnn.improved()
    params, _ = model.init(jax.random.PRNGKey(0), images.shape[1:])
    params_np = jax.tree.map(np.asarray, params)
    if probe:
        params_np, wd = decay_probe(params_np, wd)
        params = params_np
    images_np = np.asarray(images)
    trainer = train.make_trainer(
        model, losses.softmax_cross_entropy,
        lambda hp: optimizers.fman45_momentum(hp["lr"], hp["momentum"], hp["weight_decay"]),
        samplers.shuffled_batches(batch, len(images)), grad=grad, eval_splits=())
    hp = train.as_hparams(lam=0.0, lr=lr, momentum=momentum, weight_decay=wd)
    impls = {"jaxdl": JaxRun(trainer, hp, params, images, Y)}
    if torch is not None:
        impls["pytorch"] = lambda idx: ref.torch_cnn(params_np, images_np, Y, idx, lr, momentum,
                                                     wd, pad=1)
    # the NNX scan form is left out: XLA CPU keeps its autodiff convolutions in slow layouts
    # inside the loop (about 33x jaxdl's time per step here, benchmarks/NOTES.md), minutes a call
    impls.update(nnx_peers(ref.nnx_cnn(params_np, 1, (True, True, True)),
                           optimizers.fman45_momentum(lr, momentum, wd), 0.0, images, Y,
                           forms=("loop",)))
    # multiply-adds per image: 32x32 outputs of 3x3x3 -> 32, 16x16 of 3x3x32 -> 64, 8x8 of
    # 3x3x64 -> 128, dense 4x4x128 -> 10; forward, all weight gradients and the input gradients
    # of all but the first layer, 2 FLOPs each (as cnn_workload)
    conv1, conv2, conv3 = 32 * 32 * 9 * 3 * 32, 16 * 16 * 9 * 32 * 64, 8 * 8 * 9 * 64 * 128
    fc = 4 * 4 * 128 * 10
    fwd = conv1 + conv2 + conv3 + fc
    back_dx = conv2 + conv3 + fc
    return impls, batch_indices(len(images), steps, batch), 2 * batch * (2 * fwd + back_dx) * steps


# name: (title, build(X, Y, grad) -> (implementations, minibatch index sequence, matmul FLOPs))
WORKLOADS = {"a1": ("A1 linear classifier, 4000 steps, batch 100, 3072 -> 10", a1_workload),
             "mlp": ("A3 3-layer BN MLP 3072-50-50-10, 900 steps, batch 100, cyclical eta",
                     mlp_workload),
             "names": ("surname ConvNet n1 = n2 = 5, k1 = k2 = 5, 985 updates, batch 100, momentum",
                       names_workload),
             "sweep": ("8 lambda x 450 steps of the 3-layer BN MLP (vmapped vs one after another)",
                       sweep_workload),
             "cnn": ("MNIST starter CNN (two 5x5x16 conv + pool, dense 10), 3000 iterations, "
                     "batch 16, FMAN45 momentum", cnn_workload),
             "cnn_improved": ("improved CIFAR-10 CNN (3x3 conv 32-64-128, each + pool, dense 10), "
                              "200 iterations, batch 128, FMAN45 momentum, no augmentation",
                              cnn_improved_workload)}


# workloads whose optimiser decays every parameter: their check also runs under decay_probe
PROBED = ("cnn", "cnn_improved")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0,
                        help="run the process on this many CPUs (0: each library's default)")
    parser.add_argument("--only", default="", help=f"comma-separated workloads of {list(WORKLOADS)}")
    parser.add_argument("--check_steps", type=int, default=20)
    parser.add_argument("--grad", default="manual", choices=("manual", "autodiff"),
                        help="jaxdl's gradients: the hand-written backward or jax.grad")
    parser.add_argument("--precision", default="highest",
                        help="jax_default_matmul_precision: 'highest' keeps float32 matmuls and "
                             "convs float32 on GPUs too (their default, TF32, fails the "
                             "same-function check: on an H100 with real CIFAR-10 the MLP's, the "
                             "sweep's and the CNN's); 'default' times the TF32 path as far as the "
                             "check lets it")
    parser.add_argument("--cpu_devices", type=int, default=0,
                        help="CPU devices JAX exposes (0: one per core, or 1 with --threads); the "
                             "vmapped sweep shards its members over them as jaxdl.sweep.run does, "
                             "the other workloads use one")
    parser.add_argument("--out", default="", help="JSON file for the report")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.check_steps < 1 or args.threads < 0 or args.cpu_devices < 0:
        parser.error("--repeats and --check_steps must be >= 1, --threads and --cpu_devices >= 0")
    unknown = set(w for w in args.only.split(",") if w) - set(WORKLOADS)
    if unknown:
        parser.error(f"--only: unknown workloads {sorted(unknown)}; expected {list(WORKLOADS)}")
    return args


def assert_same_function(name, impls, idx):
    """Every implementation's per-step costs on idx equal jaxdl's to float32 tolerance."""
    costs = {k: np.asarray(f(idx)) for k, f in impls.items()}
    for k, c in costs.items():
        np.testing.assert_allclose(c, costs["jaxdl"], rtol=2e-4, atol=2e-5,
                                   err_msg=f"{name}: {k} computes another function")


def time_workload(name, X, Y, args, ceiling):
    """Checks one workload's implementations against jaxdl, times them; prints and returns its
    report row."""
    title, build = WORKLOADS[name]
    impls, idx, flops = build(X, Y, args.grad)
    check = idx[: args.check_steps]
    assert_same_function(name, impls, check)
    if name in PROBED:  # the same parameter decay, biases included (decay_probe)
        probe_impls = build(X, Y, args.grad, probe=True)[0]
        assert_same_function(f"{name} (decay probe)", probe_impls, check)
        del probe_impls
    compile_s = impls["jaxdl"].compile(idx)
    for f in impls.values():  # the other jaxdl loops too, so no timed call compiles
        getattr(f, "compile", lambda idx: None)(idx)
    times = {k: [] for k in impls}
    for _ in range(args.repeats):
        for k, f in impls.items():
            t0 = time.perf_counter()
            f(idx)
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    row = {"title": title, "gflop": flops / 1e9, "jaxdl_compile_seconds": compile_s,
           "seconds": med, "all_seconds": times,
           "gflops": {k: flops / v / 1e9 for k, v in med.items()},
           "fraction_of_ceiling": {k: flops / v / 1e9 / ceiling for k, v in med.items()},
           "floor_seconds": flops / 1e9 / ceiling,
           "speedup_of_jaxdl": {k: v / med["jaxdl"] for k, v in med.items() if k != "jaxdl"},
           "check": f"per-step costs of the first {len(check)} steps agree (rtol 2e-4)"
                    + (", also under decay_probe" if name in PROBED else "")}
    print(f"\n{title}  ({flops / 1e9:.1f} GFLOP, floor {row['floor_seconds']:.2f} s; "
          f"jaxdl compile {compile_s:.2f} s)")
    for k in impls:
        spread = f" [{min(times[k]):.3f}-{max(times[k]):.3f}]" if len(times[k]) > 1 else ""
        print(f"  {k:<18} {med[k]:8.3f} s{spread}  {row['gflops'][k]:6.1f} GFLOP/s "
              f"({100 * row['fraction_of_ceiling'][k]:4.1f} % of ceiling)"
              + (f"  jaxdl is {row['speedup_of_jaxdl'][k]:.1f}x faster" if k != "jaxdl" else ""))
    return row


def main(argv=None):
    args = parse_args(argv)
    setup(args.threads, args.cpu_devices, args.precision)
    X, Y, source = data()
    ceiling = matmul_ceiling()
    print(f"data: {source}; jax {jax.__version__} on {jax.default_backend()}; threads: "
          f"{args.threads or 'default'}; grad {args.grad}; matmul precision {args.precision}; "
          f"float32 matmul ceiling {ceiling:.0f} GFLOP/s; {len(jax.devices())} "
          f"{jax.default_backend()} device(s); numpy: {numpy_blas()}")
    if torch is None:
        print("PyTorch not installed: its column is skipped (pip install torch==2.13.0)")
    report = {"data": source, "jax_version": jax.__version__, "backend": jax.default_backend(),
              "threads": args.threads or "default", "grad": args.grad,
              "matmul_precision": args.precision, "ceiling_gflops": ceiling,
              "numpy_blas": numpy_blas(),
              "devices": len(jax.devices()), "torch_version": getattr(torch, "__version__", None),
              "workloads": {}}
    for name in [w for w in args.only.split(",") if w] or list(WORKLOADS):
        report["workloads"][name] = time_workload(name, X, Y, args, ceiling)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
