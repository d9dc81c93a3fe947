"""Small classifiers that train fast on a CPU.

:data:`MODELS` names them; :func:`build_model` builds one for an input shape (per example,
without the batch dimension) and a number of classes:

- ``mlp``: flatten, two hidden layers of 256 ReLU units, linear head. Any input shape.
- ``cnn1d``: for sequences ``(L,)`` or ``(C, L)`` such as mnist1d's ``(40,)``: three 3-wide
  convolutions (32, 64, 64 channels) with BatchNorm and ReLU, the last two strided by 2, then
  a linear head on the flattened features.
- ``cnn``: for images ``(C, H, W)`` (H, W >= 4): two conv-BN-ReLU-maxpool blocks (32, 64
  channels), adaptive average pooling to at most 4x4, a 128-unit hidden layer, linear head.
- ``resnet``: a small ResNet for images such as CIFAR's ``(3, 32, 32)``: a 3x3 stem and three
  stages of one basic block each (32, 64, 128 channels, strides 1, 2, 2), global average
  pooling, linear head.

:func:`default_model` says which model a dataset gets by default.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["MODELS", "BasicBlock", "build_model", "default_model"]

MODELS: tuple[str, ...] = ("mlp", "cnn1d", "cnn", "resnet")
"""Names accepted by :func:`build_model`."""

_DEFAULT_MODELS = {
    "mnist1d": "cnn1d",
    "digits": "mlp",
    "mnist": "mlp",
    "fashion-mnist": "cnn",
    "kmnist": "cnn",
    "cifar10": "resnet",
}


def default_model(dataset_name: str) -> str:
    """The model :func:`build_model` should use for ``dataset_name`` unless told otherwise."""
    try:
        return _DEFAULT_MODELS[dataset_name]
    except KeyError:
        raise ValueError(
            f"dataset must be one of {', '.join(_DEFAULT_MODELS)}, but got {dataset_name!r}"
        ) from None


def build_model(
    name: str,
    *,
    input_shape: tuple[int, ...],
    n_classes: int,
    seed: int | None = None,
) -> nn.Module:
    """Build model ``name`` for examples of shape ``input_shape`` and ``n_classes`` classes.

    Args:
        name: one of :data:`MODELS`.
        input_shape: shape of one example, without the batch dimension.
        n_classes: number of output logits (>= 2).
        seed: seeds the weight initialisation without touching torch's global RNG; ``None``
            draws from the global RNG.

    Raises:
        ValueError: unknown ``name``, ``n_classes`` < 2, or an input shape the model can't take.
    """
    if name not in _BUILDERS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, but got {name!r}")
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, but got {n_classes!r}")
    input_shape = tuple(int(s) for s in input_shape)
    if not input_shape or any(s < 1 for s in input_shape):
        raise ValueError(f"input_shape must be non-empty and positive, but got {input_shape}")
    builder = _BUILDERS[name]
    if seed is None:
        return builder(input_shape, n_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(input_shape, n_classes)


def _mlp(input_shape: tuple[int, ...], n_classes: int, hidden: int = 256) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_classes),
    )


def _conv1d_bn(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv1d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    ]


def _cnn1d(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    if len(input_shape) == 1:
        channels, length = 1, input_shape[0]
        head: list[nn.Module] = [nn.Unflatten(1, (1, length))]
    elif len(input_shape) == 2:
        channels, length = input_shape
        head = []
    else:
        raise ValueError(f"model 'cnn1d' needs input_shape (L,) or (C, L), but got {input_shape}")
    if length < 4:
        raise ValueError(f"model 'cnn1d' needs a sequence length >= 4, but got {input_shape}")
    out_length = (length + 1) // 2
    out_length = (out_length + 1) // 2
    return nn.Sequential(
        *head,
        *_conv1d_bn(channels, 32, stride=1),
        *_conv1d_bn(32, 64, stride=2),
        *_conv1d_bn(64, 64, stride=2),
        nn.Flatten(),
        nn.Linear(64 * out_length, n_classes),
    )


def _image_shape(name: str, input_shape: tuple[int, ...], min_side: int) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValueError(f"model {name!r} needs input_shape (C, H, W), but got {input_shape}")
    channels, height, width = input_shape
    if min(height, width) < min_side:
        raise ValueError(f"model {name!r} needs images of at least {min_side}x{min_side}, but got {input_shape}")
    return channels, height, width


def _conv2d_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
    ]


def _cnn(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    channels, height, width = _image_shape("cnn", input_shape, min_side=4)
    pooled = min(4, height // 4, width // 4)
    return nn.Sequential(
        *_conv2d_bn(channels, 32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        *_conv2d_bn(32, 64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(pooled),
        nn.Flatten(),
        nn.Linear(64 * pooled * pooled, 128),
        nn.ReLU(),
        nn.Linear(128, n_classes),
    )


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN layers plus a (projected) shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv2d_bn(c_in, c_out, stride), nn.ReLU(), *_conv2d_bn(c_out, c_out))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(c_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _resnet(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    channels, _, _ = _image_shape("resnet", input_shape, min_side=4)
    return nn.Sequential(
        *_conv2d_bn(channels, 32),
        nn.ReLU(),
        BasicBlock(32, 32),
        BasicBlock(32, 64, stride=2),
        BasicBlock(64, 128, stride=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, n_classes),
    )


_BUILDERS: dict[str, Callable[[tuple[int, ...], int], nn.Module]] = {
    "mlp": _mlp,
    "cnn1d": _cnn1d,
    "cnn": _cnn,
    "resnet": _resnet,
}
