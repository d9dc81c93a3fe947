"""Load a user-defined task (``--task module:callable``) and turn it into what lrtune trains.

``module:callable`` is imported (the current directory is on the import path, as for
``python -m``), the callable is called with no arguments and must return a
:class:`lrtune.Task`. Everything is checked before anything is created, each problem one
:class:`TaskError` line: the import, the callable, the returned type, every split (lengths,
feature shapes, labels in ``[0, n_classes)``), the model (``make_model(seed)`` must map a
batch of validation inputs to ``(batch, n_classes)`` logits) and the metric (a known name or a
callable with a direction, giving one score per example of that batch).

Data (:func:`task_dataset`):

* tensor pairs ``(x, y)`` (or numpy arrays) are used as they are;
* a map-style ``torch.utils.data.Dataset`` is read item by item once and stacked into tensors
  when the whole task fits in memory (``Task.in_memory`` None: at most a quarter of the free
  memory of the device; True: always) — then training runs from tensors on the device exactly
  as for the built-in datasets;
* otherwise (``in_memory=False``, or too big) the inputs are *streamed*: the labels are read
  once, and every batch gathers its items from the Dataset with a ``DataLoader`` over exactly
  that batch's indices (the same seeded permutation as the in-memory path) and moves them to
  the device.

The *fingerprint* of the data (:func:`data_fingerprint`: SHA-256 of the labels, split sizes,
input shape and the bytes of up to 64 inputs per split spread evenly) is stored in the study
configuration, so resuming with changed data is refused like any other configuration change.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lrtune.errors import LrtuneError
from lrtune.training.data import Dataset
from lrtune.training.metrics import Metric, MetricError, resolve_metric
from lrtune.training.tasks import Task

__all__ = [
    "TaskError",
    "LoadedTask",
    "load_task",
    "task_dataset",
    "data_fingerprint",
    "StreamedInputs",
]

_FINGERPRINT_SAMPLES = 64
_MEMORY_SHARE = 0.25


class TaskError(LrtuneError, ValueError):
    """The user task cannot be used; the message is one line for the terminal."""


# --------------------------------------------------------------------------------------------
# importing
# --------------------------------------------------------------------------------------------


def _import_callable(path: str) -> Callable[[], Any]:
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise TaskError(f"--task must be 'module:callable' (e.g. examples.my_task:make_task), but got {path!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as ``python -m`` does: the task lives in the project
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: anything can go wrong while importing it
        raise TaskError(
            f"--task {path}: cannot import {module_name!r}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise TaskError(f"--task {path}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise TaskError(
            f"--task {path}: {attr!r} is not callable (it is a "
            f"{type(target).__name__}); it must be a function returning lrtune.Task"
        )
    return target


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------------


class StreamedInputs:
    """The inputs of a split kept in the user's Dataset: indexed by a batch of indices, it reads
    those items (through a ``DataLoader`` over them) and returns them stacked on ``device``.

    Supports what lrtune's loops use: ``len``, ``x[index_tensor]``, ``x[start:stop]``,
    ``.device``, ``.shape``.
    """

    def __init__(self, dataset: Any, input_shape: tuple[int, ...], device: torch.device) -> None:
        self.dataset = dataset
        self.input_shape = input_shape
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.input_shape)

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, slice):
            indices = list(range(*index.indices(len(self))))
        else:
            indices = torch.as_tensor(index).cpu().tolist()
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(self.dataset, indices),
            batch_size=max(len(indices), 1),
            shuffle=False,
            collate_fn=lambda items: torch.stack([_as_input(x) for x, _ in items]),
        )
        (batch,) = list(loader)
        return batch.to(self.device, non_blocking=True)

    def to(self, device: str | torch.device) -> StreamedInputs:
        return StreamedInputs(self.dataset, self.input_shape, torch.device(device))


def _as_input(x: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()


def _as_tensor_pair(split: Any, name: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    if isinstance(split, (tuple, list)) and len(split) == 2:
        x, y = split
        try:
            x = torch.as_tensor(x).float()
            y = torch.as_tensor(y)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TaskError(f"the {name} split's (x, y) must be tensors or arrays: {_first_line(exc)}") from None
        return x, y
    return None


def _is_map_dataset(split: Any) -> bool:
    return hasattr(split, "__getitem__") and hasattr(split, "__len__")


def _labels_of(dataset: Any, name: str) -> torch.Tensor:
    labels = []
    for i in range(len(dataset)):
        item = dataset[i]
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TaskError(
                f"the {name} split's items must be (x, y) pairs, but item {i} is a {type(item).__name__}"
            )
        labels.append(int(item[1]))
    return torch.tensor(labels, dtype=torch.int64)


def _check_labels(y: torch.Tensor, n_classes: int, name: str) -> torch.Tensor:
    if y.dtype.is_floating_point and not torch.equal(y, y.round()):
        raise TaskError(
            f"the {name} split's labels must be integer class indices, but got "
            f"floats such as {y.flatten()[0].item()!r}"
        )
    y = y.long()
    if y.dim() != 1:
        raise TaskError(f"the {name} split's labels must have shape (n,), but got {tuple(y.shape)}")
    if len(y) == 0:
        raise TaskError(f"the {name} split is empty")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= n_classes:
        raise TaskError(
            f"the {name} split's labels must lie in [0, {n_classes}) (n_classes = "
            f"{n_classes}), but range over [{low}, {high}]"
        )
    return y


def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**31


# --------------------------------------------------------------------------------------------
# the loaded task
# --------------------------------------------------------------------------------------------


@dataclass
class LoadedTask:
    """A checked user task: its import path, the :class:`lrtune.Task`, the data and fingerprint."""

    path: str
    task: Task
    data: Dataset
    fingerprint: str
    streamed: bool
    model_name: str
    metric: Metric

    def build_model(self, seed: int) -> nn.Module:
        """``make_model(seed)`` with torch seeded first, so the same seed gives the same weights."""
        torch.manual_seed(seed)
        return self.task.make_model(seed)


def data_fingerprint(data: Dataset) -> str:
    """SHA-256 (first 16 hex digits) of split sizes, input shape, labels and sampled inputs."""
    h = hashlib.sha256()
    h.update(repr((data.sizes, tuple(data.input_shape), data.n_classes)).encode())
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        h.update(y.detach().cpu().numpy().astype(np.int64).tobytes())
        picks = torch.as_tensor(np.unique(np.linspace(0, len(y) - 1, _FINGERPRINT_SAMPLES).astype(np.int64)))
        h.update(x[picks].detach().cpu().numpy().astype(np.float32).tobytes())
    return h.hexdigest()[:16]


def _split(split: Any, name: str, n_classes: int, device: torch.device, in_memory: bool | None):
    """(x, y, input_shape, streamed) of one split."""
    pair = _as_tensor_pair(split, name)
    if pair is not None:
        x, y = pair
        if len(x) != len(y):
            raise TaskError(f"the {name} split has {len(x)} inputs but {len(y)} labels")
        return x, _check_labels(y, n_classes, name), tuple(x.shape[1:]), False
    if not _is_map_dataset(split):
        raise TaskError(
            f"the {name} split must be an (x, y) pair of tensors or a map-style "
            f"torch Dataset, but got {type(split).__name__}"
        )
    if len(split) == 0:
        raise TaskError(f"the {name} split is empty")
    y = _check_labels(_labels_of(split, name), n_classes, name)
    first = _as_input(split[0][0])
    shape = tuple(first.shape)
    need = first.numel() * first.element_size() * len(split)
    if in_memory is None:
        in_memory = need <= _MEMORY_SHARE * _available_bytes(device)
    if not in_memory:
        return StreamedInputs(split, shape, device), y, shape, True
    xs = [_as_input(split[i][0]) for i in range(len(split))]
    bad = next((i for i, x in enumerate(xs) if tuple(x.shape) != shape), None)
    if bad is not None:
        raise TaskError(
            f"the {name} split's inputs must all have one shape, but item 0 is "
            f"{shape} and item {bad} is {tuple(xs[bad].shape)}"
        )
    return torch.stack(xs), y, shape, False


def task_dataset(task: Task, *, name: str, device: str | torch.device = "cpu") -> tuple[Dataset, bool]:
    """The task's splits as an lrtune :class:`~lrtune.training.data.Dataset` on ``device``; (data, streamed)."""
    device = torch.device(device)
    n = task.n_classes
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise TaskError(f"Task.n_classes must be an integer ≥ 2, but got {n!r}")
    splits = {}
    streamed = False
    for split in ("train", "val", "test"):
        value = getattr(task, split)
        if value is None:
            raise TaskError(f"Task.{split} is missing: give (x, y) tensors or a torch Dataset")
        x, y, shape, s = _split(value, split, n, device, task.in_memory)
        streamed |= s
        splits[split] = (x, y, shape)
    shapes = {k: v[2] for k, v in splits.items()}
    if len(set(shapes.values())) != 1:
        raise TaskError(
            "the splits' inputs must have one shape, but got " + ", ".join(f"{k} {v}" for k, v in shapes.items())
        )
    moved = {}
    for split, (x, y, _) in splits.items():
        moved[f"x_{split}"] = x.to(device)
        moved[f"y_{split}"] = y.to(device)
    data = Dataset(name=name, n_classes=n, input_shape=shapes["train"], **moved)
    return data, streamed


