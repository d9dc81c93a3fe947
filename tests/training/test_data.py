"""lrtune.training.data: every dataset through the real loaders, splits, normalisation, batches.

The torchvision datasets are written as tiny files in their real on-disk formats (MNIST's
idx-ubyte files, CIFAR-10's pickled batches) and read back through torchvision's own classes.
"""

from __future__ import annotations

import hashlib
import pickle
import random
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from hypothesis import given, settings
from hypothesis import strategies as st

from lrtune.training import data as data_module
from lrtune.training.data import (
    DATASETS,
    Dataset,
    DatasetNotFoundError,
    iterate_batches,
    load_dataset,
    steps_per_epoch,
)

MNIST_LIKE = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}


# ---------------------------------------------------------------------------------------------
# writers for the real on-disk formats


def _write_idx(path: Path, array: np.ndarray) -> None:
    """An idx-ubyte file: magic (0, 0, type 0x08 = uint8, ndim), big-endian int32 dims, data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _unique_images(n: int, shape: tuple[int, ...], offset: int) -> np.ndarray:
    """uint8 images, image i carrying ``offset + i`` in its first pixel (an id to track it by)."""
    images = np.random.default_rng(offset).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    images.reshape(n, -1)[:, 0] = offset + np.arange(n)
    return images


def write_mnist_like(root: Path, class_name: str, n_train: int = 60, n_test: int = 20) -> None:
    """``<root>/<class_name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (uncompressed)."""
    raw = root / class_name / "raw"
    for part, n, offset in (("train", n_train, 0), ("t10k", n_test, 100)):
        _write_idx(raw / f"{part}-images-idx3-ubyte", _unique_images(n, (28, 28), offset))
        _write_idx(raw / f"{part}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))


def write_cifar10(root: Path, n_per_batch: int = 8, n_test: int = 10) -> dict[str, str]:
    """``<root>/cifar-10-batches-py/`` pickles; returns the md5 of every file written."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": (n_per_batch, 10 * i) for i in range(1, 6)}
    batches["test_batch"] = (n_test, 200)
    for file_name, (n, offset) in batches.items():
        images = _unique_images(n, (3, 32, 32), offset).reshape(n, 3072)  # rows: R, G, B planes
        entry = {"batch_label": file_name, "data": images, "labels": list(np.arange(n) % 10)}
        (folder / file_name).write_bytes(pickle.dumps(entry))
    meta = {
        "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@pytest.fixture
def cifar_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tiny CIFAR-10 files, with torchvision's expected md5 sums set to theirs.

    torchvision checks every CIFAR file against the md5 of the real release; the loader keeps
    that check, so the test points the class's checksum table at the tiny files (the check
    itself still runs, through torchvision's own code).
    """
    md5 = write_cifar10(tmp_path)
    cls = tvd.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[name, md5[name]] for name, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[name, md5[name]] for name, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5["batches.meta"]})
    return tmp_path


def _ids(x: torch.Tensor) -> set[float]:
    """The per-example id (first pixel, normalised) of a batch of images."""
    return set(x.reshape(len(x), -1)[:, 0].tolist())


# ---------------------------------------------------------------------------------------------
# mnist1d and digits


def test_mnist1d_loads_with_the_published_sizes() -> None:
    data = load_dataset("mnist1d")
    assert data.name == "mnist1d"
    assert data.input_shape == (40,)
    assert data.n_classes == 10
    assert data.sizes == {"train": 3600, "val": 400, "test": 1000}
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.x_train.shape == (3600, 40)
    assert abs(data.x_train.mean().item()) < 1e-4
    assert data.x_train.std().item() == pytest.approx(1.0, abs=1e-3)
    assert set(data.y_test.tolist()) == set(range(10))


def test_mnist1d_leaves_the_global_random_states_alone() -> None:
    data_module._load_mnist1d.cache_clear()  # make sure the generator really runs here
    random.seed(1234)
    np.random.seed(1234)
    expected = (random.random(), np.random.random())
    random.seed(1234)
    np.random.seed(1234)
    load_dataset("mnist1d")
    assert (random.random(), np.random.random()) == expected


def test_mnist1d_is_the_same_every_time() -> None:
    a, b = load_dataset("mnist1d", seed=3), load_dataset("mnist1d", seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    a.x_test.add_(1.0)  # callers may scribble on their tensors without touching the cache
    assert not torch.equal(load_dataset("mnist1d").x_test, a.x_test)


def test_digits_has_a_fixed_stratified_test_split() -> None:
    a, b = load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    assert a.input_shape == (1, 8, 8) and a.n_classes == 10
    assert sum(a.sizes.values()) == 1797
    assert a.sizes["test"] == 360
    # the test examples never depend on the seed (only the normalisation statistics do)
    assert torch.equal(a.y_test, b.y_test)
    torch.testing.assert_close(a.x_test, b.x_test, atol=0.02, rtol=0.02)
    assert not torch.equal(a.y_val, b.y_val)  # the validation split does
    assert torch.bincount(a.y_test).min() >= 35


# ---------------------------------------------------------------------------------------------
# torchvision datasets in their real formats


@pytest.mark.parametrize("name", sorted(MNIST_LIKE))
def test_mnist_like_datasets_load_from_idx_files(tmp_path: Path, name: str) -> None:
    write_mnist_like(tmp_path, MNIST_LIKE[name], n_train=60, n_test=20)
    data = load_dataset(name, data_dir=tmp_path, val_fraction=0.25, seed=0)
    assert data.input_shape == (1, 28, 28)
    assert data.n_classes == 10
    assert data.sizes == {"train": 45, "val": 15, "test": 20}
    assert data.x_train.dtype == torch.float32
    assert data.x_train.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert data.x_train.std().item() == pytest.approx(1.0, abs=1e-2)
    # every training image lands in exactly one of train / val; the test images stay apart
    assert len(_ids(data.x_train) | _ids(data.x_val)) == 60
    assert not _ids(data.x_train) & _ids(data.x_val)
    assert not (_ids(data.x_train) | _ids(data.x_val)) & _ids(data.x_test)


def test_mnist_pixels_are_normalised_with_the_training_statistics(tmp_path: Path) -> None:
    write_mnist_like(tmp_path, "MNIST", n_train=30, n_test=10)
    data = load_dataset("mnist", data_dir=tmp_path, val_fraction=0.2, seed=0)
    train_idx, _ = data_module._split_indices(30, val_fraction=0.2, seed=0)
    raw_train = tvd.MNIST(str(tmp_path), train=True).data.double()[train_idx]
    raw_test = tvd.MNIST(str(tmp_path), train=False).data.double()
    expected = (raw_test - raw_train.mean()) / raw_train.std(correction=0)
    torch.testing.assert_close(data.x_test[:, 0].double(), expected, atol=1e-5, rtol=1e-5)


def test_cifar10_loads_from_pickled_batches(cifar_root: Path) -> None:
    data = load_dataset("cifar10", data_dir=cifar_root, val_fraction=0.25, seed=0)
    assert data.input_shape == (3, 32, 32)
    assert data.n_classes == 10
    assert data.sizes == {"train": 30, "val": 10, "test": 10}
    per_channel = data.x_train.mean(dim=(0, 2, 3))
    torch.testing.assert_close(per_channel, torch.zeros(3), atol=1e-4, rtol=0)
    assert len(_ids(data.x_train) | _ids(data.x_val)) == 40
    assert not _ids(data.x_train) & _ids(data.x_val)


def test_cifar10_channels_are_in_chw_order(cifar_root: Path) -> None:
    data = load_dataset("cifar10", data_dir=cifar_root, seed=0)
    with open(cifar_root / "cifar-10-batches-py" / "test_batch", "rb") as f:
        raw = torch.tensor(pickle.load(f)["data"].reshape(-1, 3, 32, 32), dtype=torch.float32)
    for c in range(3):  # channel c of the tensor is an affine map of the file's plane c
        got, want = data.x_test[:, c].flatten(), raw[:, c].flatten()
        assert torch.corrcoef(torch.stack([got, want]))[0, 1] > 0.9999


@pytest.mark.parametrize("name", sorted(set(DATASETS) - {"mnist1d", "digits"}))
def test_missing_files_give_a_one_line_hint(tmp_path: Path, name: str) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(name, data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{name} not found under {tmp_path}")
    assert "--download" in message
    assert ("data_batch_1" if name == "cifar10" else "train-images-idx3-ubyte") in message
    assert isinstance(info.value, ValueError)


def test_incomplete_mnist_files_are_not_found(tmp_path: Path) -> None:
    write_mnist_like(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match="mnist not found under .*missing t10k-labels"):
        load_dataset("mnist", data_dir=tmp_path)


def test_corrupted_cifar_files_are_reported_in_one_line(tmp_path: Path) -> None:
    write_cifar10(tmp_path)  # the real md5 table: the tiny files fail torchvision's check
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "could not be read" in message and "corrupted" in message


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """torchvision's downloader replaced by one that fails like an offline machine."""
    attempts: list[str] = []

    def offline(url: str, *args, **kwargs) -> None:
        attempts.append(url)
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvd.mnist, "download_and_extract_archive", offline)
    monkeypatch.setattr(tvd.cifar, "download_and_extract_archive", offline)
    return attempts


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_a_failed_download_is_reported_in_one_line(tmp_path: Path, no_network: list[str], name: str) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(name, data_dir=tmp_path, download=True)
    message = str(info.value)
    assert no_network  # a download was really attempted
    assert "\n" not in message
    assert message.startswith(f"{name} could not be downloaded to {tmp_path}")
    assert "name resolution" in message


