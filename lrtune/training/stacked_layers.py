"""The layers of a stacked model: which ``nn.Sequential`` layouts stack, and the stacked kernels.

:func:`plan` turns a model into a list of :class:`Op` (or says why it can't be stacked) and
:func:`check_layouts` walks that plan through the layouts :class:`lrtune.training.stacked_model.StackedModel`
uses, before any training. The kernels keep every tensor **members first, batch last**:

* ``kfb`` — features ``[K, F, B]``: a Linear layer is ``yᵀ = W xᵀ + b`` per member, one
  ``baddbmm`` of weights ``[K, out, in]`` (``nn.Linear``'s own layout) and ``[K, in, B]``;
  BatchNorm1d is one native batch norm of ``[1, K·F, B]`` (statistics per member and feature
  over the batch, all members in one reduction).
* ``kclb`` — 1-d convolution activations ``[K, C, L, B]``: a Conv1d is im2col (:class:`Im2col`,
  columns ``[K, C·k, L_out·B]`` built from contiguous batch vectors) and one ``bmm`` with the
  weights ``[K, C_out, C·k]`` (a view of ``nn.Conv1d``'s ``[C_out, C, k]``); BatchNorm1d is one
  native batch norm of ``[1, K·C, L·B]``; Flatten to ``kfb`` is a view (feature ``c·L + l``, as
  ``nn.Flatten`` of ``[B, C, L]``).
* ``chan`` — ``[B, K·C, ...]``, member-major channels, for what im2col does not cover (Conv2d,
  pooling): one grouped convolution (``groups = K``) and one batch norm over ``K·C`` channels.

Every member's statistics, weights and optimizer state stay its own, so a member computes what
the same layer computes alone, up to the order of float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lrtune.errors import LrtuneError

__all__ = [
    "Im2col",
    "NotFusableError",
    "Op",
    "BatchNormFn",
    "batch_norm",
    "check_layouts",
    "conv_gemm_ok",
    "member_losses",
    "plan",
]


class NotFusableError(LrtuneError, ValueError):
    """The models can't be stacked (an unsupported layer, or members of different shapes)."""


@dataclass(frozen=True)
class Op:
    kind: str  # linear, conv, bn, relu, same (shape-agnostic module applied as is), flatten, unflatten
    module: nn.Module
    prefix: str  # state-dict prefix of the layer ("3." for the 4th child)


SAME = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.Identity,
)


def plan(model: nn.Module) -> list[Op]:
    """The layer-by-layer plan of a stackable model, or :class:`NotFusableError` saying why not."""
    if not isinstance(model, nn.Sequential):
        raise NotFusableError(f"only nn.Sequential models can be stacked, but got {type(model).__name__}")
    ops: list[Op] = []
    for name, layer in model.named_children():
        prefix = f"{name}."
        if isinstance(layer, nn.Linear):
            ops.append(Op("linear", layer, prefix))
        elif isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
                raise NotFusableError(f"layer {name} ({layer}) must use numeric zero padding to be stacked")
            ops.append(Op("conv", layer, prefix))
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not (layer.affine and layer.track_running_stats and layer.momentum is not None):
                raise NotFusableError(
                    f"layer {name} ({layer}) must be affine with running stats and a momentum to be stacked"
                )
            ops.append(Op("bn", layer, prefix))
        elif isinstance(layer, nn.ReLU):
            ops.append(Op("relu", layer, prefix))
        elif isinstance(layer, nn.Flatten):
            if layer.start_dim != 1 or layer.end_dim != -1:
                raise NotFusableError(f"layer {name} ({layer}) must flatten dims 1..-1 to be stacked")
            ops.append(Op("flatten", layer, prefix))
        elif isinstance(layer, nn.Unflatten):
            ops.append(Op("unflatten", layer, prefix))
        elif isinstance(layer, SAME):
            ops.append(Op("same", layer, prefix))
        else:
            raise NotFusableError(f"layer {name} ({type(layer).__name__}) can't be stacked")
    if not any(op.kind in ("linear", "conv") for op in ops):
        raise NotFusableError("a stackable model needs at least one Linear or Conv layer")
    return ops


def conv_gemm_ok(ops: list[Op]) -> bool:
    """Whether every convolution can run as im2col + bmm (1-d, groups 1, dilation 1, no pooling)."""
    kinds = [op.kind for op in ops]
    convs = [op.module for op in ops if op.kind == "conv"]
    if not convs or "same" in kinds:
        return False
    first = kinds.index("conv")
    if (
        "bn" in kinds[:first]
        or "linear" in kinds[:first]
        or ("linear" in kinds and "conv" in kinds[kinds.index("linear") :])
    ):
        return False
    return all(isinstance(c, nn.Conv1d) and c.groups == 1 and c.dilation == (1,) for c in convs)


