"""New surnames with letters outside the course's alphabet are transliterated, not mangled."""

import numpy as np
import pytest

from jaxdl.data import names

ALPHABET = names.Alphabet(" 'abcdefghijklmnopqrstuvwxyz", 19)


@pytest.mark.parametrize("raw, expected", [
    ("Núñez", "nunez"), ("Dvořák", "dvorak"), ("Müller", "muller"), ("Garcia-Lopez", "garcia lopez"),
    ("Straße", "strasse"), ("Øster", "oster"), ("Łukasz", "lukasz"), ("Ærø", "aero")])
def test_letters_outside_the_alphabet_are_transliterated_and_noted(raw, expected):
    text, notes = names.clean_name(raw, ALPHABET)
    assert text == expected
    assert notes == [f"{raw!r}: transliterated to {expected!r}"]


def test_ascii_names_pass_unchanged_and_other_characters_are_still_dropped():
    assert names.clean_name("O'Neil", ALPHABET) == ("o'neil", [])
    text, notes = names.clean_name("Smith3", ALPHABET)
    assert text == "smith" and len(notes) == 1 and "'3'" in notes[0]
    with pytest.raises(ValueError, match="'3'"):
        names.clean_name("Smith3", ALPHABET, unknown="error")


def test_empty_names_are_skipped_with_a_note_and_the_others_encoded():
    indices, kept, notes = names.encode_new(["Nunez", "", "  ", "Smith"], ALPHABET)
    assert kept == [0, 3] and indices.shape == (2, ALPHABET.n_len)
    assert notes == ["'': nothing left to encode; skipped", "'  ': nothing left to encode; skipped"]
    np.testing.assert_array_equal(indices, names.encode_new(["Nunez", "Smith"], ALPHABET)[0])
