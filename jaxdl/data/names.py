"""DD2424 Assignment 3 surnames (the ConvNet option): loading, the one-hot encoding, and encoding
new names.

Files (the course's 20 050-name edition): `ascii_names.txt` ("Name label" per line, label 1..18,
names may contain spaces, sorted by label), `category_labels.txt` ("1 Arabic" ...) and
`Validation_Inds.txt` (1-based line numbers of the balanced validation set).

As the course's ExtractNames.m: the label is the last space-separated token, the name is the
remaining tokens joined by one space and lower-cased. The alphabet C is the sorted set of
characters of all names (d = 28: space, ', a-z); n_len is the longest name (19).

Encodings of a name of length m <= n_len:
  * indices  c (n_len,) int32: c_i = char_to_ind(name[i]) for i < m, and d (an empty column) after;
  * one-hot  X (n_len, d): row i = e_{c_i} (zero rows past the name). Its row-major flatten is the
    course's vec(X) of the d x n_len matrix, column-major (Matlab X(:)), a (d n_len) vector.
"""

from __future__ import annotations

import dataclasses
import os
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from jaxdl.data import download
from jaxdl.data.download import DataError

UNKNOWN_POLICIES = ("drop", "error")
# Letters NFKD does not decompose into an ASCII base letter and a combining mark.
_LETTERS = {"ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
            "ı": "i", "ħ": "h"}
_SEPARATORS = "-‐‑–—_"  # hyphens and dashes: the data separates a name's parts by a space


def transliterate(text: str) -> str:
    """Latin letters with accents or strokes -> their ASCII letters (NFKD, then the marks
    dropped): "núñez" -> "nunez", "dvořák" -> "dvorak", "müller" -> "muller", "straße" ->
    "strasse"; hyphens and dashes -> a space. Other characters are left as they are."""
    text = "".join(" " if c in _SEPARATORS else _LETTERS.get(c, c) for c in text)
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))
TRUNCATE_POLICIES = ("last", "first", "error")


@dataclasses.dataclass(frozen=True)
class Alphabet:
    chars: str  # the sorted alphabet C
    n_len: int  # columns of the one-hot matrix (longest training name)

    @property
    def d(self) -> int:
        return len(self.chars)

    def char_to_ind(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}


@dataclasses.dataclass(frozen=True)
class NamesData:
    names: list[str]  # all names, lower-cased, file order
    y: np.ndarray  # (N,) int32 class, 0-based
    class_names: list[str]  # K names, index = class
    val_idx: np.ndarray  # (252,) int 0-based indices of the validation names
    alphabet: Alphabet

    @property
    def train_idx(self) -> np.ndarray:
        """Every index not in the validation set, in file order (so still sorted by class)."""
        mask = np.ones(len(self.names), bool)
        mask[self.val_idx] = False
        return np.flatnonzero(mask)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def parse_names(text: str, source: str = "ascii_names.txt") -> tuple[list[str], np.ndarray]:
    """'Ter Avest 4' -> ('ter avest', 3): last token the 1-based label, the rest the name."""
    names, labels = [], []
    for line_no, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            label = int(tokens[-1])
        except ValueError:
            raise DataError(f"{source} line {line_no}: expected 'Name label', got {line!r}") from None
        if len(tokens) < 2 or label < 1:
            raise DataError(f"{source} line {line_no}: expected 'Name label' with label >= 1, "
                            f"got {line!r}")
        names.append(" ".join(tokens[:-1]).lower())
        labels.append(label - 1)
    if not names:
        raise DataError(f"{source} holds no names")
    return names, np.asarray(labels, np.int32)


def parse_categories(text: str, source: str = "category_labels.txt") -> list[str]:
    """'1 Arabic\\n2 Chinese ...' -> ['Arabic', 'Chinese', ...] (checks the numbering is 1..K)."""
    rows = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row = line.split(maxsplit=1)
        if len(row) != 2 or not row[0].isdigit():
            raise DataError(f"{source} line {line_no}: expected 'index Nationality', got {line!r}")
        rows.append(row)
    if [int(r[0]) for r in rows] != list(range(1, len(rows) + 1)):
        raise DataError(f"{source}: indices are not 1..{len(rows)} in order")
    return [r[1].strip() for r in rows]