def test_download_is_skipped_when_the_files_are_there(tmp_path: Path, no_network: list[str]) -> None:
    write_mnist_like(tmp_path, "KMNIST")
    data = load_dataset("kmnist", data_dir=tmp_path, download=True)
    assert data.sizes["test"] == 20
    assert no_network == []


def test_unknown_dataset_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="mnist1d, digits, mnist, fashion-mnist, kmnist, cifar10"):
        load_dataset("imagenet")


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_val_fraction_must_be_inside_the_unit_interval(fraction: float) -> None:
    with pytest.raises(ValueError, match="val_fraction must be in"):
        load_dataset("digits", val_fraction=fraction)


# ---------------------------------------------------------------------------------------------
# validation split


def test_same_seed_same_split_other_seed_other_split(tmp_path: Path) -> None:
    write_mnist_like(tmp_path, "MNIST", n_train=100, n_test=10)
    a = load_dataset("mnist", data_dir=tmp_path, seed=7)
    b = load_dataset("mnist", data_dir=tmp_path, seed=7)
    c = load_dataset("mnist", data_dir=tmp_path, seed=8)
    assert _ids(a.x_val) == _ids(b.x_val)
    assert _ids(a.x_val) != _ids(c.x_val)
    assert a.sizes["val"] == 10


