"""train.make_predictor: chunked eval-mode predictions equal the unchunked ones (float32)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import train
from jaxdl.models import mlp


@pytest.fixture(scope="module")
def problem():
    model = mlp.mlp([8], 4, bn=True)  # batch norm: eval mode must use the running statistics
    params, state = model.init(jax.random.PRNGKey(0), (5,))
    X = jax.random.normal(jax.random.PRNGKey(1), (11, 5))
    return model, params, state, X


@pytest.mark.parametrize("n,chunk", [(11, 4), (8, 4), (11, 20), (11, 11), (11, 1)])
def test_chunked_classes_equal_unchunked_argmax(problem, n, chunk):
    model, params, state, X = problem
    expected = np.argmax(np.asarray(model.apply(params, state, X[:n], train=False)[0]), -1)
    predict = train.make_predictor(model, chunk=chunk)
    got = np.asarray(predict(params, state, X[:n]))
    assert got.shape == (n,) and got.dtype.kind == "i"
    np.testing.assert_array_equal(got, expected)


def test_chunked_probabilities_equal_softmax(problem):
    model, params, state, X = problem
    P = train.make_predictor(model, chunk=4, output="probabilities")(params, state, X)
    expected = jax.nn.softmax(model.apply(params, state, X, train=False)[0], -1)
    assert P.shape == (11, 4)
    np.testing.assert_allclose(np.asarray(P), np.asarray(expected), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(jnp.sum(P, -1)), 1.0, rtol=1e-5)


def test_bad_arguments_are_rejected(problem):
    with pytest.raises(ValueError, match="output"):
        train.make_predictor(problem[0], output="scores")
    with pytest.raises(ValueError, match="chunk"):
        train.make_predictor(problem[0], chunk=0)