def _check_model(loaded_task: Task, data: Dataset, path: str) -> tuple[str, torch.Tensor]:
    if not callable(loaded_task.make_model):
        raise TaskError(f"--task {path}: Task.make_model must be callable (seed → torch.nn.Module)")
    try:
        torch.manual_seed(0)
        model = loaded_task.make_model(0)
    except Exception as exc:
        raise TaskError(f"--task {path}: make_model(0) failed: {type(exc).__name__}: {_first_line(exc)}") from None
    if not isinstance(model, nn.Module):
        raise TaskError(
            f"--task {path}: make_model(seed) must return a torch.nn.Module, but returned {type(model).__name__}"
        )
    batch = data.x_val[torch.arange(min(2, len(data.y_val)))]
    try:
        with torch.no_grad():
            out = model.to(data.device).eval()(batch)
    except Exception as exc:
        raise TaskError(
            f"--task {path}: the model fails on a batch of inputs of shape "
            f"{tuple(batch.shape)}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    want = (len(batch), data.n_classes)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise TaskError(
            f"--task {path}: the model's output must be logits of shape {want} "
            f"(batch, n_classes = {data.n_classes}), but got {got}"
        )
    return type(model).__name__, out


def _check_metric(task: Task, logits: torch.Tensor, y: torch.Tensor, path: str) -> Metric:
    """The task's :class:`Metric`; a callable must give one score per example of a real batch."""
    try:
        metric = resolve_metric(task.metric, task.direction)
    except MetricError as exc:
        raise TaskError(f"--task {path}: Task.metric: {exc}") from None
    try:
        with torch.no_grad():
            scores = metric.scores(logits, y)
    except Exception as exc:
        raise TaskError(
            f"--task {path}: the metric {metric.name!r} fails on logits {tuple(logits.shape)} and "
            f"targets {tuple(y.shape)}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (len(y),) or scores.is_complex():
        got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise TaskError(
            f"--task {path}: the metric {metric.name!r} must return per-example scores, a real "
            f"tensor of shape ({len(y)},) for a batch of {len(y)}, but returned {got}"
        )
    return metric


_CACHE: dict[tuple[str, str], LoadedTask] = {}


def load_task(path: str, *, device: str | torch.device = "cpu") -> LoadedTask:
    """Import, call and check the task at ``module:callable``; cached per (path, device)."""
    key = (path, str(torch.device(device)))
    if key in _CACHE:
        return _CACHE[key]
    factory = _import_callable(path)
    try:
        task = factory()
    except Exception as exc:
        raise TaskError(f"--task {path}: calling it failed: {type(exc).__name__}: {_first_line(exc)}") from None
    if not isinstance(task, Task):
        raise TaskError(f"--task {path} must return an lrtune.Task, but returned {type(task).__name__}")
    try:
        data, streamed = task_dataset(task, name=task.name or path, device=device)
    except TaskError as exc:
        raise TaskError(f"--task {path}: {exc}") from None
    model_name, logits = _check_model(task, data, path)
    metric = _check_metric(task, logits, data.y_val[: len(logits)], path)
    loaded = LoadedTask(path, task, data, data_fingerprint(data), streamed, model_name, metric)
    _CACHE[key] = loaded
    return loaded