@given(n=st.integers(2, 500), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**31))
def test_split_indices_partition_the_training_set(n: int, fraction: float, seed: int) -> None:
    train, val = data_module._split_indices(n, val_fraction=fraction, seed=seed)
    assert 1 <= len(val) <= n - 1
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(n))


# ---------------------------------------------------------------------------------------------
# Dataset


def test_to_moves_every_tensor() -> None:
    data = load_dataset("digits")
    assert data.to("cpu") is data
    moved = data.to("meta")
    assert isinstance(moved, Dataset)
    for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert getattr(moved, key).device.type == "meta"
    assert moved.input_shape == data.input_shape and moved.n_classes == data.n_classes
    assert "digits" in repr(data) and "tensor" not in repr(data)


def test_load_dataset_puts_tensors_on_the_device() -> None:
    data = load_dataset("digits", device=torch.device("cpu"))
    assert data.device == torch.device("cpu")


# ---------------------------------------------------------------------------------------------
# batches


def _epoch(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, **kwargs) -> list:
    return list(iterate_batches(x, y, generator=generator, **kwargs))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), batch_size=st.integers(1, 64), drop_last=st.booleans())
def test_batches_cover_every_example_once_per_epoch(n: int, batch_size: int, drop_last: bool) -> None:
    x = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3)
    y = torch.arange(n)
    batches = _epoch(x, y, torch.Generator().manual_seed(0), batch_size=batch_size, drop_last=drop_last)
    assert len(batches) == steps_per_epoch(n, batch_size, drop_last)
    seen = torch.cat([yb for _, yb in batches]) if batches else torch.empty(0, dtype=torch.long)
    for xb, yb in batches:
        assert torch.equal(xb[:, 0].long(), yb)  # x and y stay paired
        assert len(yb) == batch_size or not drop_last
    if drop_last:
        assert len(seen) == (n // batch_size) * batch_size
        assert len(set(seen.tolist())) == len(seen)
    else:
        assert sorted(seen.tolist()) == list(range(n))


def test_batch_order_is_reproducible_and_changes_every_epoch() -> None:
    x, y = torch.randn(50, 2), torch.arange(50)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    first = [yb for _, yb in _epoch(x, y, g1, batch_size=8)]
    again = [yb for _, yb in _epoch(x, y, g2, batch_size=8)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    second = torch.cat([yb for _, yb in _epoch(x, y, g1, batch_size=8)])
    assert not torch.equal(torch.cat(first), second)
    g3 = torch.Generator().manual_seed(6)
    other = torch.cat([yb for _, yb in _epoch(x, y, g3, batch_size=8)])
    assert not torch.equal(torch.cat(first), other)


def test_without_shuffle_the_order_is_kept() -> None:
    x, y = torch.randn(10, 2), torch.arange(10)
    batches = list(iterate_batches(x, y, batch_size=4, shuffle=False))
    assert [b.tolist() for _, b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_steps_per_epoch() -> None:
    assert steps_per_epoch(100, 32) == 4
    assert steps_per_epoch(100, 32, drop_last=True) == 3
    assert steps_per_epoch(96, 32) == steps_per_epoch(96, 32, drop_last=True) == 3


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size(batch_size) -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        steps_per_epoch(10, batch_size)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        next(iterate_batches(torch.zeros(3, 1), torch.zeros(3), batch_size=batch_size))


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        next(iterate_batches(torch.zeros(3, 1), torch.zeros(4), batch_size=2))
