"""How many trials to fuse: a timing probe of the real model on the real data, at start-up.

The best group size depends on the model, the data, the device and the thread count (and on
what else loads the machine), so lrtune measures it instead of guessing a constant: it times a
few real training steps — forward, backward, optimizer step, on the task's own data — of

* ``K = 1``: the unfused path (the ``nn.Module`` and ``torch.optim`` that ``lrtune.training.train`` uses),
* ``K = 2, 4, 8, 16``: a :class:`lrtune.training.fused.StackedModel` of K members, each on its own batch,

and takes the time per **member-step** ``t(K) / K``. The candidates are timed in interleaved
rounds (K = 1, 2, 4, 8, 16, then again) and each keeps its best round, so a burst of load on a
shared machine hits every K alike and doesn't decide the choice. The chosen K is the *smallest* candidate whose
member-step time is within ``tolerance`` (10 %) of the fastest: beyond that point a larger group
buys almost no throughput but costs pruning (members of one group can't prune each other: the
median pruner only compares against finished trials) and sampler feedback (TPE learns from
finished trials). The caller also caps K (lrtune: at most half the trials of a family, so a
family runs at least two groups and the second one is pruned and sampled against the first).

Pure PyTorch: nothing here imports Optuna. The probe costs about a second on a CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrtune.training.data import Dataset
from lrtune.training.fused import StackedModel, StackedOptimizer, fusable
from lrtune.training.memory import keep_freed_memory
from lrtune.training.stacked_layers import member_losses
from lrtune.training.train import TrainConfig, build_optimizer

__all__ = ["CANDIDATES", "GroupSize", "measure_group_size"]

CANDIDATES: tuple[int, ...] = (1, 2, 4, 8, 16)
"""Group sizes the probe times (capped by ``max_size``)."""


@dataclass(frozen=True)
class GroupSize:
    """The probe's choice and what it measured: seconds per member-step for each K timed."""

    size: int
    member_step_s: dict[int, float] = field(default_factory=dict)
    reason: str = ""

    def describe(self) -> str:
        """One line, e.g. ``fuse 8 (measured ms per member-step: 1: 9.10, 2: 5.02, ...)``."""
        timed = ", ".join(f"{k}: {v * 1e3:.2f}" for k, v in sorted(self.member_step_s.items()))
        return f"fuse {self.size} ({self.reason}{'; ' if self.reason and timed else ''}{'ms per member-step: ' + timed if timed else ''})"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _SoloStepper:
    """One training step of the unfused path (``nn.Module`` + ``torch.optim``) on a random batch."""

    def __init__(self, build: Callable[[int], nn.Module], data: Dataset, config: TrainConfig) -> None:
        self.model = build(0).to(data.device).train()
        self.optimizer = build_optimizer(self.model, lr=1e-3, config=config)
        self.data, self.batch = data, config.batch_size
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self) -> None:
        index = torch.randint(len(self.data.y_train), (self.batch,), generator=self.generator).to(self.data.device)
        loss = F.cross_entropy(self.model(self.data.x_train[index]), self.data.y_train[index])
        loss.item()  # train() syncs here too (divergence check)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class _StackedStepper:
    """One training step of a K-member stack, each member on its own batch (as fused trials run)."""

    def __init__(self, build: Callable[[int], nn.Module], data: Dataset, config: TrainConfig, k: int) -> None:
        self.stack = StackedModel([build(i) for i in range(k)], device=data.device)
        self.optimizer = StackedOptimizer(
            self.stack, optimizer=config.optimizer, weight_decay=config.weight_decay, momentum=config.momentum
        )
        self.factors = [f[0] for f in self.optimizer.factors(np.full((1, k), 1e-3), 0)]
        self.data, self.batch, self.k = data, config.batch_size, k
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self) -> None:
        index = torch.randint(len(self.data.y_train), (self.k, self.batch), generator=self.generator).to(
            self.data.device
        )
        losses = member_losses(self.stack(self.data.x_train[index], per_member=True), self.data.y_train[index])
        losses.detach().tolist()
        for p in self.stack.params.values():
            p.grad = None
        losses.sum().backward()
        self.optimizer.step(self.factors)


def measure_group_size(
    build: Callable[[int], nn.Module],
    data: Dataset,
    config: TrainConfig,
    *,
    max_size: int | None = None,
    candidates: Sequence[int] = CANDIDATES,
    rounds: int = 7,
    budget_s: float = 3.0,
    tolerance: float = 1.10,
) -> GroupSize:
    """Time up to ``rounds`` interleaved training steps per candidate K and pick the group size.

    Rounds stop early (after at least two) once ``budget_s`` seconds have gone; each K's time is
    its best round. See the module docstring for the rule.

    ``build(i)`` returns a fresh model (``i`` seeds it); ``config`` gives the batch size and the
    optimizer. Returns K = 1 without timing anything when the model can't be stacked or
    ``max_size`` is 1.
    """
    if max_size is not None and max_size < 1:
        raise ValueError(f"max_size must be ≥ 1, but got {max_size!r}")
    cap = max_size if max_size is not None else max(candidates)
    sizes = sorted({k for k in candidates if 1 <= k <= cap})
    if not sizes or sizes == [1]:
        return GroupSize(1, {}, "one trial per group")
    probe = build(0)
    if not fusable(probe, data.input_shape):
        return GroupSize(1, {}, f"{type(probe).__name__} can't be stacked")
    keep_freed_memory()  # as the fused training that follows (lrtune.training.memory)
    best = {k: math.inf for k in sizes}
    with torch.random.fork_rng(devices=[]):  # the probe must not move the global RNG
        steppers = {
            k: _SoloStepper(build, data, config) if k == 1 else _StackedStepper(build, data, config, k)
            for k in sizes
        }
        for stepper in steppers.values():  # warm-up (allocations, kernel selection)
            stepper()
        started = time.perf_counter()
        # interleaved rounds: a burst of load elsewhere hits every K alike; best of the rounds counts
        for round_ in range(rounds):
            for k, stepper in steppers.items():
                _sync(data.device)
                t = time.perf_counter()
                stepper()
                _sync(data.device)
                best[k] = min(best[k], time.perf_counter() - t)
            if round_ >= 1 and time.perf_counter() - started > budget_s:
                break
    per_member = {k: v / k for k, v in best.items()}
    fastest = min(per_member.values())
    size = min(k for k, v in per_member.items() if v <= tolerance * fastest)
    return GroupSize(size, per_member, f"smallest K within {tolerance - 1:.0%} of the fastest member-step")
