"""Datasets as in-memory tensors on the device, and batch iteration over them.

Every dataset is loaded once into float tensors (normalised with the training split's
statistics) and split into train / validation / test. Training batches are index slices of a
per-epoch permutation drawn from a seeded :class:`torch.Generator` — no DataLoader, no PIL, no
per-item work, which is what makes many short trials cheap (docs/speed.md measures it).

Datasets (:data:`DATASETS`):

- ``mnist1d`` (default): generated offline by the ``mnist1d`` package, 4000 train / 1000 test
  sequences of length 40, 10 classes.
- ``digits``: scikit-learn's 1797 8x8 digit images; a fixed 20 % test split.
- ``mnist``, ``fashion-mnist``, ``kmnist``, ``cifar10``: torchvision's datasets, read from
  ``data_dir``; they are downloaded only when ``download=True`` is passed.

The validation split is carved out of the training data with a permutation seeded by ``seed``;
the test split is never touched by it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from lrtune.errors import LrtuneError

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetNotFoundError",
    "iterate_batches",
    "load_dataset",
    "steps_per_epoch",
]

DATASETS: tuple[str, ...] = ("mnist1d", "digits", "mnist", "fashion-mnist", "kmnist", "cifar10")
"""Names accepted by :func:`load_dataset`; the first one is the default."""

_DIGITS_TEST_FRACTION = 0.2
_DIGITS_TEST_SEED = 0  # fixed, so the digits test set never depends on the caller's seed

# name -> torchvision class name
_TORCHVISION = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "cifar10": "CIFAR10",
}


class DatasetNotFoundError(LrtuneError, ValueError):
    """A dataset's files are missing (or corrupted) in the data directory."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train / validation / test tensors of one dataset, all on the same device.

    ``x_*`` are float32 tensors of shape ``(n, *input_shape)``, normalised with the training
    split's mean and standard deviation (per channel for images); ``y_*`` are int64 class
    indices in ``[0, n_classes)``.
    """

    name: str
    x_train: torch.Tensor = field(repr=False)
    y_train: torch.Tensor = field(repr=False)
    x_val: torch.Tensor = field(repr=False)
    y_val: torch.Tensor = field(repr=False)
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    n_classes: int
    input_shape: tuple[int, ...]

    @property
    def device(self) -> torch.device:
        """The device every tensor lives on."""
        return self.x_train.device

    @property
    def sizes(self) -> dict[str, int]:
        """Number of examples per split: ``{"train": ..., "val": ..., "test": ...}``."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def to(self, device: str | torch.device) -> Dataset:
        """Return a copy with every tensor on ``device`` (``self`` if already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        moved = {
            key: getattr(self, key).to(device)
            for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        }
        return Dataset(name=self.name, n_classes=self.n_classes, input_shape=self.input_shape, **moved)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        return (
            f"Dataset({self.name!r}, {sizes}, input_shape={self.input_shape}, "
            f"n_classes={self.n_classes}, device={self.device})"
        )


def load_dataset(
    name: str = "mnist1d",
    *,
    data_dir: str | os.PathLike[str] = "data",
    download: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> Dataset:
    """Load dataset ``name`` into normalised tensors on ``device``.

    Args:
        name: one of :data:`DATASETS`.
        data_dir: where the torchvision datasets live (``<data_dir>/MNIST/raw/...``,
            ``<data_dir>/cifar-10-batches-py/...``); unused by ``mnist1d`` and ``digits``.
        download: fetch a missing torchvision dataset into ``data_dir``. Nothing is ever
            downloaded unless this is True.
        val_fraction: fraction of the training data held out for validation, in (0, 1).
        seed: seeds the train/validation split (same seed, same split).
        device: where the tensors are put.

    Raises:
        ValueError: unknown ``name`` or ``val_fraction`` out of range.
        DatasetNotFoundError: the files of a torchvision dataset are not in ``data_dir``.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, but got {name!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), but got {val_fraction!r}")
    if name == "mnist1d":
        raw = _load_mnist1d()
    elif name == "digits":
        raw = _load_digits()
    else:
        raw = _load_torchvision(name, Path(data_dir), download)
    train_idx, val_idx = _split_indices(len(raw.y_train), val_fraction=val_fraction, seed=seed)
    xs = _normalised({"train": raw.x_train[train_idx], "val": raw.x_train[val_idx], "test": raw.x_test})
    ys = {"train": raw.y_train[train_idx], "val": raw.y_train[val_idx], "test": raw.y_test}
    return Dataset(
        name=name,
        **{f"x_{part}": x.to(device) for part, x in xs.items()},
        **{f"y_{part}": torch.tensor(y, dtype=torch.int64).to(device) for part, y in ys.items()},
        n_classes=raw.n_classes,
        input_shape=tuple(xs["train"].shape[1:]),
    )


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches :func:`iterate_batches` yields for ``n`` examples.

    ``ceil(n / batch_size)``, or ``floor(n / batch_size)`` with ``drop_last``.
    """
    _check_batch_size(batch_size)
    return n // batch_size if drop_last else -(-n // batch_size)


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield one epoch of ``(x_batch, y_batch)`` slices of ``x`` and ``y``.

    With ``shuffle`` the order is a permutation drawn from ``generator`` (a CPU generator, so
    the order is the same on every device); each example appears exactly once per epoch,
    except the last ``n % batch_size`` when ``drop_last`` is set. Calling it again with the
    same generator draws the next epoch's permutation.
    """
    _check_batch_size(batch_size)
    n = len(y)
    if len(x) != n:
        raise ValueError(f"x and y must have the same length, but got {len(x)} and {n}")
    stop = steps_per_epoch(n, batch_size, drop_last) * batch_size
    if not shuffle:
        for start in range(0, stop, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
        return
    order = torch.randperm(n, generator=generator).to(x.device)
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield x[index], y[index]


# ---------------------------------------------------------------------------------------------
# loaders


class _Raw(NamedTuple):
    """A dataset as read: numpy arrays, ``x`` shaped ``(n, *input_shape)``, before splitting."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


@functools.lru_cache(maxsize=1)
def _load_mnist1d() -> _Raw:
    """MNIST-1D at its default arguments, generated (never downloaded) once per process.

    Generation takes about 3 s; the arrays are cached read-only. The caller's global Python
    and NumPy random states are left untouched.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # each dataset package only when it is used

    with _preserved_global_rng():
        generated = make_dataset(get_dataset_args())
    arrays = [
        np.asarray(generated[key], dtype=dtype)
        for key, dtype in (("x", np.float32), ("y", np.int64), ("x_test", np.float32), ("y_test", np.int64))
    ]
    for array in arrays:
        array.setflags(write=False)
    return _Raw(*arrays, n_classes=len(generated["templates"]["y"]))


@contextlib.contextmanager
def _preserved_global_rng() -> Iterator[None]:
    """Restore Python's and NumPy's global random states on exit (mnist1d reseeds both)."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _load_digits() -> _Raw:
    """scikit-learn's 8x8 digits as (n, 1, 8, 8) images with a fixed, stratified test split."""
    from sklearn.datasets import load_digits  # scikit-learn only for digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=_DIGITS_TEST_FRACTION, random_state=_DIGITS_TEST_SEED, stratify=y
    )
    return _Raw(x_train, y_train, x_test, y_test, n_classes=len(bunch.target_names))


