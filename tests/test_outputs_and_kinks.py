"""Outputs a team can share (file modes, no global matplotlib backend) and gradients at ReLU kinks."""

import os
import stat
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import model as model_lib
from jaxdl import results
from jaxdl.layers import conv2d, dense, flatten, relu, softmax_cross_entropy

from conftest import ROOT


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        results.write_json(tmp_path / "a.json", {"x": 1})
        results.write_csv(tmp_path / "b.csv", [{"x": 1}])
        os.umask(0o027)
        results.atomic_write_text(tmp_path / "c.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "c.txt").stat().st_mode) == 0o640


def test_plots_leave_the_global_backend_alone(tmp_path):
    """A notebook user's backend survives importing jaxdl.plots and drawing a figure."""
    code = ("import matplotlib; matplotlib.use('svg'); from jaxdl import plots; "
            f"plots.curves([{{'epoch': 0, 'c': 1.0}}, {{'epoch': 1, 'c': 0.5}}], ['c'], "
            f"{str(tmp_path / 'c.png')!r}); print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "svg"
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def _manual_and_autodiff(model, X, n_classes):
    params, state = model.init(jax.random.PRNGKey(0), X.shape[1:])
    Y = jax.nn.one_hot(jnp.arange(X.shape[0]) % n_classes, n_classes)
    grads = [model_lib.value_and_grad(model, softmax_cross_entropy, kind)(
        params, state, X, Y, jnp.float32(0.0))[1] for kind in ("manual", "autodiff")]
    return params, grads


def test_relu_at_exactly_zero_has_the_same_subgradient_both_ways():
    """dense(1) with zero bias on X = 0 puts the ReLU input at exactly 0: the hand-written
    backward passes 0 there, and so must jax.grad (ReLU'(0) = 0)."""
    model = model_lib.sequential([dense(1), relu(), dense(2)])
    params, (manual, autodiff) = _manual_and_autodiff(model, jnp.zeros((3, 4)), 2)
    chex.assert_trees_all_close(manual, autodiff, rtol=1e-6, atol=1e-7)
    assert not np.any(np.asarray(manual[0]["b"]))  # no gradient flows back through the kink


def test_padded_conv_corners_at_zero_have_the_same_subgradient_both_ways():
    """conv 3x3 with padding 3 and zero bias: the corner windows see only padding, so their ReLU
    inputs are exactly 0."""
    model = model_lib.sequential([conv2d(2, 3, pad=3), relu(), flatten(), dense(3)])
    X = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 4, 1))
    _, (manual, autodiff) = _manual_and_autodiff(model, X, 3)
    chex.assert_trees_all_close(manual, autodiff, rtol=1e-5, atol=1e-6)
