"""jaxdl.gradcheck.check_model: which references each kind of model gets, and the one entry
point, python -m experiments.gradcheck, end to end on a tiny BN MLP."""

import json

import pytest

from conftest import run_module
from jaxdl import gradcheck
from jaxdl import model as model_lib
from jaxdl.layers import conv2d, dense, flatten, losses, maxpool, relu
from jaxdl.models import cnn, mlp

CONV_RELU_POOL = model_lib.sequential([conv2d(2, 3, pad=1), relu(), maxpool(2), flatten(),
                                       dense(4)])


@pytest.mark.parametrize("model,kinked", [
    (mlp.linear(), False),
    (mlp.mlp([4], bn=True), True),
    (mlp.mlp_bn_after_relu([4]), True),
    (mlp.skip_mlp(3, 1), False),  # a skip-connection branch hides its ReLU from `frozen`
    (mlp.skip_mlp(3, 1, skip=False), True),
    (cnn.starter("mnist"), True),
])
def test_has_kinks(model, kinked):
    assert gradcheck.kinks.has_kinks(model) == kinked


@pytest.mark.parametrize("model,shape,kinked", [(mlp.linear(4), (3,), False),
                                                (CONV_RELU_POOL, (4, 4, 1), True)],
                         ids=["linear", "conv_relu_pool"])
def test_check_model_adds_the_kink_free_reference_where_kinks_exist(x64, model, shape, kinked):
    params, state, X, Y, key = gradcheck.random_problem(model, shape, 3, 4)
    report = gradcheck.check_model(model, losses.softmax_cross_entropy, params, state, X, Y,
                                   0.01, key=key, methods=("centred", "smooth"))
    assert set(report) == set(model_lib.param_names(params))
    extra = {"manual_vs_smooth", "kink_entries", "min_abs_gradient"}
    for row in report.values():
        assert extra & set(row) == (extra if kinked else set())
        assert row["manual_vs_autodiff"] <= 1e-9
        assert row["manual_vs_centred"] <= 1e-6
        assert row.get("manual_vs_smooth", 0.0) <= 1e-6


def test_check_model_rejects_unknown_methods():
    with pytest.raises(ValueError, match="backward"):
        gradcheck.check_model(mlp.linear(), losses.softmax_cross_entropy, [], [], None, None,
                              0.0, methods=("backward",))


def test_entry_point_end_to_end(tmp_path):
    proc = run_module(["experiments.gradcheck", "--model=mlp", "--hidden=4", "--bn", "--dim=3",
                       "--batch_sizes=3", "--lams=0.01", f"--workdir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "kink_entries" in proc.stdout and "worst: manual vs smooth" in proc.stdout
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["flags"]["model"] == "mlp" and res["flags"]["hidden"] == [4]
    assert [r["name"] for r in res["runs"]] == ["mlp_n3_lam0.01"]
    for run in res["runs"]:
        assert set(run["per_parameter"]) == {"W1", "gamma1", "beta1", "W2", "b2"}
        assert run["metrics"]["max_rel_error_manual_vs_autodiff"] <= 1e-9
        assert run["metrics"]["max_rel_error_manual_vs_smooth"] <= 1e-6