def _load_torchvision(name: str, data_dir: Path, download: bool) -> _Raw:
    """Read a torchvision dataset's train and test parts as uint8 (n, C, H, W) arrays.

    torchvision's own checks run (CIFAR-10's md5 sums included); every way it can fail —
    missing, corrupted, or a failed download — becomes a one-line DatasetNotFoundError.
    """
    import torchvision.datasets as tvd  # torchvision (~1 s) only for the datasets read from files

    cls = getattr(tvd, _TORCHVISION[name])
    where = _expected_location(name, data_dir)
    missing = [file for file in _expected_files(name) if not (where / file).is_file()]
    if missing and not download:
        raise DatasetNotFoundError(
            f"{name} not found under {where} (missing {', '.join(missing)}): pass --download "
            "(download=True) to fetch it, or copy the files there"
        )
    try:
        parts = [cls(str(data_dir), train=train, download=download) for train in (True, False)]
    except (RuntimeError, OSError) as exc:  # missing / corrupted / failed download
        reason = " ".join(str(exc).split())[:300]
        if download:
            raise DatasetNotFoundError(
                f"{name} could not be downloaded to {where} ({reason}): check the internet "
                "connection, or copy the files there"
            ) from exc
        raise DatasetNotFoundError(
            f"{name} could not be read from {where} ({reason}): delete the files and pass "
            "--download (download=True), or copy intact files there"
        ) from exc
    images = [_nchw_uint8(part.data) for part in parts]
    labels = [np.asarray(part.targets, dtype=np.int64) for part in parts]
    return _Raw(images[0], labels[0], images[1], labels[1], n_classes=len(parts[0].classes))


def _nchw_uint8(data: np.ndarray | torch.Tensor) -> np.ndarray:
    """torchvision's ``.data`` — (n, H, W) for MNIST-like, (n, H, W, C) for CIFAR — as NCHW."""
    images = np.asarray(data, dtype=np.uint8)
    images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images)


def _expected_location(name: str, data_dir: Path) -> Path:
    """The folder torchvision reads ``name`` from."""
    if name == "cifar10":
        return data_dir / "cifar-10-batches-py"
    return data_dir / _TORCHVISION[name] / "raw"


def _expected_files(name: str) -> tuple[str, ...]:
    """The files torchvision reads for ``name``, relative to :func:`_expected_location`."""
    if name == "cifar10":
        return tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
    return tuple(
        f"{part}-{kind}-idx{dims}-ubyte"
        for part in ("train", "t10k")
        for kind, dims in (("images", 3), ("labels", 1))
    )


# ---------------------------------------------------------------------------------------------
# splitting and normalisation


def _split_indices(n: int, *, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint, sorted (train, val) index arrays from a permutation seeded by ``seed``.

    The validation split has ``round(n * val_fraction)`` examples, at least 1 and at most n - 1.
    """
    if n < 2:
        raise ValueError(f"need at least 2 training examples to carve a validation split, got {n}")
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _normalised(xs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Float32 CPU copies of every split, standardised with the ``"train"`` split's statistics.

    ``x = (x - mean) / std`` per channel for images, over all features otherwise; one
    vectorised pass per split (uint8 images are converted here, never per item).
    """
    tensors = {part: torch.tensor(x, dtype=torch.float32) for part, x in xs.items()}
    mean, std = _channel_stats(tensors["train"])
    for x in tensors.values():
        x.sub_(mean).div_(std)
    return tensors


def _channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of ``x`` per channel (dim 1) for images, over everything otherwise.

    Shaped ``(C, 1, 1)`` for images (broadcasting against ``(n, C, H, W)``), scalars otherwise;
    a zero std (a constant input) is replaced by 1.
    """
    dims = (0, *range(2, x.ndim)) if x.ndim >= 3 else tuple(range(x.ndim))
    var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
    std = var.sqrt()
    std[std == 0] = 1.0
    return mean[0], std[0]


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, but got {batch_size!r}")
