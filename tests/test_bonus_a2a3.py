"""A2/A3 bonus pieces: skip connections and BN after the ReLU (float64 gradient checks), PreciseBN,
snapshot ensembles and the LR range test, on small synthetic problems."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.models import mlp
from jaxdl import ensemble, gradcheck, lr_range, precise_bn
from jaxdl import model as model_lib
from jaxdl import samplers, train
from jaxdl.layers import losses

LOSS = losses.softmax_cross_entropy


def _problem(model, d=10, n=6, k=10, seed=0):
    return gradcheck.random_problem(model, (d,), n, k, seed)[:4]


def test_skip_mlp_gradients_float64(x64):
    """The plain (skip=False) net adds no new layer; its table: gradcheck --model skip."""
    model = mlp.skip_mlp(8, 2, 10)
    params, state, X, Y = _problem(model)
    report = gradcheck.check_model(model, LOSS, params, state, X, Y, 0.01, methods=("centred",))
    assert set(report) == {"W1", "gamma1", "beta1", "W2", "W3", "gamma3", "beta3", "W4", "W5",
                           "gamma5", "beta5", "W6", "b6"}
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-9, (name, row)
        assert row["manual_vs_centred"] <= 1e-6, (name, row)


def test_skip_block_computes_the_sheets_formula():
    """Layers fork..merge of a block give s = W_{l+1} relu(W_l x) + x (DD2424 Assignment 3's
    bonus: skip connections)."""
    model = mlp.skip_mlp(6, 1, 3)
    params, state, X, _ = _problem(model, d=6, n=5, k=3)
    x = X
    for i in range(3):  # input layer: dense, BN, relu
        x, _, _ = model.layers[i].forward(params[i], state[i], x, train=True)
    y = x
    for i in range(3, 8):  # fork, branch(dense), branch(relu), branch(dense), merge
        y, _, _ = model.layers[i].forward(params[i], state[i], y, train=True)
    expected = jnp.maximum(x @ params[4]["W"].T, 0) @ params[6]["W"].T + x
    chex.assert_trees_all_close(y, expected, rtol=1e-5, atol=1e-6)


def test_bn_after_relu_gradients_float64(x64):
    model = mlp.mlp_bn_after_relu([12, 8], 10)
    params, state, X, Y = _problem(model)
    report = gradcheck.check_model(model, LOSS, params, state, X, Y, 0.01,
                                   methods=("centred", "smooth"), count_kinks=False)
    assert set(report) == {"W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3",
                           "b3"}
    for name, row in report.items():
        assert row["manual_vs_autodiff"] <= 1e-9, (name, row)
        assert row["manual_vs_centred"] <= 1e-6, (name, row)
        assert row["manual_vs_smooth"] <= 1e-6, name


@pytest.mark.parametrize("builder", ["skip", "bn_after"])
def test_manual_matches_autodiff_float32_jit(builder):
    model = (mlp.skip_mlp(16, 2, 10) if builder == "skip"
             else mlp.mlp_bn_after_relu([16, 16], 10, dropout_rate=0.2))
    params, state, X, Y = _problem(model, d=20, n=32)
    key = jax.random.PRNGKey(3)
    lam = jnp.float32(0.005)
    (J_m, _), g_m = jax.jit(model_lib.value_and_grad(model, LOSS, "manual"))(
        params, state, X, Y, lam, key)
    (J_a, _), g_a = jax.jit(model_lib.value_and_grad(model, LOSS, "autodiff"))(
        params, state, X, Y, lam, key)
    chex.assert_trees_all_close(J_m, J_a, rtol=1e-5)
    chex.assert_trees_all_close(g_m, g_a, rtol=1e-4, atol=1e-6)


def test_skip_mlp_rejects_width_change_on_identity_path():
    from jaxdl.layers import dense
    from jaxdl.layers.residual import branch, fork, merge
    bad = model_lib.sequential([fork(), branch(dense(5)), merge()])
    with pytest.raises(ValueError, match="skip connection"):
        bad.init(jax.random.PRNGKey(0), (4,))


def test_precise_bn_equals_full_batch_statistics():
    """Eval mode with the precise statistics of X is the train-mode pass with X as one batch."""
    for model in (mlp.mlp([16, 12], 10, bn=True), mlp.mlp_bn_after_relu([16, 12]),
                  mlp.skip_mlp(12, 2, 10)):
        params, state, X, _ = _problem(model, d=8, n=200)
        stale = jax.tree.map(lambda s: s, state)  # init state: mean 0, var 1
        precise = precise_bn.recompute(model, params, stale, X)
        eval_scores, _ = model.apply(params, precise, X, train=False)
        train_scores, _ = model.apply(params, state, X, train=True)
        chex.assert_trees_all_close(eval_scores, train_scores, rtol=1e-4, atol=1e-4)
        n_bn = sum(precise_bn.is_bn_state(s) for s in precise)
        assert n_bn >= 2


def test_ensemble_votes_and_mean_probability():
    P = jnp.array([  # 3 snapshots, 2 samples, 3 classes
        [[0.6, 0.3, 0.1], [0.4, 0.35, 0.25]],
        [[0.1, 0.5, 0.4], [0.1, 0.5, 0.4]],
        [[0.4, 0.45, 0.15], [0.2, 0.3, 0.5]],
    ])
    # sample 0: votes 0, 1, 1 -> class 1; mean prob (.367, .417, .217) -> class 1
    # sample 1: votes 0, 1, 2 tie -> broken by mean prob (.233, .383, .383)... classes 1, 2 tie
    np.testing.assert_array_equal(ensemble.majority_vote(P)[:1], [1])
    np.testing.assert_array_equal(ensemble.mean_probability(P)[:1], [1])
    P2 = P.at[2, 1].set(jnp.array([0.05, 0.9, 0.05]))  # sample 1: votes 0, 1, 1 -> 1
    np.testing.assert_array_equal(ensemble.majority_vote(P2), [1, 1])
    # a confident minority wins the mean but not the vote
    P3 = jnp.array([[[0.99, 0.01]], [[0.4, 0.6]], [[0.4, 0.6]]])
    assert int(ensemble.majority_vote(P3)[0]) == 1 and int(ensemble.mean_probability(P3)[0]) == 0


def test_ensemble_probabilities_match_model():
    model = mlp.mlp([8], 4)
    params, state, X, _ = _problem(model, d=5, n=7, k=4)
    P = ensemble.probabilities(model, [(params, state), (params, state)], X, chunk=3)
    assert P.shape == (2, 7, 4)
    chex.assert_trees_all_close(P[0], jax.nn.softmax(model.apply(params, state, X)[0], -1),
                                rtol=1e-5, atol=1e-7)  # float32, jit vs eager


def test_lr_range_schedule_endpoints():
    lin = lr_range.schedule(1e-4, 1e-1, 11, "linear")
    exp = lr_range.schedule(1e-4, 1e-1, 11, "exponential")
    np.testing.assert_allclose([lin(0), lin(5), lin(10)], [1e-4, (1e-4 + 1e-1) / 2, 1e-1],
                               rtol=1e-5)
    np.testing.assert_allclose([exp(0), exp(5), exp(10)], [1e-4, np.sqrt(1e-5), 1e-1], rtol=1e-4)


def test_lr_range_run_and_suggestion():
    key = jax.random.PRNGKey(0)
    centres = 3 * jax.random.normal(key, (3, 6))
    y = jax.random.randint(jax.random.PRNGKey(1), (400,), 0, 3)
    X = centres[y] + jax.random.normal(jax.random.PRNGKey(2), (400, 6))
    Y = jax.nn.one_hot(y, 3)
    data = {"X_train": X[:300], "Y_train": Y[:300], "X_val": X[300:], "Y_val": Y[300:]}
    trainer = train.make_trainer(mlp.mlp([8], 3), LOSS, lr_range.optimizer_fn("linear"),
                                 samplers.shuffled_batches(20, 300))
    hp = train.as_hparams(lam=0.0, eta_lo=1e-4, eta_hi=0.5, n_steps=40)
    out = lr_range.run(trainer, hp, key, data, n_chunks=8, steps_per_chunk=5, batch_size=20)
    assert out["eta"].shape == (8,) and out["cost_step"].shape == (40,)
    np.testing.assert_allclose(out["eta_step"][[0, -1]], [1e-4, 0.5], rtol=1e-5)
    assert np.all(np.diff(out["eta"]) > 0)
    assert out["val_accuracy"].max() > 0.8  # separable blobs are learnt during the test
    lo, hi = lr_range.suggest(out)
    assert 1e-4 <= lo <= hi <= 0.5
    synthetic = {"eta": np.array([1, 2, 3, 4, 5.]), "val_accuracy": np.array([.1, .1, .3, .5, .2])}
    assert lr_range.suggest(synthetic) == (3.0, 4.0)
