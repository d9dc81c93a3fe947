"""Fused trials: K models of one architecture trained at once as one stacked model.

Small models leave a CPU (or GPU) mostly idle between tiny kernels; stacking K trials of one
family into one model turns K small matrix products into one batched product and K optimizer
steps into one, so K trials cost little more than one. Each member keeps its own weights,
initialisation, schedule and optimizer state and ends exactly where the same trial trained alone
by :func:`lrtune.train.train` ends (to float rounding):

* **Initialisation**: the caller builds each member as it would build it alone
  (``build_model(name, ..., seed=member_seed)``); :class:`StackedModel` copies those weights
  into the stack and :meth:`StackedModel.export` copies a member's trained weights back.
* **Data order**: member k draws the mini-batches ``train`` would draw for its own seed
  (``data_seeds[k]``; lrtune passes each trial's seed), so every member is exactly the trial it
  would have been unfused. Each epoch stacks the members' permutations into ``[K, n]``; a step
  gathers its ``[K, B]`` index in one batched gather (``x_train[index]`` → ``[K, B, ...]``) and
  the stack reads one batch per member. Members that share one seed read one batch through a
  stride-0 view instead.
* **Layers** (:mod:`lrtune.stacked_layers`): every activation is members first, batch last.
  ``nn.Linear`` → weights ``[K, out, in]`` and ``yᵀ = W xᵀ + b`` as one ``torch.baddbmm`` on
  features ``[K, F, B]`` (the first layer reads a shared batch through a stride-0 view).
  ``nn.Conv1d`` (``cnn1d``) → im2col + one ``bmm`` per layer on activations ``[K, C, L, B]``, so
  Flatten is a view; ``nn.BatchNorm1d`` → one batch norm of all members' ``[K·C, L·B]`` rows
  (ReLU fused in when it follows). Other convolutions (``cnn``'s Conv2d, pooling) → one grouped
  convolution (``groups = K``) over member-major stacked channels. An ``nn.Sequential`` of these
  layers stacks (lrtune's ``mlp``, ``cnn1d``, ``cnn``) when the order of its layers does:
  :func:`why_not_fusable` walks the plan through the layouts ``forward`` uses before any
  training and says why not (e.g. a Linear on a convolution's output without a Flatten), never
  raising, for any ``nn.Module``. ``train_fused(mode="auto")`` trains anything else
  (``resnet``, users' own modules) member by member through :func:`lrtune.train.train`, with a
  one-line warning; so is ``schedulefree`` (its Schedule-Free optimizer is not stacked).
* **Optimizer**: :class:`StackedOptimizer` is torch's SGD (Nesterov momentum, L2 weight decay)
  or AdamW, written out with a per-member learning rate ``lr[k]`` broadcast over each weight's
  member dimension — the same arithmetic as ``torch.optim`` in the same order.
* **Schedules**: each member's LR curve is precomputed (``Schedule.curve_multipliers``) into a
  ``[steps, K]`` block per epoch; ``plateau`` members get their reduction from a
  :class:`lrtune.schedules.ScheduleLR` told the member's oriented validation score (``sign · score``
  in ``config.metric``; the accuracy by default), as ``train`` does.
* **Leaving the stack**: a member stops when ``on_epoch_end`` asks (pruning), when its loss is
  not finite (divergence: its weights are taken *before* the bad step, as ``train`` does) or when
  its validation loss is not finite; the stack is then compacted so it costs nothing more.

Nothing here imports Optuna; :func:`lrtune.objective.run_fused_trials` drives it with ask/tell.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrtune.data import Dataset, iterate_batches, steps_per_epoch
from lrtune.memory import keep_freed_memory
from lrtune.metrics import ACCURACY, Metric
from lrtune.stacked_layers import (
    NotFusableError,
    Op,
    batch_norm,
    check_layouts,
    conv1d_gemm,
    conv_gemm_ok,
    member_losses,
    plan,
)
from lrtune.train import OPTIMIZERS, EpochResult, TrainConfig, TrainResult, chance_score, evaluate_metric, train

__all__ = [
    "FUSE_MODES",
    "MemberResult",
    "NotFusableError",
    "StackedModel",
    "StackedOptimizer",
    "fusable",
    "train_fused",
    "why_not_fusable",
]

FUSE_MODES: tuple[str, ...] = ("auto", "stacked", "sequential")
"""``stacked``: one stacked model (error if the architecture can't be stacked); ``sequential``:
member by member through ``train``; ``auto``: stacked where the architecture allows it."""

_ADAM_BETAS = (0.9, 0.999)  # torch.optim.AdamW's defaults, as lrtune.train uses them
_ADAM_EPS = 1e-8


# ---------------------------------------------------------------------------------------------
# The stacked model


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
        member ``[K, B, ...]`` (each member's own mini-batch, as its solo run would draw it).
        """
        K = self.size
        B = x.shape[1] if per_member else x.shape[0]
        if per_member and x.shape[0] != K:
            raise ValueError(f"a per-member batch must hold {K} batches, but got {x.shape[0]}")
        # input: shared [B, ...] or per member [K, B, ...] → kclb [K, C, L, B] (im2col convolutions)
        # or chan [B, K·C, ...] (grouped convolutions) → kfb [K, F, B]; see lrtune.stacked_layers
        layout = "member" if per_member else "shared"
        p, buf = self.params, self.buffers
        fused_relu = False  # a ReLU right after a batch norm runs inside it
        for i, op in enumerate(self.ops):
            m, kind = op.module, op.kind
            if fused_relu:
                fused_relu = False
                continue
            if kind == "linear":  # yᵀ = W xᵀ + b per member: [K, out, in] @ [K, in, B]
                x = self._features(x, layout, K, m)
                w, bias = p[op.prefix + "weight"], p.get(op.prefix + "bias")
                x, layout = (torch.bmm(w, x) if bias is None else torch.baddbmm(bias, w, x)), "kfb"
            elif kind == "conv" and self.conv_gemm:
                if layout == "shared":  # [B, C, L] → [1, C, L, B]: the same columns for every member
                    x = x.permute(1, 2, 0).unsqueeze(0)
                elif layout == "member":  # [K, B, C, L] → [K, C, L, B]
                    x = x.permute(0, 2, 3, 1)
                x = conv1d_gemm(x, m, p[op.prefix + "weight"], p.get(op.prefix + "bias"))
                layout = "kclb"
            elif kind == "bn" and (
                layout in ("kclb", "kfb")
                or (layout in ("shared", "member") and x.ndim == (2 if layout == "shared" else 3))
            ):
                if layout != "kclb":
                    x, layout = self._features(x, layout, K, m).contiguous(), "kfb"
                fused_relu = i + 1 < len(self.ops) and self.ops[i + 1].kind == "relu"
                x = batch_norm(x, K * x.shape[1], m, p, buf, op.prefix, self.training, relu=fused_relu)
            elif kind == "flatten" and layout == "kclb":  # member k as nn.Flatten on [B, C, L]: c·L + l
                x, layout = x.reshape(K, -1, B), "kfb"
            elif kind == "conv":
                if layout == "kfb":
                    raise NotFusableError(f"{m} after a Linear layer can't be stacked")
                conv = F.conv1d if isinstance(m, nn.Conv1d) else F.conv2d
                w = p[op.prefix + "weight"]
                w = w.reshape(K * w.shape[1], *w.shape[2:])
                bias = p.get(op.prefix + "bias")
                if layout == "member":
                    x, layout = x.transpose(0, 1).reshape(B, -1, *x.shape[3:]), "chan"
                if layout == "shared" and m.groups != 1:
                    x = x.repeat(1, K, *([1] * (x.ndim - 2)))
                    layout = "chan"
                groups = m.groups * K if layout == "chan" else 1
                x = conv(x, w, None if bias is None else bias.reshape(-1), m.stride, m.padding, m.dilation, groups)
                layout = "chan"
            elif kind == "bn":
                if layout == "kfb":
                    raise NotFusableError(f"{m} after a Linear layer can't be stacked")
                if layout == "shared":
                    x = x.repeat(1, K, *([1] * (x.ndim - 2)))
                elif layout == "member":
                    x = x.transpose(0, 1).reshape(B, -1, *x.shape[3:])
                layout = "chan"
                x = F.batch_norm(
                    x,
                    buf[op.prefix + "running_mean"].view(-1),
                    buf[op.prefix + "running_var"].view(-1),
                    p[op.prefix + "weight"].reshape(-1),
                    p[op.prefix + "bias"].reshape(-1),
                    self.training,
                    m.momentum,
                    m.eps,
                )
            elif kind == "relu":
                x = F.relu(x)
            elif kind == "flatten":
                if layout == "shared":
                    x = m(x)
                elif layout == "member":
                    x = x.reshape(K, B, -1)
                elif layout == "chan":  # [B, K·C, ...] → [K, F, B]
                    x, layout = x.reshape(B, K, -1).permute(1, 2, 0), "kfb"
            elif kind == "unflatten":
                if layout not in ("shared", "member"):
                    raise NotFusableError(f"{m} after a layer with weights can't be stacked")
                x = m(x) if layout == "shared" else m(x.flatten(0, 1)).unflatten(0, (K, B))
            else:  # pooling and other per-channel modules
                if layout == "kfb" and not isinstance(m, nn.Identity):
                    raise NotFusableError(f"{m} after a Linear layer can't be stacked")
                x = m(x.flatten(0, 1)).unflatten(0, (K, B)) if layout == "member" else m(x)
        if self.training:
            self.bn_batches += 1
        if layout == "kfb":
            return x.transpose(1, 2)
        if layout == "kclb":
            return x.permute(0, 3, 1, 2).reshape(K, B, -1)
        return x.reshape(B, K, -1).transpose(0, 1)  # chan

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
        mode — each member's per-example scores summed in float64, as :func:`lrtune.train.evaluate_metric`
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


# ---------------------------------------------------------------------------------------------
# The stacked optimizer


class StackedOptimizer:
    """torch's ``SGD`` (Nesterov) or ``AdamW`` over a :class:`StackedModel`, one LR per member.

    ``sgd`` (as ``torch.optim.SGD(momentum=μ, nesterov=μ > 0, weight_decay=λ)``)::

        d = g + λ·p;  b = d (first step) else μ·b + d;  d = d + μ·b (Nesterov) or b;  p -= lr_k·d

    ``adamw`` (as ``torch.optim.AdamW(weight_decay=λ)``, betas (0.9, 0.999), eps 1e-8)::

        p *= 1 − lr_k·λ;  m = lerp(m, g, 1 − β₁);  v = β₂·v + (1 − β₂)·g²;
        p -= (lr_k / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + eps)

    :meth:`step` takes the step's per-member factors precomputed by :meth:`factors`.
    """

    def __init__(self, model: StackedModel, *, optimizer: str, weight_decay: float, momentum: float) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, but got {optimizer!r}")
        self.model = model
        self.kind = optimizer
        self.weight_decay = float(weight_decay)
        self.momentum = float(momentum)
        self.steps = 0
        self.state: dict[str, list[torch.Tensor]] = {}

    def factors(self, lrs: np.ndarray, first_step: int) -> tuple[torch.Tensor, ...]:
        """Per-step, per-member factors for ``lrs`` ``[S, K]`` (float64) starting at step ``first_step``.

        ``sgd``: ``(lr,)``; ``adamw``: ``(1 − lr·λ, −lr/(1 − β₁ᵗ))``; each ``[S, K]`` on the model's
        device in the weights' dtype, computed in float64 exactly as torch does in Python.
        """
        dev = self.model.device
        dtype = next(iter(self.model.params.values())).dtype
        if self.kind == "sgd":
            return (torch.from_numpy(lrs).to(dev, dtype),)
        t = np.arange(first_step + 1, first_step + 1 + lrs.shape[0], dtype=np.float64)[:, None]
        bias1 = np.array([1 - _ADAM_BETAS[0] ** float(s) for s in t[:, 0]])[:, None]
        decay = 1 - lrs * self.weight_decay
        step_size = lrs / bias1
        return (torch.from_numpy(decay).to(dev, dtype), torch.from_numpy(-step_size).to(dev, dtype))

    @torch.no_grad()
    def step(self, factors: Sequence[torch.Tensor]) -> None:
        """One update of every member; ``factors`` are rows (``[K]``) of :meth:`factors`' output.

        Works in place (the gradients are used as scratch space and are garbage afterwards).
        """
        params = list(self.model.params.values())
        grads = [p.grad for p in params]
        views = lambda row: [row.view(-1, *([1] * (p.ndim - 1))) for p in params]  # noqa: E731
        self.steps += 1
        if self.kind == "sgd":
            if self.weight_decay:
                torch._foreach_add_(grads, params, alpha=self.weight_decay)
            if self.momentum:
                if "momentum" not in self.state:
                    self.state["momentum"] = [g.clone() for g in grads]
                else:
                    torch._foreach_mul_(self.state["momentum"], self.momentum)
                    torch._foreach_add_(self.state["momentum"], grads)
                torch._foreach_add_(grads, self.state["momentum"], alpha=self.momentum)  # Nesterov
            torch._foreach_addcmul_(params, grads, views(factors[0]), value=-1)
            return
        b1, b2 = _ADAM_BETAS
        if "exp_avg" not in self.state:
            self.state["exp_avg"] = [torch.zeros_like(p) for p in params]
            self.state["exp_avg_sq"] = [torch.zeros_like(p) for p in params]
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        if self.weight_decay:
            torch._foreach_mul_(params, views(factors[0]))
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        bias2_sqrt = (1 - b2 ** float(self.steps)) ** 0.5
        denom = grads  # scratch: denom = √v / √(1 − β₂ᵗ) + eps, then m / denom
        torch._foreach_copy_(denom, v)
        torch._foreach_sqrt_(denom)
        torch._foreach_div_(denom, bias2_sqrt)
        torch._foreach_add_(denom, _ADAM_EPS)
        for mi, di in zip(m, denom):
            torch.div(mi, di, out=di)
        torch._foreach_addcmul_(params, denom, views(factors[1]))

    def keep(self, index: Sequence[int]) -> None:
        """Drop the state of members not in ``index`` (call with the model's :meth:`StackedModel.keep`)."""
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.model.device)
        self.state = {k: [t.index_select(0, idx) for t in ts] for k, ts in self.state.items()}


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class MemberResult:
    """One member of a fused run: its :class:`~lrtune.train.TrainResult` and its trained model.

    ``result.seconds`` is the member's share of the group's wall-clock time: each epoch's time
    is divided among the members trained in it, so the shares of a group add up to its time.
    """

    index: int
    result: TrainResult
    model: nn.Module


