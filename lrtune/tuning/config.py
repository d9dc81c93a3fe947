"""Study configuration: one validated, immutable record of what a study tunes and how.

Two parts:

* :class:`TaskConfig` — everything that makes trials comparable (dataset, model, epochs,
  optimizer, search ranges, sampler, pruner, seed). It is stored in the study's user attrs;
  resuming under the same study name with a different ``TaskConfig`` is refused.
* :class:`RunConfig` — how this invocation runs (families, trials, timeout, storage, device,
  workers, ...). It can change between resumes.

Presets (``studies/*.toml``) hold keys of both; the CLI's flags override them.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from lrtune.core.spaces import resolve_families
from lrtune.errors import LrtuneError
from lrtune.training.data import DATASETS
from lrtune.training.metrics import DIRECTIONS, METRICS, natural_direction
from lrtune.training.models import MODELS, default_model
from lrtune.training.schedule_free import LR_SCALE
from lrtune.training.train import OPTIMIZERS
from lrtune.tuning.storage import DEFAULT_STORAGE

__all__ = [
    "ConfigError",
    "LR_RANGES",
    "PRUNERS",
    "RunConfig",
    "SAMPLERS",
    "TaskConfig",
    "load_preset",
]

SAMPLERS: tuple[str, ...] = ("tpe", "random", "qmc", "cmaes", "gp")
PRUNERS: tuple[str, ...] = ("median", "hyperband", "none")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")

LR_RANGES: Mapping[str, tuple[float, float]] = {"sgd": (1e-3, 1.0), "adamw": (1e-5, 1e-2)}
"""Default peak-LR search range per optimizer (log scale)."""


class ConfigError(LrtuneError, ValueError):
    """A configuration value is invalid; the message is one line, fit for a CLI."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an integer ≥ 1, but got {value!r}")
    return value


