"""Every experiment rejects impossible flags with one line naming the flag, before any compilation
(exit status 2, no traceback), and missing data with one line naming the files."""


import pytest

from conftest import run_module


CASES = [
    ("experiments.a1_linear", ["--etas=-0.1", "--lams=0"], "--etas"),
    ("experiments.a1_linear", ["--n_batch=100000"], "--n_batch"),
    ("experiments.a1_linear", ["--lams=0,0.1", "--etas=0.1"], "--etas"),
    ("experiments.a1_bonus", ["--grid_etas=0,-1"], "--grid_etas"),
    ("experiments.a1_bonus", ["--n_val=100000"], "--n_val"),
    ("experiments.a1_bonus", ["--grid_batches=100000", "--n_val=10"], "--grid_batches"),
    ("experiments.lambda_search", ["--n_s=0"], "--n_s"),
    ("experiments.lambda_search", ["--l_min=-1", "--l_max=-5"], "--l_max"),
    ("experiments.lambda_search", ["--eta_min=0.1", "--eta_max=0.01"], "--eta_max"),
    ("experiments.lambda_search", ["--n_batch=100000", "--n_val=10"], "--n_batch"),
    ("experiments.lambda_search", ["--n_val=100000"], "--n_val"),
    # 1 cycle of 2 x 901 updates does not end at an epoch's end (140 samples / 30 = 4 per epoch)
    ("experiments.lambda_search", ["--n_val=10", "--n_batch=30", "--cycles=1", "--n_s=901"],
     "--n_s"),
    ("experiments.lambda_search", ["--model=a9"], "--model"),
    ("experiments.lambda_search", ["--cpu_devices=-1"], "--cpu_devices"),
    ("experiments.gradcheck", ["--batch_sizes=0"], "--batch_sizes"),
    ("experiments.gradcheck", ["--model=linear", "--forms=lax+lax"], "--forms"),
    ("experiments.a2_two_layer", ["--eta_min=-1"], "--eta_min"),
    ("experiments.a2_two_layer", ["--n_s=0,800"], "--n_s"),
    ("experiments.a3_kbn", ["--n_s=0"], "--n_s"),
    ("experiments.a3_kbn", ["--n_batch=100000"], "--n_batch"),
    ("experiments.names_convnet", ["--balance=oversample"], "--balance"),
    ("experiments.names_convnet", ["--eta=-0.001"], "--eta"),
    ("experiments.cnn", ["--dataset=svhn"], "--dataset"),
    ("experiments.cnn", ["--lr=-0.1"], "--lr"),
    ("experiments.reproduce", ["--only=nonsense"], "--only"),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from jaxdl.data import cifar10
    folder = tmp_path_factory.mktemp("data")
    cifar10.write_fake_dataset(folder, n_per_batch=30)
    return folder


def _run(module, args, data_dir, workdir):
    return run_module([module, f"--workdir={workdir}", f"--data_dir={data_dir}", *args])


@pytest.mark.parametrize("module,args,flag", CASES, ids=[f"{m.split('.')[1]}{a}" for m, a, _ in CASES])
def test_impossible_flags_are_rejected_by_name(module, args, flag, data_dir, tmp_path):
    proc = _run(module, args, data_dir, tmp_path)
    assert proc.returncode in (1, 2), proc.stderr[-2000:]
    assert flag in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("module", ["experiments.a1_linear", "experiments.a1_bonus",
                                    "experiments.lambda_search"])
def test_missing_data_is_one_clear_line(module, tmp_path):
    proc = _run(module, [], tmp_path / "empty", tmp_path / "out")
    assert proc.returncode == 2
    assert "cifar-10-batches-py" in proc.stderr and "Traceback" not in proc.stderr
