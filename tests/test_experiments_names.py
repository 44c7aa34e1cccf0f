"""The surname ConvNet study and the prediction command end to end through their real entry
points, on a tiny synthetic names folder in the course's format."""

import json

import jax
import numpy as np
import pytest

from conftest import run_module
from jaxdl.data import names
from jaxdl.models import names as names_model


_run = run_module


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    names.write_fake_dataset(folder)
    return folder


def test_study_then_predict(fake_dir, tmp_path):
    out = tmp_path / "names"
    proc = _run(["experiments.names_convnet", f"--workdir={out}", f"--data_dir={fake_dir}",
                 "--n1=4", "--n2=4", "--k1=3", "--k2=2", "--n_batch=10", "--eta=0.05",
                 "--n_updates=60", "--eval_every=20", "--balance=undersample,weighted"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["experiment"] == "names_convnet" and res["flags"]["n_updates"] == 60
    assert [r["config"]["balance"] for r in res["runs"]] == ["undersample", "weighted"]
    for run in res["runs"]:
        m = run["metrics"]
        assert m["n_updates"] == 60 and 0 <= m["val_accuracy"] <= 1
        assert set(m["per_class_val_accuracy"]) == {"Lang1", "Lang2", "Lang3"}
        assert sum(map(sum, m["val_confusion"])) == 9
        confusions = json.loads((out / f"confusion_{run['name']}.json").read_text())
        assert [c["step"] for c in confusions] == [20, 40, 60]
        for prefix in ("curves", "confusion"):
            assert (out / f"{prefix}_{run['name']}.png").stat().st_size > 100
        assert (out / f"final_{run['name']}.msgpack").is_file()
    # the undersampled run: K n_min = 3 * 9 = 27 names -> 2 updates per epoch, 10 epochs per eval
    assert res["runs"][0]["config"]["updates_per_eval"] == 20

    proc = _run(["experiments.names_predict", f"--workdir={out}", "--checkpoint=final",
                 "Petrov", "", "Müllerson"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-2].startswith("Petrov: Lang") and lines[-1].startswith("Müllerson: Lang")
    rows = [line.split() for line in lines if line.startswith("Lang")]
    assert len(rows) == 3  # one probability row per class, each column sums to one
    for col in (1, 2):
        assert sum(float(r[col]) for r in rows) == pytest.approx(1.0, abs=2e-3)
    assert "'Müllerson': transliterated to 'mullerson'" in proc.stderr  # ü -> u, reported
    assert "'': nothing left to encode; skipped" in proc.stderr  # the empty name only
    # the printed numbers are softmax of the checkpoint's model on the encoded names (to .3e)
    used = next(line for line in lines if line.startswith("checkpoint: "))
    net = names_model.restore(out / used.removeprefix("checkpoint: "))
    indices, _, _ = names.encode_new(["Petrov", "Müllerson"], net.alphabet)
    scores, _ = net.model.apply(net.params, net.state, names_model.encode(indices, net.cfg))
    printed = {r[0]: [float(v) for v in r[1:]] for r in rows}
    assert list(printed) == net.class_names
    np.testing.assert_allclose(np.array(list(printed.values())).T, jax.nn.softmax(scores, -1),
                               rtol=5.01e-4, atol=0)


def test_bad_flags_and_missing_data_are_one_line(fake_dir, tmp_path):
    proc = _run(["experiments.names_convnet", f"--workdir={tmp_path}", f"--data_dir={fake_dir}",
                 "--balance=none,oversample"])
    assert proc.returncode == 2 and "--balance" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run(["experiments.names_convnet", f"--workdir={tmp_path}",
                 f"--data_dir={tmp_path / 'empty'}"])
    assert proc.returncode == 2 and "ascii_names.txt" in proc.stderr
    assert "Traceback" not in proc.stderr