class _Member:
    """Book-keeping of one member while it is in the stack."""

    def __init__(self, index: int, model: nn.Module, schedule: Any, total_steps: int, n_steps: int) -> None:
        self.index = index
        self.model = model
        self.schedule = schedule
        self.curve = np.asarray(schedule.curve_multipliers(total_steps), dtype=np.float64)
        self.peak = float(schedule.peak_lr)
        # a ScheduleLR on a one-number optimizer keeps plateau's reactive state exactly as train's
        dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=self.peak)
        self.scheduler = schedule.build(dummy, total_steps)
        self.result = TrainResult(
            val_accuracies=[],
            val_accuracy=math.nan,
            test_accuracy=math.nan,
            epochs_run=0,
            seconds=0.0,
            diverged=False,
            stopped_early=False,
            lr_trace=[],
            steps_per_epoch=n_steps,
        )
        self.loss_sum = 0.0
        self.done = False
        self.generator: torch.Generator | None = None  # the member's batch order (its data seed)

    def lrs(self, start: int, stop: int) -> np.ndarray:
        """LR of steps ``start..stop-1`` as ``ScheduleLR`` computes them: base · (m(t) · reactive)."""
        reactive = float(getattr(self.scheduler, "reactive", 1.0))
        t = np.minimum(np.arange(start, stop), len(self.curve) - 1)
        return self.peak * (self.curve[t] * reactive)