def _choice(name: str, value: Any, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ConfigError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    return value


def _pair(
    name: str, value: Any, *, low_bound: float, strict_low: bool, high_bound: float | None = None
) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be two numbers LOW,HIGH, but got {value!r}") from None
    low_ok = low > low_bound if strict_low else low >= low_bound
    high_ok = high_bound is None or high < high_bound
    if not (math.isfinite(low) and math.isfinite(high) and low_ok and high_ok and low <= high):
        rel = "<" if strict_low else "≤"
        top = f" < {high_bound:g}" if high_bound is not None else ""
        raise ConfigError(f"{name} must satisfy {low_bound:g} {rel} LOW ≤ HIGH{top}, but got {value!r}")
    return (low, high)


@dataclass(frozen=True)
class TaskConfig:
    """What is being compared. Every field is recorded in the study's ``lrtune_config`` attr."""

    dataset: str = "mnist1d"
    model: str | None = None
    epochs: int = 15
    batch_size: int = 128
    optimizer: str = "sgd"
    weight_decay: float = 5e-4
    lr_range: tuple[float, float] | None = None
    warmup_range: tuple[float, float] = (0.0, 0.1)
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    val_fraction: float = 0.1
    user_task: str | None = None  # --task module:callable (lrtune.training.user_task); dataset = this path
    task_fingerprint: str | None = None  # of the user task's data, set when it is loaded
    metric: str = (
        "accuracy"  # what trials are selected on (lrtune.training.metrics); a user task's is set when loaded
    )
    direction: str | None = None  # "maximize"/"minimize"; None: the metric's own

    def __post_init__(self) -> None:
        if self.user_task is not None:
            if (
                not isinstance(self.user_task, str)
                or self.user_task.count(":") != 1
                or not all(self.user_task.split(":"))
            ):
                raise ConfigError(
                    f"task must be 'module:callable' (e.g. examples.my_task:make_task), but got {self.user_task!r}"
                )
            object.__setattr__(self, "dataset", self.user_task)
            object.__setattr__(self, "model", self.model or "task")  # the model's class name once loaded
        else:
            _choice("dataset", self.dataset, DATASETS)
            model = self.model if self.model is not None else default_model(self.dataset)
            _choice("model", model, MODELS)
            object.__setattr__(self, "model", model)
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if (
            isinstance(self.weight_decay, bool)
            or not isinstance(self.weight_decay, (int, float))
            or not (math.isfinite(self.weight_decay) and self.weight_decay >= 0)
        ):
            raise ConfigError(f"weight_decay must be a number ≥ 0, but got {self.weight_decay!r}")
        object.__setattr__(self, "weight_decay", float(self.weight_decay))
        lr = self.lr_range if self.lr_range is not None else LR_RANGES[self.optimizer]
        object.__setattr__(self, "lr_range", _pair("lr_range", lr, low_bound=0.0, strict_low=True))
        object.__setattr__(
            self,
            "warmup_range",
            _pair("warmup_range", self.warmup_range, low_bound=0.0, strict_low=False, high_bound=1.0),
        )
        _choice("sampler", self.sampler, SAMPLERS)
        _choice("pruner", self.pruner, PRUNERS)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer ≥ 0, but got {self.seed!r}")
        if not isinstance(self.val_fraction, (int, float)) or not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), but got {self.val_fraction!r}")
        self._check_metric()

    def _check_metric(self) -> None:
        """metric: a built-in name, or (user tasks) the name of the task's own metric; direction:
        given, else the built-in metric's own."""
        if not isinstance(self.metric, str) or not self.metric.isidentifier():
            raise ConfigError(f"metric must be a name, but got {self.metric!r}")
        if self.user_task is None and self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; valid: {', '.join(METRICS)}")
        direction = self.direction if self.direction is not None else natural_direction(self.metric)
        if direction is None:
            raise ConfigError(f"metric {self.metric!r} needs a direction: {' or '.join(DIRECTIONS)}")
        _choice("direction", direction, DIRECTIONS)
        object.__setattr__(self, "direction", direction)

    @property
    def default_metric(self) -> bool:
        """True for lrtune's default, validation accuracy maximised (stored configurations omit it)."""
        return self.metric == "accuracy" and self.direction == "maximize"

    @property
    def task(self) -> str:
        """The comparison unit: families are only compared within one task.

        ``dataset/model/epochs/optimizer``, then ``/metric`` unless the metric is the default
        (accuracy, maximised), with ``-min``/``-max`` when its direction is not the metric's own."""
        label = f"{self.dataset}/{self.model}/{self.epochs}ep/{self.optimizer}"
        if self.default_metric:
            return label
        own = natural_direction(self.metric) == self.direction
        return f"{label}/{self.metric}" + ("" if own else f"-{str(self.direction)[:3]}")

    def lr_range_for(self, family: str) -> tuple[float, float]:
        """The peak-LR search range of ``family``: ``lr_range``, except ``schedulefree``'s, which is
        scaled by :data:`lrtune.training.schedule_free.LR_SCALE` (Schedule-Free SGD wants ~10× the LR)."""
        if family != "schedulefree":
            return self.lr_range  # type: ignore[return-value]
        low, high = self.lr_range  # type: ignore[misc]
        return (low * LR_SCALE[self.optimizer], high * LR_SCALE[self.optimizer])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (tuples become lists, as they come back from storage)."""
        out = dataclasses.asdict(self)
        out["lr_range"] = list(self.lr_range)  # type: ignore[arg-type]
        out["warmup_range"] = list(self.warmup_range)
        if self.user_task is None:  # built-in tasks store exactly what they stored before
            out.pop("user_task")
            out.pop("task_fingerprint")
        if self.default_metric:  # so do studies on the default metric
            out.pop("metric")
            out.pop("direction")
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TaskConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in known})


@dataclass(frozen=True)
class RunConfig:
    """How this invocation runs; free to change between resumes of the same studies."""

    families: tuple[str, ...] = ("cosine",)
    trials: int = 20
    timeout: float | None = None
    storage: str = DEFAULT_STORAGE
    study_name: str | None = None
    device: str = "auto"
    data_dir: str = "data"
    download: bool = False
    workers: int = 1
    threads: int | None = None
    fuse: int | None = None  # None: measured at start-up (lrtune.training.group_size); 1: off
    artifacts: bool = True
    artifact_dir: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        try:
            families = resolve_families(self.families if not isinstance(self.families, str) else self.families)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        object.__setattr__(self, "families", families)
        _positive_int("trials", self.trials)
        if self.timeout is not None and not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise ConfigError(f"timeout must be a number of seconds > 0, but got {self.timeout!r}")
        _choice("device", self.device, DEVICES)
        _positive_int("workers", self.workers)
        if self.threads is not None:
            _positive_int("threads", self.threads)
        if self.fuse is not None:
            _positive_int("fuse", self.fuse)
        if not isinstance(self.storage, str) or not self.storage:
            raise ConfigError(f"storage must be an Optuna storage URL, but got {self.storage!r}")
        if self.study_name is not None and (not isinstance(self.study_name, str) or not self.study_name.strip()):
            raise ConfigError(f"study_name must be a non-empty string, but got {self.study_name!r}")

    def study_name_for(self, task: TaskConfig, family: str) -> str:
        """``{study_name or dataset-model}-{family}``: one study per family."""
        base = self.study_name or f"{task.dataset.replace(':', '.')}-{task.model}"
        return f"{base}-{family}"


_TASK_KEYS = {f.name: f for f in fields(TaskConfig)}
_RUN_KEYS = {f.name: f for f in fields(RunConfig)}
_PRESET_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (str,),
    "model": (str,),
    "epochs": (int,),
    "batch_size": (int,),
    "optimizer": (str,),
    "weight_decay": (int, float),
    "lr_range": (list,),
    "warmup_range": (list,),
    "sampler": (str,),
    "pruner": (str,),
    "seed": (int,),
    "val_fraction": (float,),
    "family": (str, list),
    "trials": (int,),
    "timeout": (int, float),
    "storage": (str,),
    "study_name": (str,),
    "device": (str,),
    "data_dir": (str,),
    "download": (bool,),
    "workers": (int,),
    "threads": (int,),
    "fuse": (int,),
    "artifacts": (bool,),
    "artifact_dir": (str,),
    "description": (str,),
    "task": (str,),
}


def load_preset(path: str | Path) -> dict[str, Any]:
    """Read a preset TOML (flat keys, the CLI's long option names with ``_``) and check every key.

    Returns the raw values (``family`` may be a string or a list). Raises :class:`ConfigError`
    for a missing or unreadable file, invalid TOML, an unknown key or a value of the wrong type.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            values = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"preset {str(path)!r} not found (presets live in studies/*.toml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read preset {str(path)!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"preset {str(path)!r} is not valid TOML: {exc}") from None
    for key, value in values.items():
        if key not in _PRESET_TYPES:
            raise ConfigError(
                f"preset {str(path)!r}: unknown key {key!r}; valid keys: {', '.join(sorted(_PRESET_TYPES))}"
            )
        types = _PRESET_TYPES[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            want = " or ".join(
                {
                    "str": "a string",
                    "int": "an integer",
                    "float": "a number",
                    "list": "a list",
                    "bool": "true/false",
                }[t.__name__]
                for t in types
            )
            raise ConfigError(f"preset {str(path)!r}: {key} must be {want}, but got {value!r}")
    values.pop("description", None)
    return values


def split_values(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split flat option values into TaskConfig and RunConfig keyword arguments."""
    task = {k: v for k, v in values.items() if k in _TASK_KEYS}
    run = {k: v for k, v in values.items() if k in _RUN_KEYS}
    if "family" in values:
        run["families"] = values["family"]
    if values.get("task") is not None:  # a user task (--task / task = "module:callable")
        for key in ("dataset", "model"):
            if key in values:
                raise ConfigError(
                    f"--task {values['task']} brings its own data and model; drop {key} = {values[key]!r}"
                )
        task["user_task"] = values["task"]
    return task, run
