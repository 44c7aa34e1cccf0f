"""Surname data: parsing, the column-major one-hot encoding, new names, imbalance samplers,
checkpoints."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import real_data_dir
from jaxdl.models import names as names_model
from jaxdl import checkpoint, results, samplers, train
from jaxdl.data import names
from jaxdl.data.download import DataError
from jaxdl.layers import losses

TEXT = "Khoury 1\nSee  2\nNovy Novy 3\nTer Avest 4\nO'Neal 9\n"


def test_parse_multi_word_names_and_1_based_labels():
    parsed, y = names.parse_names(TEXT)
    assert parsed == ["khoury", "see", "novy novy", "ter avest", "o'neal"]
    np.testing.assert_array_equal(y, [0, 1, 2, 3, 8])
    with pytest.raises(DataError, match="line 2"):
        names.parse_names("Khoury 1\nKhoury\n")


def test_one_hot_vectorisation_is_matlab_column_major():
    parsed, _ = names.parse_names(TEXT)
    alphabet = names.build_alphabet(parsed)
    assert alphabet.chars == " 'aehklnorstuvy" and alphabet.n_len == 9
    idx = names.to_indices(parsed, alphabet)
    X = names.one_hot(idx, alphabet.d)
    for i, name in enumerate(parsed):
        # the course's d x n_len matrix, built column by column, then X(:)
        M = np.zeros((alphabet.d, alphabet.n_len), np.float32)
        for col, ch in enumerate(name):
            M[alphabet.chars.index(ch), col] = 1
        np.testing.assert_array_equal(names.vectorise(X)[i], M.ravel(order="F"))


def test_new_names_policies():
    alphabet = names.Alphabet(" 'abcdefghijklmnopqrstuvwxyz", 19)
    idx, kept, notes = names.encode_new(["De Fenza"], alphabet)
    assert notes == [] and kept == [0] and list(idx[0, :9]) == [5, 6, 0, 7, 6, 15, 27, 2, 28]
    text, notes = names.clean_name("Mül1er", alphabet)  # ü transliterated, 1 dropped
    assert text == "muler" and "transliterated" in notes[0] and "'1'" in notes[1]
    with pytest.raises(ValueError, match="not in the alphabet"):
        names.clean_name("Mül1er", alphabet, unknown="error")
    text, notes = names.clean_name("Wolfeschlegelsteinhausen", alphabet)
    assert text == "schlegelsteinhausen" and "kept the last 19" in notes[0]
    assert names.clean_name("Wolfeschlegelsteinhausen", alphabet, truncate="first")[0] == \
        "wolfeschlegelsteinh"
    with pytest.raises(ValueError, match="nothing left"):
        names.clean_name("123", alphabet)


def test_class_weights_average_one_and_equalise_classes():
    y = np.array([0, 0, 0, 1, 2, 2])
    w = names.class_weights(y, 3)
    assert w.mean() == pytest.approx(1.0)
    assert [w[y == c].sum() for c in range(3)] == pytest.approx([2.0, 2.0, 2.0])


def test_undersampling_draws_n_min_per_class_anew_each_epoch():
    counts = np.array([50, 7, 20])
    y = jnp.asarray(np.repeat(np.arange(3), counts))
    sample = jax.jit(samplers.undersampled_batches(4, counts))
    idx1 = np.asarray(sample(jax.random.PRNGKey(0), {"y_train": y}))
    idx2 = np.asarray(sample(jax.random.PRNGKey(1), {"y_train": y}))
    assert idx1.shape == (3 * 7 // 4, 4)
    for idx in (idx1, idx2):
        assert len(set(idx.ravel())) == idx.size  # no repeats
    # without the dropped remainder every class has exactly n_min = 7 in the full balanced set
    full = samplers.undersampled_batches(21, counts)(jax.random.PRNGKey(2), {"y_train": y})
    assert np.bincount(np.asarray(y)[np.asarray(full).ravel()], minlength=3).tolist() == [7, 7, 7]
    assert set(idx1.ravel()) != set(idx2.ravel())  # a new subset each epoch


def test_fixed_step_batches_cover_each_pass_without_repeats():
    idx = np.asarray(samplers.fixed_step_batches(10, 25, 7)(jax.random.PRNGKey(0), {}))
    assert idx.shape == (7, 10)
    flat = idx.ravel()
    assert sorted(flat[:25]) == list(range(25)) and sorted(flat[25:50]) == list(range(25))


def test_compensation_sampler_schedules_each_mode():
    counts = np.array([50, 7, 20])  # K n_min = 21 -> 5 undersampled batches of 4 per epoch
    sampler, epochs, per_eval = samplers.compensation_sampler("undersample", 4, counts, 12)
    assert (epochs, per_eval) == (2, 10)  # the whole number of epochs closest to 12 updates
    y = jnp.asarray(np.repeat(np.arange(3), counts))
    assert sampler(jax.random.PRNGKey(0), {"y_train": y}).shape == (5, 4)
    assert samplers.compensation_sampler("undersample", 4, counts, 1)[1:] == (1, 5)
    for mode in ("none", "weighted"):
        sampler, epochs, per_eval = samplers.compensation_sampler(mode, 4, counts, 12)
        assert (epochs, per_eval) == (1, 12)
        assert sampler(jax.random.PRNGKey(0), {}).shape == (12, 4)
    with pytest.raises(ValueError, match="oversample"):
        samplers.compensation_sampler("oversample", 4, counts, 12)


def test_restore_and_best_run(tmp_path):
    cfg = names_model.Config(n1=3, k1=3, n2=3, k2=2, d=5, n_len=6, n_classes=3)
    model = names_model.build(cfg)
    params, state = model.init(jax.random.PRNGKey(0), names_model.in_shape(cfg))
    ts = train.TrainState(params, state, (), jax.random.PRNGKey(0), 0, 0)
    meta = {"config": dataclasses.asdict(cfg), "alphabet": " abcd", "class_names": ["a", "b", "c"]}
    checkpoint.save(tmp_path / "ckpt.msgpack", ts, meta=meta)
    net = names_model.restore(tmp_path / "ckpt.msgpack")
    assert net.cfg == cfg and net.alphabet.chars == " abcd" and net.class_names == ["a", "b", "c"]
    jax.tree.map(np.testing.assert_array_equal, net.params, params)
    checkpoint.save(tmp_path / "other.msgpack", ts, meta={**meta, "config": {
        **meta["config"], "n3": 4}})
    with pytest.raises(DataError, match="other.msgpack"):
        names_model.restore(tmp_path / "other.msgpack")
    results.write_json(tmp_path / "results.json", {"runs": [
        {"name": "x", "metrics": {"best_val_accuracy": 0.2}},
        {"name": "y", "metrics": {"best_val_accuracy": 0.4}}, {"name": "z", "metrics": {}}]})
    assert results.best_run(tmp_path / "results.json", "best_val_accuracy") == "y"
    results.write_json(tmp_path / "empty.json", {"runs": []})
    with pytest.raises(DataError, match="no runs"):
        results.best_run(tmp_path / "empty.json", "best_val_accuracy")
    with pytest.raises(DataError, match="missing.json"):
        results.best_run(tmp_path / "missing.json", "best_val_accuracy")


def test_checkpoint_round_trip(tmp_path):
    cfg = names_model.Config(n1=3, k1=3, n2=3, k2=3)
    model = names_model.build(cfg)
    trainer = train.make_trainer(model, losses.softmax_cross_entropy,
                                 lambda hp: optax.sgd(hp["eta"], momentum=0.9),
                                 samplers.shuffled_batches(2, 4))
    hp = train.as_hparams(lam=0.0, eta=0.01)
    ts = trainer.init(hp, jax.random.PRNGKey(0), names_model.in_shape(cfg))
    history = [{"step": 1.0, "val_loss": 2.5}]
    checkpoint.save(tmp_path / "ckpt.msgpack", ts, history=history, meta={"cfg": "x"})
    template = trainer.init(hp, jax.random.PRNGKey(1), names_model.in_shape(cfg))
    restored, h, meta = checkpoint.restore(tmp_path / "ckpt.msgpack", template)
    jax.tree.map(np.testing.assert_array_equal, restored, ts)
    assert h == history and meta == {"cfg": "x"}
    with pytest.raises(DataError, match="bad.msgpack"):
        (tmp_path / "bad.msgpack").write_bytes(b"not msgpack")
        checkpoint.restore(tmp_path / "bad.msgpack", template)


@pytest.mark.realdata
def test_real_names_files():
    data = names.load(real_data_dir("names"))
    assert len(data.names) == 20050 and data.alphabet.d == 28 and data.alphabet.n_len == 19
    assert data.alphabet.chars == " 'abcdefghijklmnopqrstuvwxyz"
    assert names.class_counts(data.y, 18).tolist() == [
        2000, 268, 519, 297, 3668, 277, 724, 203, 232, 709, 991, 94, 139, 74, 9384, 100, 298, 73]
    assert names.class_counts(data.y[data.val_idx], 18).tolist() == [14] * 18
    assert len(data.train_idx) == 19798 and data.class_names[14] == "Russian"
    table = names.class_table(data.y[data.train_idx], data.class_names)
    assert table[0][0] == "Russian" and table[0][2] == pytest.approx(47.33, abs=0.005)