class _Clock:
    """Shares wall-clock time out among the members that used it."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def share(self, members: Sequence[_Member]) -> None:
        now = time.perf_counter()
        for member in members:
            member.result.seconds += (now - self.last) / len(members)
        self.last = now


def train_fused(
    models: Sequence[nn.Module],
    data: Dataset,
    schedules: Sequence[Any],
    *,
    config: TrainConfig,
    on_epoch_end: Callable[[int, EpochResult], bool | None] | None = None,
    on_member_end: Callable[[MemberResult], None] | None = None,
    mode: str = "auto",
    data_seeds: Sequence[int] | None = None,
) -> list[MemberResult]:
    """Train ``models[k]`` with ``schedules[k]`` for every k at once; like K calls of ``train``.

    Member k sees the batch order ``train`` draws for ``data_seeds[k]`` (default: ``config.seed``
    for every member), so member k is the run ``train(models[k], data, schedules[k],
    config=replace(config, seed=data_seeds[k]))``. Members with different seeds get their own
    mini-batches: each step gathers a ``[K, B]`` index into the training tensors (one batched
    gather); members sharing one seed read one batch through a stride-0 view. After every epoch each
    member's :class:`~lrtune.train.EpochResult` goes to ``on_epoch_end(k, result)``; True stops
    member k (``stopped_early``). ``on_member_end(member_result)`` runs as soon as a member is
    finished (completed, stopped, or diverged), with its test accuracy measured. Returns the
    members' results in the order of ``models``. ``mode`` is one of :data:`FUSE_MODES`.
    """
    if len(models) != len(schedules):
        raise ValueError(
            f"models and schedules must have the same length, but got {len(models)} and {len(schedules)}"
        )
    if mode not in FUSE_MODES:
        raise ValueError(f"mode must be one of {', '.join(FUSE_MODES)}, but got {mode!r}")
    seeds = [config.seed] * len(models) if data_seeds is None else [int(s) for s in data_seeds]
    if len(seeds) != len(models):
        raise ValueError(f"data_seeds must have one seed per model, but got {len(seeds)} for {len(models)} models")
    if not models:
        return []
    if any(getattr(s, "schedule_free", False) for s in schedules):
        mode = "sequential"  # Schedule-Free optimizers aren't stacked: schedulefree runs member by member
    if mode == "stacked":
        reason = why_not_fusable(models[0], data.input_shape)
        if reason is not None:
            raise NotFusableError(reason)
    elif mode == "auto" and len(models) > 1:
        reason = why_not_fusable(models[0], data.input_shape)
        if reason is not None:
            warnings.warn(
                f"lrtune: can't stack {type(models[0]).__name__} ({reason}); training the {len(models)} members one by one",
                RuntimeWarning,
                stacklevel=2,
            )
            mode = "sequential"
    if mode == "sequential":
        return _train_sequential(
            models,
            data,
            schedules,
            config=config,
            on_epoch_end=on_epoch_end,
            on_member_end=on_member_end,
            seeds=seeds,
        )
    return _train_stacked(
        models, data, schedules, config=config, on_epoch_end=on_epoch_end, on_member_end=on_member_end, seeds=seeds
    )


def _train_sequential(
    models, data, schedules, *, config, on_epoch_end, on_member_end, seeds
) -> list[MemberResult]:
    out = []
    for k, (model, schedule) in enumerate(zip(models, schedules)):
        callback = None if on_epoch_end is None else (lambda r, k=k: on_epoch_end(k, r))
        member = MemberResult(
            k, train(model, data, schedule, config=replace(config, seed=seeds[k]), on_epoch_end=callback), model
        )
        if on_member_end is not None:
            on_member_end(member)
        out.append(member)
    return out


def _train_stacked(models, data, schedules, *, config, on_epoch_end, on_member_end, seeds) -> list[MemberResult]:
    keep_freed_memory()  # a step's activations are reused, not page-faulted in again (lrtune.memory)
    for model in models:
        model.to(data.device)
    n_steps = steps_per_epoch(len(data.y_train), config.batch_size)
    total_steps = config.epochs * n_steps
    stack = StackedModel(models, device=data.device)
    optimizer = StackedOptimizer(
        stack, optimizer=config.optimizer, weight_decay=config.weight_decay, momentum=config.momentum
    )
    alive = [_Member(k, m, s, total_steps, n_steps) for k, (m, s) in enumerate(zip(models, schedules))]
    finished: dict[int, MemberResult] = {}
    shared = len(set(seeds)) == 1  # one batch order for all: one batch, read through a stride-0 view
    generator = torch.Generator().manual_seed(seeds[0])
    for member, seed in zip(alive, seeds):
        member.generator = torch.Generator().manual_seed(seed)
    n_train, batch_size = len(data.y_train), config.batch_size
    metric = config.metric
    clock = _Clock()

    def finish(member: _Member, position: int, *, needs_val: bool) -> None:
        """Export the member's weights, measure what train() measures at the end, hand it over."""
        clock.share([m for m in alive if not m.done])
        member.done = True
        model = stack.export(position, member.model)
        result = member.result
        result.metric = metric.name
        if needs_val:
            result.val_accuracy, _, result.val_score = evaluate_metric(
                model, data.x_val, data.y_val, metric=metric, batch_size=config.eval_batch_size
            )
        result.test_accuracy, _, result.test_score = evaluate_metric(
            model, data.x_test, data.y_test, metric=metric, batch_size=config.eval_batch_size
        )
        clock.share([member])
        done = MemberResult(member.index, result, model)
        finished[member.index] = done
        if on_member_end is not None:
            on_member_end(done)

    def compact(leaving: set[int]) -> None:
        keep = [i for i in range(len(alive)) if i not in leaving]
        alive[:] = [alive[i] for i in keep]
        if alive:
            stack.keep(keep)
            optimizer.keep(keep)

    stack.train()
    for epoch in range(1, config.epochs + 1):
        if not alive:
            break
        epoch_started = time.perf_counter()
        first = (epoch - 1) * n_steps
        lrs = np.stack([m.lrs(first, first + n_steps) for m in alive], axis=1)  # [S, K] float64
        factors = optimizer.factors(lrs, optimizer.steps)
        for member in alive:
            member.result.epochs_run = epoch
            member.loss_sum = 0.0
        seen = 0
        if shared:
            batches = iterate_batches(data.x_train, data.y_train, batch_size=batch_size, generator=generator)
        else:  # each member's permutation, drawn as iterate_batches draws it for that member's seed
            order = torch.stack([torch.randperm(n_train, generator=m.generator) for m in alive]).to(data.device)
            batches = ((None, None) for _ in range(n_steps))
        for i, (xb, yb) in enumerate(batches):
            if not shared:  # one batched gather: [K, B] indices → [K, B, ...] examples and labels
                index = order[:, i * batch_size : (i + 1) * batch_size]
                xb, yb = data.x_train[index], data.y_train[index]
            losses = member_losses(stack(xb, per_member=not shared), yb)
            values = losses.detach().tolist()
            bad = {j for j, v in enumerate(values) if not math.isfinite(v)}
            for j in sorted(bad):  # diverged: its weights as they were before this step
                alive[j].result.diverged = True
                finish(alive[j], j, needs_val=True)
            if len(bad) == len(alive):
                alive.clear()
                break
            for p in stack.params.values():
                p.grad = None
            losses.sum().backward()
            optimizer.step([f[i] for f in factors])
            n_batch = yb.shape[-1]
            for j, member in enumerate(alive):
                if j not in bad:
                    member.result.lr_trace.append(float(lrs[i, j]))
                    member.loss_sum += values[j] * n_batch
            seen += n_batch
            if bad:
                keep = [j for j in range(len(alive)) if j not in bad]
                lrs = lrs[:, keep]
                factors = tuple(f[:, keep] for f in factors)
                if not shared:
                    order = order[keep]
                compact(bad)
        if not alive:
            break
        val_accuracies, val_losses, val_scores = stack.evaluate_metric(
            data.x_val, data.y_val, metric=metric, batch_size=config.eval_batch_size
        )
        leaving: set[int] = set()
        for j, member in enumerate(alive):
            result = member.result
            if not math.isfinite(val_losses[j]):
                result.diverged = True
                result.val_accuracy, result.val_score = val_accuracies[j], val_scores[j]
                leaving.add(j)
                continue
            member.scheduler.epoch_end(metric.sign * val_scores[j])  # oriented: higher is better
            train_loss = member.loss_sum / seen
            result.val_accuracies.append(val_accuracies[j])
            result.val_losses.append(val_losses[j])
            result.train_losses.append(train_loss)
            result.val_scores.append(val_scores[j])
            result.val_accuracy, result.val_score = val_accuracies[j], val_scores[j]
        clock.share(alive)
        epoch_seconds = time.perf_counter() - epoch_started
        for j, member in enumerate(alive):
            if j in leaving:
                continue
            report = EpochResult(
                epoch=epoch,
                val_accuracy=member.result.val_accuracy,
                val_loss=member.result.val_losses[-1],
                train_loss=member.result.train_losses[-1],
                lr=member.result.lr_trace[-1],
                seconds=epoch_seconds,
                val_score=member.result.val_score,
            )
            if on_epoch_end is not None and on_epoch_end(member.index, report):
                member.result.stopped_early = True
                leaving.add(j)
        for j in sorted(leaving):
            finish(alive[j], j, needs_val=False)
        if leaving:
            compact(leaving)
    for j, member in enumerate(alive):
        finish(member, j, needs_val=False)
    return [finished[k] for k in range(len(models))]
