"""Where data sets live, and fetching the official releases when they are missing.

The data directory is, in order: an explicit argument (an experiment's ``--data_dir``), the
``JAXDL_DATA_DIR`` environment variable, else ``$XDG_CACHE_HOME/jaxdl`` (``~/.cache/jaxdl``).
Each data set lives in a fixed sub-folder of it, in its official on-disk format. When its files are
missing we download the official release, verify the archive's checksum, and unpack atomically
(into a temporary folder, then rename). Offline, we fail with one message that names the files
expected, where, and how to provide them.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ENV_VAR = "JAXDL_DATA_DIR"


class DataError(RuntimeError):
    """A data file is missing, corrupt or of the wrong format; the message says which and what to do."""


@dataclasses.dataclass(frozen=True)
class Remote:
    """One downloadable file: where it is, its checksum, and how it unpacks."""

    url: str
    digest: str  # "md5:..." or "sha256:..."
    kind: str = "file"  # "file" (saved as is) or "tar.gz" (unpacked into the data directory)


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    subdir: str  # folder under the data directory holding `files`
    files: tuple[str, ...]
    remotes: tuple[Remote, ...]
    how: str  # one line telling a user where to get the files by hand


CIFAR10 = Dataset(
    name="CIFAR-10",
    subdir="cifar-10-batches-py",
    files=("batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
           "data_batch_5", "test_batch"),
    remotes=(Remote("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                    "md5:c58f30108f718f92721af3b95e74349a", "tar.gz"),),
    how="download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and unpack it there",
)

_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST = Dataset(
    name="MNIST",
    subdir="mnist",
    files=("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
           "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    remotes=(
        Remote(_MNIST_URL + "train-images-idx3-ubyte.gz", "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        Remote(_MNIST_URL + "train-labels-idx1-ubyte.gz", "md5:d53e105ee54ea40749a09fcbcd1e9432"),
        Remote(_MNIST_URL + "t10k-images-idx3-ubyte.gz", "md5:9fb629c4189551a2d022fa330f9573f3"),
        Remote(_MNIST_URL + "t10k-labels-idx1-ubyte.gz", "md5:ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    how="download the four official gzipped idx files (http://yann.lecun.com/exdb/mnist/) there",
)

_NAMES_URL = ("https://raw.githubusercontent.com/jacobmalmberg/DD2424-Deep-Learning-in-Data-Science/"
              "190ebaec9d8aa31b93eee712c1ca8904e7ffad50/Assignment%203/")
NAMES = Dataset(
    name="DD2424 surnames",
    subdir="names",
    files=("ascii_names.txt", "category_labels.txt", "Validation_Inds.txt"),
    remotes=(
        Remote(_NAMES_URL + "ascii_names.txt",
               "sha256:6596c83949bdfce4220698aac108b7dbc2041be62616aa6f9a9dac6e340a9381"),
        Remote(_NAMES_URL + "category_labels.txt",
               "sha256:01bbbce224450b321f89caf62590a7e3ea9d3cf64ef248d43630f39f5772849f"),
        Remote(_NAMES_URL + "Validation_Inds.txt",
               "sha256:e950f0a55f2a0d5e7f3ccac772a980f96bb4b65985add3b89f5effe3449af8d7"),
    ),
    how="copy the course's ascii_names.txt, category_labels.txt and Validation_Inds.txt there",
)


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: the argument, else $JAXDL_DATA_DIR, else the per-user cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "jaxdl"


def _file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(remote: Remote, dest: Path, timeout: float) -> None:
    """Downloads `remote` to `dest` and checks its digest (raises DataError on mismatch)."""
    algorithm, expected = remote.digest.split(":")
    with urllib.request.urlopen(remote.url, timeout=timeout) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out)
    got = _file_digest(dest, algorithm)
    if got != expected:
        raise DataError(f"checksum mismatch for {remote.url}: {algorithm} {got}, expected {expected}")


def download(dataset: Dataset, root: Path, timeout: float = 60.0) -> None:
    """Fetches `dataset` into root/subdir: verified, unpacked in a temporary folder, then renamed."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / dataset.subdir
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:
        tmp = Path(tmp)
        staged = tmp / "staged"
        staged.mkdir()
        for remote in dataset.remotes:
            name = remote.url.rsplit("/", 1)[-1]
            _fetch(remote, tmp / name, timeout)
            if remote.kind == "tar.gz":
                with tarfile.open(tmp / name) as tar:
                    tar.extractall(tmp / "unpacked", filter="data")
                shutil.move(str(tmp / "unpacked" / dataset.subdir), str(staged / dataset.subdir))
            else:
                (staged / dataset.subdir).mkdir(exist_ok=True)
                os.replace(tmp / name, staged / dataset.subdir / name)
        if target.exists():  # partial earlier copy: keep what is there, add what is missing
            for f in (staged / dataset.subdir).iterdir():
                if not (target / f.name).exists():
                    os.replace(f, target / f.name)
        else:
            os.replace(staged / dataset.subdir, target)


def locate(dataset: Dataset, data_dir: str | os.PathLike | None = None,
           allow_download: bool = True) -> Path:
    """The folder holding `dataset`'s files, downloading the official release if they are missing."""
    root = resolve_data_dir(data_dir)
    folder = root / dataset.subdir
    missing = [f for f in dataset.files if not (folder / f).is_file()]
    if not missing:
        return folder
    error = None
    if allow_download and os.environ.get("JAXDL_NO_DOWNLOAD", "") in ("", "0"):
        try:
            download(dataset, root)
        except (OSError, DataError, tarfile.TarError) as e:  # URLError is an OSError
            error = e
        missing = [f for f in dataset.files if not (folder / f).is_file()]
        if not missing:
            return folder
    reason = f" (download failed: {error})" if error else ""
    raise DataError(
        f"{dataset.name} files missing in {folder}: {', '.join(missing)}{reason}. "
        f"Pass --data_dir or set {ENV_VAR} to a folder holding '{dataset.subdir}/', "
        f"or {dataset.how}.")


def read_gzip(path: Path) -> bytes:
    """The decompressed bytes of a .gz file, with a DataError naming the file when it is corrupt."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"corrupt or truncated gzip file {path}: {e}") from e