def check_layouts(ops: list[Op], conv_gemm: bool, feature_dims: int | None) -> None:
    """Walk the plan through the stacked forward's layouts; :class:`NotFusableError` if it would refuse.

    Layouts: ``input`` (the batch as given, shared ``[B, ...]`` or per member ``[K, B, ...]``),
    ``chan`` (``[B, K·C, ...]``, member-major channels), ``kclb`` (``[K, C, L, B]``, the im2col path),
    ``kfb`` (``[K, F, B]``). ``feature_dims`` is the number of dimensions of one example where it
    is known (``len(input_shape)``), tracked through Flatten/Unflatten; None assumes the input suits
    the first layer.
    """
    layout, dims = "input", feature_dims
    for op in ops:
        m, kind = op.module, op.kind
        if kind == "linear":
            if layout in ("chan", "kclb"):
                raise NotFusableError(f"{m} on a convolution's output can't be stacked (flatten first)")
            if layout == "input" and dims is not None and dims != 1:
                raise NotFusableError(f"{m} on a {dims}-d example can't be stacked (flatten first)")
            layout, dims = "kfb", 1
        elif kind == "conv":
            if layout == "kfb":
                raise NotFusableError(f"{m} after a Linear layer can't be stacked")
            want = 2 if isinstance(m, nn.Conv1d) else 3
            if layout == "input" and dims is not None and dims != want:
                raise NotFusableError(f"{m} on a {dims}-d example can't be stacked")
            layout = "kclb" if conv_gemm else "chan"
        elif kind == "bn":
            want = (1, 2) if isinstance(m, nn.BatchNorm1d) else (3,)
            if layout == "input" and dims is not None and dims not in want:
                raise NotFusableError(f"{m} on a {dims}-d example can't be stacked")
            if layout == "kfb" and not isinstance(m, nn.BatchNorm1d):
                raise NotFusableError(f"{m} after a Linear layer can't be stacked")
            if layout == "input":
                layout = "kfb" if dims == 1 else "chan"
        elif kind == "flatten":
            if layout in ("chan", "kclb"):
                layout = "kfb"
            dims = 1
        elif kind == "unflatten":
            if layout != "input":
                raise NotFusableError(f"{m} after a layer with weights can't be stacked")
            if m.dim == 0:
                raise NotFusableError(f"{m} unflattens the batch dimension; it can't be stacked")
            if dims is not None:
                dims += len(m.unflattened_size) - 1
        elif kind == "same":
            if layout == "kfb" and not isinstance(m, nn.Identity):
                raise NotFusableError(f"{m} after a Linear layer can't be stacked")
            if layout == "kclb":
                raise NotFusableError(f"{m} after an im2col convolution can't be stacked")
            if (
                isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d))
                and layout == "input"
                and dims is not None
            ):
                if dims != (2 if isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)) else 3):
                    raise NotFusableError(f"{m} on a {dims}-d example can't be stacked")


# ---------------------------------------------------------------------------------------------
# Kernels


def batch_norm(
    x: torch.Tensor,
    channels: int,
    module: nn.Module,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    prefix: str,
    training: bool,
    *,
    relu: bool = False,
) -> torch.Tensor:
    """Per-member BatchNorm (then ReLU with ``relu``) of a contiguous ``[K, C, ...]`` (``kfb`` or ``kclb``).

    The tensor is read as ``[K·C, n]``: channel (k, c) is normalised over its ``n`` values
    (batch × length) — what ``nn.BatchNorm1d`` does for member k alone — for all members at
    once (:class:`BatchNormFn`). In eval mode: ``x·s + (β − μ_run·s)`` with ``s = γ / √(σ²_run + eps)``.
    """
    flat = x.reshape(channels, -1)
    weight, bias = params[prefix + "weight"].reshape(-1), params[prefix + "bias"].reshape(-1)
    mean, var = buffers[prefix + "running_mean"].view(-1), buffers[prefix + "running_var"].view(-1)
    if training:
        out = BatchNormFn.apply(flat, weight, bias, mean, var, module.momentum, module.eps, relu)
    else:
        scale = weight * torch.rsqrt(var + module.eps)
        out = torch.mul(flat, scale.unsqueeze(1)).add_((bias - mean * scale).unsqueeze(1))
        if relu:
            out = F.relu(out)
    return out.view(x.shape)