def build_alphabet(names: Sequence[str]) -> Alphabet:
    """C = unique(cell2mat(all_names)), sorted; n_len = the longest name."""
    return Alphabet("".join(sorted(set("".join(names)))), max(len(n) for n in names))


def _read(folder: Path, name: str) -> str:
    try:
        return (folder / name).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {folder / name}: {e}") from e


def load(data_dir: str | os.PathLike | None = None) -> NamesData:
    """Reads the three course files (downloading them if missing; DataError names a bad file)."""
    folder = download.locate(download.NAMES, data_dir)
    names, y = parse_names(_read(folder, "ascii_names.txt"), str(folder / "ascii_names.txt"))
    class_names = parse_categories(_read(folder, "category_labels.txt"),
                                   str(folder / "category_labels.txt"))
    try:
        val_idx = np.asarray(_read(folder, "Validation_Inds.txt").split(), np.int64) - 1
    except ValueError as e:
        raise DataError(f"{folder / 'Validation_Inds.txt'}: not a list of integers ({e})") from e
    if val_idx.size == 0:
        raise DataError(f"{folder / 'Validation_Inds.txt'}: holds no indices (an empty file)")
    if val_idx.min() < 0 or val_idx.max() >= len(names) or len(set(val_idx)) != len(val_idx):
        raise DataError(f"{folder / 'Validation_Inds.txt'}: indices must be distinct and in "
                        f"1..{len(names)}")
    if y.max() >= len(class_names):
        raise DataError(f"{folder / 'ascii_names.txt'}: label {y.max() + 1} but only "
                        f"{len(class_names)} categories")
    data = NamesData(names, y, class_names, val_idx, build_alphabet(names))
    empty = [class_names[k] for k in np.flatnonzero(class_counts(y, len(class_names)) == 0)]
    if empty:
        raise DataError(f"{folder / 'ascii_names.txt'}: no names at all of the classes {empty} "
                        f"that {folder / 'category_labels.txt'} lists")
    missing = [class_names[k] for k in np.flatnonzero(
        class_counts(data.y[data.train_idx], data.n_classes) == 0)]
    if missing:
        raise DataError(f"{folder / 'ascii_names.txt'}: no training names (outside "
                        f"Validation_Inds.txt) for the classes {missing}")
    return data


def to_indices(names: Sequence[str], alphabet: Alphabet) -> np.ndarray:
    """(N, n_len) int32 character indices, d marking an empty column (names must already fit)."""
    table = alphabet.char_to_ind()
    out = np.full((len(names), alphabet.n_len), alphabet.d, np.int32)
    for i, name in enumerate(names):
        out[i, :len(name)] = [table[c] for c in name]
    return out


def one_hot(indices_nxl: np.ndarray, d: int) -> np.ndarray:
    """(N, n_len) indices -> (N, n_len, d) float32 one-hot rows; index d gives a zero row."""
    return np.eye(d + 1, d, dtype=np.float32)[indices_nxl]


def vectorise(one_hot_nxlxd: np.ndarray) -> np.ndarray:
    """(N, n_len, d) -> (N, d n_len): the course's column-major vec of each d x n_len matrix."""
    return one_hot_nxlxd.reshape(one_hot_nxlxd.shape[0], -1)


class EmptyNameError(ValueError):
    """A new name with nothing to encode (empty, blank, or only dropped characters)."""


