"""The compute floor: how fast one epoch could be if training were only its matmuls at full rate.

The floor of an epoch is the model's training FLOPs over a measured float32 matmul rate:

    floor_s_per_epoch = 3 × forward_flops × training examples / (GFLOP/s × 1e9)

(3 × forward: the forward pass plus a backward pass of about twice its cost). Forward FLOPs are
counted from the Linear/Conv layer shapes; the rate is the best of a few 2048² matmuls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
from torch import nn

from lrtune.training.data import Dataset

__all__ = ["compute_floor", "forward_flops", "matmul_gflops"]


def forward_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one example's forward pass through the Linear and Conv layers (2 per multiply-add).

    Counted from the layer shapes with forward hooks on a one-example batch; normalisation,
    activations and pooling are not counted (they are memory-bound and small here).
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += 2 * module.in_features * module.out_features * (output.numel() // module.out_features)
        else:  # Conv: every output element is a dot product of C_in/groups · prod(kernel)
            total += 2 * output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def matmul_gflops(*, n: int = 2048, repeats: int = 10, device: str = "cpu") -> float:
    """Best-of-``repeats`` float32 rate of an ``n×n @ n×n`` matmul, in GFLOP/s (2n³ FLOPs)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    a @ b
    sync()
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def compute_floor(model: nn.Module, data: Dataset, gflops: float) -> dict[str, float]:
    """The training FLOPs of one epoch (3 × forward × training examples) and their time at ``gflops``."""
    fwd = forward_flops(model, data.input_shape)
    epoch = 3 * fwd * len(data.y_train)
    return {
        "forward_flops_per_example": fwd,
        "train_gflop_per_epoch": epoch / 1e9,
        "floor_s_per_epoch": epoch / (gflops * 1e9),
    }