class BatchNormFn(torch.autograd.Function):
    """Training-mode batch norm of every row of ``x [G, n]`` (G = members × channels), optionally + ReLU.

    Forward, per row: ``μ = Σx / n``, ``d = x − μ``, ``σ² = Σd² / n`` (two passes, as torch's CPU
    kernel), ``y = γ·d/√(σ² + eps) + β``; the running statistics move in place by ``momentum``
    towards ``μ`` and the unbiased ``σ²·n/(n − 1)``. Backward, with ``s = γ/√(σ² + eps)``::

        ∂β = Σg;  ∂γ = Σ(g·d)/√(σ² + eps);  ∂x = s·(g − Σg/n − d·Σ(g·d)/(n·(σ² + eps)))

    Row sums and dot products over contiguous rows: torch's own batch norm of ``[1, G, n]``
    computes the statistics with a per-channel Welford loop, ~5× slower on these shapes.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum: float, eps: float, relu: bool):
        n = x.shape[1]
        mean = x.sum(1, keepdim=True) / n
        d = x - mean
        var = torch.linalg.vecdot(d, d) / n
        rstd = torch.rsqrt(var + eps)
        out = torch.mul(d, (weight * rstd).unsqueeze(1)).add_(bias.unsqueeze(1))  # (addcmul: 3× slower)
        if relu:
            out.clamp_min_(0)
        running_mean.mul_(1 - momentum).add_(mean.squeeze(1), alpha=momentum)
        running_var.mul_(1 - momentum).add_(var, alpha=momentum * n / max(n - 1, 1))
        ctx.save_for_backward(d, rstd, weight, out if relu else None)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        d, rstd, weight, out = ctx.saved_tensors
        n = d.shape[1]
        g = grad.contiguous() if out is None else torch.ops.aten.threshold_backward(grad, out, 0)
        g_sum = g.sum(1)
        g_dot = torch.linalg.vecdot(g, d)
        scale = weight * rstd
        grad_x = torch.mul(g, scale.unsqueeze(1)).sub_((scale * g_sum / n).unsqueeze(1))
        grad_x.addcmul_(d, (-scale * rstd * rstd * g_dot / n).unsqueeze(1))
        return grad_x, g_dot * rstd, g_sum, None, None, None, None, None


class Im2col(torch.autograd.Function):
    """``[M, C, L, B]`` → columns ``[M, C·k, L_out·B]`` of a zero-padded, strided 1-d convolution.

    Row ``c·k + j``, column ``l·B + b`` is ``x[m, c, stride·l + j − pad, b]`` (0 outside), so
    ``W.view(C_out, C·k) @ columns`` is ``nn.Conv1d`` with weight ``W [C_out, C, k]``. Forward and
    backward are k strided copies/adds of contiguous batch vectors (whole ``L·B`` slabs at stride 1).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int, stride: int, pad: int) -> torch.Tensor:
        M, C, L, B = x.shape
        length = (L + 2 * pad - k) // stride + 1
        cols = x.new_empty(M, C, k, length, B)
        for j, (lo, hi, src) in enumerate(_taps(L, length, k, stride, pad)):
            if lo > 0:
                cols[:, :, j, :lo].zero_()
            if hi < length:
                cols[:, :, j, hi:].zero_()
            if hi > lo:
                cols[:, :, j, lo:hi].copy_(x[:, :, src : src + stride * (hi - lo - 1) + 1 : stride])
        ctx.shape, ctx.args = x.shape, (k, stride, pad)
        return cols.view(M, C * k, length * B)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        M, C, L, B = ctx.shape
        k, stride, pad = ctx.args
        length = grad.shape[2] // B
        g = grad.reshape(M, C, k, length, B)
        out = grad.new_zeros(M, C, L, B)
        for j, (lo, hi, src) in enumerate(_taps(L, length, k, stride, pad)):
            if hi > lo:
                out[:, :, src : src + stride * (hi - lo - 1) + 1 : stride].add_(g[:, :, j, lo:hi])
        return out, None, None, None


def _taps(L: int, length: int, k: int, stride: int, pad: int) -> list[tuple[int, int, int]]:
    """For each kernel tap j: output rows ``lo..hi`` that read inside the input, from position ``src``."""
    out = []
    for j in range(k):
        lo = max(0, -(-(pad - j) // stride))  # first l with stride·l + j − pad ≥ 0
        hi = min(length, (L - 1 + pad - j) // stride + 1)  # last l with stride·l + j − pad ≤ L − 1, + 1
        out.append((lo, max(lo, hi), stride * lo + j - pad))
    return out


def conv1d_gemm(x: torch.Tensor, conv: nn.Conv1d, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Stacked Conv1d of ``x [M, C, L, B]`` (M = 1: one input shared by all members) → ``[K, C_out, L_out, B]``.

    ``out[k] = W[k].view(C_out, C·k) @ im2col(x[k]) (+ b[k])``: one ``bmm`` for all members.
    """
    (k,), (stride,), (pad,) = conv.kernel_size, conv.stride, conv.padding
    K, c_out = weight.shape[0], weight.shape[1]
    B = x.shape[3]
    cols = Im2col.apply(x, k, stride, pad)
    if cols.shape[0] != K:
        cols = cols.expand(K, -1, -1)
    w = weight.reshape(K, c_out, -1)
    out = torch.bmm(w, cols) if bias is None else torch.baddbmm(bias.unsqueeze(2), w, cols)
    return out.view(K, c_out, -1, B)


def member_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each member on its batch: ``[K]`` (``y`` shared ``[B]`` or per member ``[K, B]``).

    ``logits [K, B, n_classes]`` is read as ``[K, n_classes, B]`` (class dimension 1), which is
    how the stacked Linear head writes them, so no copy is made.
    """
    K, B, _ = logits.shape
    target = y if y.ndim == 2 else y.unsqueeze(0).expand(K, B)
    return F.cross_entropy(logits.transpose(1, 2), target, reduction="none").mean(1)