def clean_name(name: str, alphabet: Alphabet, *, unknown: str = "drop",
               truncate: str = "last") -> tuple[str, list[str]]:
    """Lower-cases a new name and makes it encodable; returns (name, notes saying what changed).

    Letters outside the alphabet are first transliterated (`transliterate`: ú -> u, ß -> ss,
    hyphens -> space), each change noted; then
    unknown:  "drop" removes characters still outside the alphabet (e.g. digits), "error" raises.
    truncate: names longer than n_len keep their "last" n_len characters (suffixes such as -ov,
              -ez, -escu carry most of the signal) or their "first"; "error" raises.
    """
    if unknown not in UNKNOWN_POLICIES or truncate not in TRUNCATE_POLICIES:
        raise ValueError(f"unknown in {UNKNOWN_POLICIES}, truncate in {TRUNCATE_POLICIES}")
    notes, text = [], " ".join(name.lower().split())
    ascii_text = " ".join(transliterate(text).split())
    if ascii_text != text:
        notes.append(f"{name!r}: transliterated to {ascii_text!r}")
        text = ascii_text
    bad = sorted({c for c in text if c not in alphabet.chars})
    if bad:
        message = (f"{name!r}: characters {''.join(bad)!r} are not in the alphabet "
                   f"{alphabet.chars!r}")
        if unknown == "error":
            raise ValueError(message)
        text = " ".join("".join(c for c in text if c in alphabet.chars).split())
        notes.append(message + "; dropped")
    if not text:
        raise EmptyNameError(f"{name!r}: nothing left to encode")
    if len(text) > alphabet.n_len:
        message = f"{name!r} has {len(text)} characters, more than n_len = {alphabet.n_len}"
        if truncate == "error":
            raise ValueError(message)
        text = text[-alphabet.n_len:] if truncate == "last" else text[:alphabet.n_len]
        notes.append(message + f"; kept the {truncate} {alphabet.n_len}: {text!r}")
    return text, notes


def encode_new(names: Sequence[str], alphabet: Alphabet,
               **policy) -> tuple[np.ndarray, list[int], list[str]]:
    """Arbitrary new names -> ((K, n_len) indices, the positions in `names` of the K encoded ones,
    notes) using clean_name's policies; a name with nothing to encode is skipped with a note."""
    cleaned, kept, notes = [], [], []
    for i, name in enumerate(names):
        try:
            text, n = clean_name(name, alphabet, **policy)
        except EmptyNameError as e:
            notes.append(f"{e}; skipped")
            continue
        cleaned.append(text)
        kept.append(i)
        notes += n
    return to_indices(cleaned, alphabet), kept, notes


def class_counts(y: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(np.asarray(y), minlength=k)


def class_table(y: np.ndarray, class_names: Sequence[str]) -> list[tuple[str, int, float, float]]:
    """Seed 000 Table 2: (class, count, relative %, cumulative %) sorted by frequency."""
    counts = class_counts(y, len(class_names))
    order = np.argsort(-counts, kind="stable")
    rel = 100.0 * counts[order] / counts.sum()
    return [(class_names[c], int(counts[c]), float(r), float(cum))
            for c, r, cum in zip(order, rel, np.cumsum(rel))]


def class_weights(y: np.ndarray, k: int) -> np.ndarray:
    """Per-sample loss weights w_i = n / (K n_{y_i}): the sheet's p_y = 1 / (K n_y) scaled by n,
    so the weights average 1 over the training set and eta keeps its meaning."""
    counts = class_counts(y, k)
    return (len(y) / (k * counts[y])).astype(np.float32)


def write_fake_dataset(folder: str | os.PathLike, n_per_class: Sequence[int] = (40, 12, 25),
                       n_val: int = 3, seed: int = 0) -> None:
    """Writes names/ in the course's format for tests: class c's names end in a fixed suffix, so
    they are learnable; the first n_val names of each class form the validation set."""
    rng = np.random.default_rng(seed)
    suffixes, letters = ["ov", "ez", "son", "ini", "escu"], "abcdefghijklmnopqrstuvwxyz"
    lines, val, row = [], [], 0
    for c, n in enumerate(n_per_class):
        for i in range(n):
            stem = "".join(rng.choice(list(letters), rng.integers(2, 8)))
            lines.append(f"{stem.capitalize()}{suffixes[c % len(suffixes)]} {c + 1}")
            row += 1
            if i < n_val:
                val.append(row)
    target = Path(folder) / download.NAMES.subdir
    target.mkdir(parents=True, exist_ok=True)
    (target / "ascii_names.txt").write_text("\n".join(lines) + "\n")
    (target / "category_labels.txt").write_text(
        "".join(f"{c + 1} Lang{c + 1}\n" for c in range(len(n_per_class))))
    (target / "Validation_Inds.txt").write_text(" ".join(map(str, val)) + " ")
