"""K models of one ``nn.Sequential`` architecture as one model with stacked weights.

* **Initialisation**: the caller builds each member as it would build it alone
  (``build_model(name, ..., seed=member_seed)``); :class:`StackedModel` copies those weights
  into the stack and :meth:`StackedModel.export` copies a member's trained weights back.
* **Layers** (:mod:`lrtune.training.stacked_layers`): every activation is members first, batch last.
  ``nn.Linear`` → weights ``[K, out, in]`` and ``yᵀ = W xᵀ + b`` as one ``torch.baddbmm`` on
  features ``[K, F, B]`` (the first layer reads a shared batch through a stride-0 view).
  ``nn.Conv1d`` (``cnn1d``) → im2col + one ``bmm`` per layer on activations ``[K, C, L, B]``, so
  Flatten is a view; ``nn.BatchNorm1d`` → one batch norm of all members' ``[K·C, L·B]`` rows
  (ReLU fused in when it follows). Other convolutions (``cnn``'s Conv2d, pooling) → one grouped
  convolution (``groups = K``) over member-major stacked channels. An ``nn.Sequential`` of these
  layers stacks (lrtune's ``mlp``, ``cnn1d``, ``cnn``) when the order of its layers does:
  :func:`why_not_fusable` walks the plan through the layouts ``forward`` uses before any
  training and says why not (e.g. a Linear on a convolution's output without a Flatten), never
  raising, for any ``nn.Module``.
* **Evaluation**: :meth:`StackedModel.evaluate_metric` measures every member in one pass, as
  :func:`lrtune.training.epochs.evaluate_metric` measures one model.

Pure PyTorch; :mod:`lrtune.training.fused` trains it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lrtune.training.epochs import chance_score
from lrtune.training.metrics import ACCURACY, Metric
from lrtune.training.stacked_layers import (
    NotFusableError,
    Op,
    batch_norm,
    check_layouts,
    conv1d_gemm,
    conv_gemm_ok,
    plan,
)

__all__ = ["NotFusableError", "StackedModel", "fusable", "why_not_fusable"]


def why_not_fusable(model: nn.Module, input_shape: Sequence[int] | None = None) -> str | None:
    """None when :class:`StackedModel` can stack copies of ``model``, else the reason (one line).

    The whole plan is checked before any training — the layers, their options and the order of
    layouts :meth:`StackedModel.forward` goes through — for the examples' ``input_shape`` when it
    is given. Any ``nn.Module`` may be passed: this never raises.
    """
    try:
        if isinstance(model, nn.Sequential) and type(model).forward is not nn.Sequential.forward:
            return f"{type(model).__name__} overrides nn.Sequential.forward"
        if isinstance(model, nn.Sequential) and len({id(m) for m in model}) != len(model):
            return "a layer object appears twice in the model (shared weights) and can't be stacked"
        ops = plan(model)
        dims = None if input_shape is None else len(tuple(input_shape))
        check_layouts(ops, conv_gemm_ok(ops), dims)
        names = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]
        known = {op.prefix + k for op in ops for k in op.module.state_dict()}
        extra = [n for n in names if n not in known]
        if extra:
            return f"parameter or buffer {extra[0]!r} is outside the stackable layers"
    except NotFusableError as exc:
        return str(exc)
    except Exception as exc:  # an arbitrary module tree: never raise, just say no
        return (
            f"{type(model).__name__} can't be inspected for stacking ({type(exc).__name__}: {exc})".splitlines()[0]
        )
    return None


def fusable(model: nn.Module, input_shape: Sequence[int] | None = None) -> bool:
    """True exactly when :class:`StackedModel` can stack and train copies of ``model``.

    See :func:`why_not_fusable` (the layout check runs here, before any training); never raises.
    """
    return why_not_fusable(model, input_shape) is None


class StackedModel:
    """K models of one ``nn.Sequential`` architecture as one model with stacked weights.

    Every tensor has the member in dimension 0: Linear weights ``[K, out, in]`` (as
    ``nn.Linear.weight``), biases ``[K, out, 1]``; conv weights ``[K, C_out, C_in, *kernel]``;
    batch-norm weights, biases and running statistics ``[K, C]``. :meth:`forward` takes one
    shared batch ``[B, *input_shape]`` and returns logits ``[K, B, n_classes]``.
    """

    def __init__(
        self, models: Sequence[nn.Module], *, device: torch.device | str | None = None, conv: str = "auto"
    ) -> None:
        if conv not in ("auto", "gemm", "grouped"):
            raise ValueError(f"conv must be one of auto, gemm, grouped, but got {conv!r}")
        if not models:
            raise ValueError("models must hold at least one model, but got none")
        reason = why_not_fusable(models[0])
        if reason is not None:
            raise NotFusableError(reason)
        self.ops = plan(models[0])
        reference = {k: tuple(v.shape) for k, v in models[0].state_dict().items()}
        for i, m in enumerate(models[1:], start=1):
            shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
            if shapes != reference:
                raise NotFusableError(
                    f"model {i} differs in its layers or shapes from model 0; all members must be one architecture"
                )
        first = next(iter(models[0].parameters()))
        self.device = torch.device(device) if device is not None else first.device
        self.params: dict[str, torch.Tensor] = {}
        self.buffers: dict[str, torch.Tensor] = {}
        self.bn_batches = 0  # training forwards so far (BatchNorm's num_batches_tracked)
        self.conv_gemm = conv_gemm_ok(self.ops) if conv == "auto" else conv == "gemm"
        if conv == "gemm" and not conv_gemm_ok(self.ops):
            raise NotFusableError("conv='gemm' needs Conv1d layers (groups 1, dilation 1) without pooling")
        check_layouts(self.ops, self.conv_gemm, None)  # the layouts forward() will meet, before training
        self.training = True
        states = [m.state_dict() for m in models]
        with torch.no_grad():
            for op in self.ops:
                for key, tensor in op.module.state_dict().items():
                    full = op.prefix + key
                    if key == "num_batches_tracked":
                        self.bn_batches = int(tensor)
                        continue
                    stacked = torch.stack([self._to_stack(op, key, s[full]) for s in states]).to(self.device)
                    if key in ("running_mean", "running_var"):
                        self.buffers[full] = stacked.contiguous()
                    else:
                        self.params[full] = stacked.contiguous().requires_grad_(True)

    @property
    def size(self) -> int:
        """Number of members K currently in the stack."""
        return next(iter(self.params.values())).shape[0]

    def train(self, mode: bool = True) -> StackedModel:
        self.training = mode
        return self

    def eval(self) -> StackedModel:
        return self.train(False)

    @staticmethod
    def _to_stack(op: Op, key: str, value: torch.Tensor) -> torch.Tensor:
        return value.unsqueeze(1) if op.kind == "linear" and key == "bias" else value

    @staticmethod
    def _from_stack(op: Op, key: str, value: torch.Tensor) -> torch.Tensor:
        return value.squeeze(1) if op.kind == "linear" and key == "bias" else value

    # ------------------------------------------------------------------ forward

    def forward(self, x: torch.Tensor, *, per_member: bool = False) -> torch.Tensor:
        """Logits ``[K, B, n_classes]`` of every member (a view of the head's ``[K, n_classes, B]``).

        ``x`` is one batch shared by all members ``[B, ...]``, or with ``per_member`` one batch per
        member ``[K, B, ...]`` (each member's own mini-batch, as its solo run would draw it). The
        layouts (see :mod:`lrtune.training.stacked_layers`): the input ``shared`` ``[B, ...]`` or ``member``
        ``[K, B, ...]`` → ``kclb`` ``[K, C, L, B]`` (im2col convolutions) or ``chan`` ``[B, K·C, ...]``
        (grouped convolutions) → ``kfb`` ``[K, F, B]``. The plan was checked at construction
        (:func:`lrtune.training.stacked_layers.check_layouts`), so every layer meets a layout it handles.
        """
        K = self.size
        B = x.shape[1] if per_member else x.shape[0]
        if per_member and x.shape[0] != K:
            raise ValueError(f"a per-member batch must hold {K} batches, but got {x.shape[0]}")
        layout = "member" if per_member else "shared"
        skip_relu = False  # a ReLU right after a batch norm runs inside it
        for i, op in enumerate(self.ops):
            if skip_relu:
                skip_relu = False
                continue
            relu_next = i + 1 < len(self.ops) and self.ops[i + 1].kind == "relu"
            x, layout = self._layer(op, x, layout, K, B, relu_next=relu_next)
            skip_relu = relu_next and op.kind == "bn" and layout in ("kclb", "kfb")
        if self.training:
            self.bn_batches += 1
        if layout == "kfb":
            return x.transpose(1, 2)
        if layout == "kclb":
            return x.permute(0, 3, 1, 2).reshape(K, B, -1)
        return x.reshape(B, K, -1).transpose(0, 1)  # chan

    def _layer(
        self, op: Op, x: torch.Tensor, layout: str, K: int, B: int, *, relu_next: bool
    ) -> tuple[torch.Tensor, str]:
        """One layer of every member: ``(output, its layout)``; a stacked batch norm applies the
        ReLU that follows it when ``relu_next``."""
        m, kind = op.module, op.kind
        if kind == "linear":  # yᵀ = W xᵀ + b per member: [K, out, in] @ [K, in, B]
            x = self._features(x, layout, K, m)
            w, bias = self.params[op.prefix + "weight"], self.params.get(op.prefix + "bias")
            return (torch.bmm(w, x) if bias is None else torch.baddbmm(bias, w, x)), "kfb"
        if kind == "conv":
            return self._conv_gemm(op, x, layout) if self.conv_gemm else self._conv_grouped(op, x, layout, K, B)
        if kind == "bn":
            features = layout in ("shared", "member") and x.ndim == (2 if layout == "shared" else 3)
            if layout in ("kclb", "kfb") or features:
                return self._batch_norm_stacked(op, x, layout, K, relu=relu_next)
            return self._batch_norm_channels(op, x, layout, K, B), "chan"
        if kind == "relu":
            return F.relu(x), layout
        if kind == "flatten":
            return self._flatten(m, x, layout, K, B)
        if kind == "unflatten":  # only on the input (checked in the plan)
            return (m(x) if layout == "shared" else m(x.flatten(0, 1)).unflatten(0, (K, B))), layout
        # pooling and other per-channel modules
        return (m(x.flatten(0, 1)).unflatten(0, (K, B)) if layout == "member" else m(x)), layout

    def _conv_gemm(self, op: Op, x: torch.Tensor, layout: str) -> tuple[torch.Tensor, str]:
        """Conv1d of every member as one im2col GEMM, in the ``kclb`` layout."""
        if layout == "shared":  # [B, C, L] → [1, C, L, B]: the same columns for every member
            x = x.permute(1, 2, 0).unsqueeze(0)
        elif layout == "member":  # [K, B, C, L] → [K, C, L, B]
            x = x.permute(0, 2, 3, 1)
        return conv1d_gemm(
            x, op.module, self.params[op.prefix + "weight"], self.params.get(op.prefix + "bias")
        ), "kclb"

    def _conv_grouped(self, op: Op, x: torch.Tensor, layout: str, K: int, B: int) -> tuple[torch.Tensor, str]:
        """Conv1d/Conv2d of every member as one grouped convolution over ``[B, K·C, ...]``."""
        m = op.module
        conv = F.conv1d if isinstance(m, nn.Conv1d) else F.conv2d
        w = self.params[op.prefix + "weight"]
        w = w.reshape(K * w.shape[1], *w.shape[2:])
        bias = self.params.get(op.prefix + "bias")
        if layout == "member":
            x, layout = x.transpose(0, 1).reshape(B, -1, *x.shape[3:]), "chan"
        if layout == "shared" and m.groups != 1:
            x = x.repeat(1, K, *([1] * (x.ndim - 2)))
            layout = "chan"
        groups = m.groups * K if layout == "chan" else 1
        x = conv(x, w, None if bias is None else bias.reshape(-1), m.stride, m.padding, m.dilation, groups)
        return x, "chan"

    def _batch_norm_stacked(
        self, op: Op, x: torch.Tensor, layout: str, K: int, *, relu: bool
    ) -> tuple[torch.Tensor, str]:
        """BatchNorm of every member in one pass over ``kclb`` or ``kfb`` (a following ReLU folded in)."""
        if layout != "kclb":
            x, layout = self._features(x, layout, K, op.module).contiguous(), "kfb"
        return batch_norm(
            x, K * x.shape[1], op.module, self.params, self.buffers, op.prefix, self.training, relu=relu
        ), layout

    def _batch_norm_channels(self, op: Op, x: torch.Tensor, layout: str, K: int, B: int) -> torch.Tensor:
        """BatchNorm of every member as torch's batch norm over ``[B, K·C, ...]``."""
        m = op.module
        if layout == "shared":
            x = x.repeat(1, K, *([1] * (x.ndim - 2)))
        elif layout == "member":
            x = x.transpose(0, 1).reshape(B, -1, *x.shape[3:])
        return F.batch_norm(
            x,
            self.buffers[op.prefix + "running_mean"].view(-1),
            self.buffers[op.prefix + "running_var"].view(-1),
            self.params[op.prefix + "weight"].reshape(-1),
            self.params[op.prefix + "bias"].reshape(-1),
            self.training,
            m.momentum,
            m.eps,
        )

    @staticmethod
    def _flatten(m: nn.Module, x: torch.Tensor, layout: str, K: int, B: int) -> tuple[torch.Tensor, str]:
        """``nn.Flatten`` of every member, in the layout it leaves."""
        if layout == "kclb":  # member k as nn.Flatten on [B, C, L]: c·L + l
            return x.reshape(K, -1, B), "kfb"
        if layout == "shared":
            return m(x), layout
        if layout == "member":
            return x.reshape(K, B, -1), layout
        if layout == "chan":  # [B, K·C, ...] → [K, F, B]
            return x.reshape(B, K, -1).permute(1, 2, 0), "kfb"
        return x, layout

    __call__ = forward

    @staticmethod
    def _features(x: torch.Tensor, layout: str, K: int, m: nn.Module) -> torch.Tensor:
        """Features ``[K, F, B]`` of a shared ``[B, F]``, per-member ``[K, B, F]`` or ``kfb`` input (views)."""
        if layout == "kfb":
            return x
        if layout in ("chan", "kclb"):
            raise NotFusableError(f"{m} on a convolution's output can't be stacked (flatten first)")
        if x.ndim != (2 if layout == "shared" else 3):
            raise NotFusableError(
                f"{m} on a {x.ndim - (layout == 'member')}-d input can't be stacked (flatten first)"
            )
        return x.t().expand(K, -1, -1) if layout == "shared" else x.transpose(1, 2)

    # ------------------------------------------------------------------ members in and out

    def keep(self, index: Sequence[int]) -> None:
        """Keep only the members at positions ``index`` (in that order): the stack shrinks."""
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.device)
        with torch.no_grad():
            self.params = {k: v.index_select(0, idx).requires_grad_(True) for k, v in self.params.items()}
            self.buffers = {k: v.index_select(0, idx) for k, v in self.buffers.items()}

    @torch.no_grad()
    def export(self, position: int, model: nn.Module) -> nn.Module:
        """Copy member ``position``'s weights and buffers into ``model`` (same architecture)."""
        target = model.state_dict()
        for op in self.ops:
            for key in op.module.state_dict():
                full = op.prefix + key
                if key == "num_batches_tracked":
                    target[full].fill_(self.bn_batches)
                    continue
                source = self.params.get(full, self.buffers.get(full))
                target[full].copy_(self._from_stack(op, key, source[position]))
        return model

    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 2048
    ) -> tuple[list[float], list[float]]:
        """Per member: accuracy and mean cross-entropy on ``(x, y)``, in eval mode (as ``train.evaluate``)."""
        accuracies, losses, _ = self.evaluate_metric(x, y, batch_size=batch_size)
        return accuracies, losses

    @torch.no_grad()
    def evaluate_metric(
        self, x: torch.Tensor, y: torch.Tensor, *, metric: Metric = ACCURACY, batch_size: int = 2048
    ) -> tuple[list[float], list[float], list[float]]:
        """Per member: accuracy, mean cross-entropy and ``metric``'s score on ``(x, y)``, in eval
        mode — each member's per-example scores summed in float64, as :func:`lrtune.training.train.evaluate_metric`
        (a non-finite score becomes the uniform predictor's)."""
        if len(y) == 0:
            raise ValueError("cannot evaluate on an empty split")
        was_training = self.training
        self.eval()
        K = self.size
        correct = torch.zeros(K, dtype=torch.long, device=self.device)
        loss_sum = torch.zeros(K, dtype=torch.float64, device=self.device)
        score_sum = torch.zeros(K, dtype=torch.float64, device=self.device)
        n_classes = 0
        try:
            for start in range(0, len(y), batch_size):
                xb, yb = x[start : start + batch_size], y[start : start + batch_size]
                logits = self.forward(xb)
                n, C = logits.shape[1], logits.shape[2]
                n_classes = C
                losses = F.cross_entropy(logits.reshape(K * n, C), yb.repeat(K), reduction="none")
                loss_sum += losses.view(K, n).sum(1, dtype=torch.float64)
                correct += (logits.argmax(dim=2) == yb).sum(1)
                if metric is not ACCURACY:
                    score_sum += metric.sums(logits, yb)
        finally:
            self.train(was_training)
        n_total = len(y)
        accuracies = [c / n_total for c in correct.tolist()]
        scores = list(accuracies) if metric is ACCURACY else [s / n_total for s in score_sum.tolist()]
        if not all(math.isfinite(s) for s in scores):
            chance = chance_score(metric, y, n_classes)
            scores = [s if math.isfinite(s) else chance for s in scores]
        return accuracies, [s / n_total for s in loss_sum.tolist()], scores
