"""Study configuration: one validated, immutable record of what a study tunes and how.

Two parts:

* :class:`TaskConfig` — everything that makes trials comparable (dataset, model, epochs,
  optimizer, search ranges, sampler, pruner, seed). It is stored in the study's user attrs;
  resuming under the same study name with a different ``TaskConfig`` is refused.
* :class:`RunConfig` — how this invocation runs (families, trials, timeout, storage, device,
  workers, ...). It can change between resumes.

Presets (``studies/*.toml``) hold keys of both; the CLI's flags override them. Each option is
declared once, as a field of one of the two records (:func:`option`: default, kind, help, flag,
preset key); :data:`OPTIONS` lists them, and ``lrtune.study``'s flags and :data:`PRESET_TYPES`
derive from it. The training settings default to :class:`~lrtune.training.train.TrainConfig`'s.
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

from lrtune.core.schedules import FAMILIES
from lrtune.core.spaces import resolve_families
from lrtune.errors import LrtuneError
from lrtune.training.data import DATASETS
from lrtune.training.metrics import DIRECTIONS, METRICS, natural_direction
from lrtune.training.models import MODELS, default_model
from lrtune.training.schedule_free import LR_SCALE
from lrtune.training.train import OPTIMIZERS, TrainConfig
from lrtune.tuning.storage import DEFAULT_STORAGE

__all__ = [
    "ConfigError",
    "LR_RANGES",
    "OPTIONS",
    "PRESET_TYPES",
    "Option",
    "PRUNERS",
    "RunConfig",
    "SAMPLERS",
    "TaskConfig",
    "load_preset",
    "task_label",
]

SAMPLERS: tuple[str, ...] = ("tpe", "random", "qmc", "cmaes", "gp")
PRUNERS: tuple[str, ...] = ("median", "hyperband", "none")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")

LR_RANGES: Mapping[str, tuple[float, float]] = {"sgd": (1e-3, 1.0), "adamw": (1e-5, 1e-2)}
"""Default peak-LR search range per optimizer (log scale)."""


class ConfigError(LrtuneError, ValueError):
    """A configuration value is invalid; the message is one line, fit for a CLI."""


def task_label(config: Mapping[str, Any]) -> str:
    """The comparison unit of a (stored) task configuration; the one rule for the ``lrtune_task`` attr.

    ``dataset/model/epochs/optimizer``, then ``/metric`` unless the metric is the default
    (accuracy, maximised), with ``-min``/``-max`` when its direction is not the metric's own.
    Missing keys show as ``?``.

    >>> task_label({"dataset": "digits", "model": "mlp", "epochs": 6, "optimizer": "sgd", "metric": "loss"})
    'digits/mlp/6ep/sgd/loss'
    """
    get = lambda key: config.get(key, "?")  # noqa: E731
    label = f"{get('dataset')}/{get('model')}/{get('epochs')}ep/{get('optimizer')}"
    metric = config.get("metric") or "accuracy"
    own = natural_direction(metric)
    direction = config.get("direction") or own
    if metric == "accuracy" and direction == "maximize":
        return label
    return f"{label}/{metric}" + ("" if own == direction else f"-{str(direction)[:3]}")


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
class Option:
    """One option, declared once: the CLI flag, the preset key and the record field derive from it.

    ``key`` is the preset key and the flag without ``--`` and with ``-`` for ``_`` (``family``,
    ``task``); ``field`` the attribute of :class:`TaskConfig` (``stored``: in the study's
    ``lrtune_config``) or :class:`RunConfig` (not stored); ``kind`` one of ``int``, ``float``,
    ``str``, ``range`` (``LOW,HIGH``), ``families`` (a name, ``a,b`` or a list), ``on`` (a flag
    that turns it on, e.g. ``--download``) or ``off`` (a ``--no-`` flag that turns it off, e.g.
    ``--no-artifacts``); ``flag`` None for options only a preset sets, ``preset`` False for options
    no preset sets.
    """

    key: str
    field: str
    kind: str
    default: Any
    help: str
    stored: bool
    flag: str | None
    preset: bool

    @property
    def preset_types(self) -> tuple[type, ...]:
        """The TOML value types a preset may give."""
        return _PRESET_TYPES_OF_KIND[self.kind]


_PRESET_TYPES_OF_KIND: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "range": (list,),
    "families": (str, list),
    "on": (bool,),
    "off": (bool,),
}


def option(
    default: Any,
    help: str,
    *,
    kind: str,
    key: str | None = None,
    flag: bool = True,
    preset: bool = True,
    choices: tuple[str, ...] = (),
) -> Any:
    """A dataclass field that declares its option (see :class:`Option`); ``help`` may name
    ``{default}`` and ``{choices}``."""
    text = help.format(default=default, choices=", ".join(choices))
    meta = {"kind": kind, "key": key, "help": text, "flag": flag, "preset": preset}
    return dataclasses.field(default=default, metadata=meta)


def _lr_range_help() -> str:
    ranges = ", ".join(f"{low:g},{high:g} for {name}" for name, (low, high) in LR_RANGES.items())
    return f"peak LR search range LOW,HIGH (default: {ranges})"


@dataclass(frozen=True)
class TaskConfig:
    """What is being compared. Every field is recorded in the study's ``lrtune_config`` attr.

    The training settings (epochs, batch size, optimizer, weight decay) default to
    :class:`~lrtune.training.train.TrainConfig`'s, which trials are trained with.
    """

    dataset: str = option("mnist1d", "one of {choices} (default {default})", kind="str", choices=DATASETS)
    model: str | None = option(None, "one of {choices} (default: the dataset's)", kind="str", choices=MODELS)
    epochs: int = option(TrainConfig.epochs, "epochs per trial (default {default})", kind="int")
    batch_size: int = option(TrainConfig.batch_size, "training batch size (default {default})", kind="int")
    optimizer: str = option(
        TrainConfig.optimizer,
        "one of {choices} (default {default}: Nesterov momentum 0.9)",
        kind="str",
        choices=OPTIMIZERS,
    )
    weight_decay: float = option(TrainConfig.weight_decay, "weight decay (default {default:g})", kind="float")
    lr_range: tuple[float, float] | None = option(None, _lr_range_help(), kind="range")
    warmup_range: tuple[float, float] = option(
        (0.0, 0.1), "warmup fraction search range LOW,HIGH (default 0,0.1)", kind="range", flag=False
    )
    sampler: str = option("tpe", "one of {choices} (default {default})", kind="str", choices=SAMPLERS)
    pruner: str = option(
        "median", "one of {choices} (default {default}; only at epochs ⌈E/2⌉..E−1)", kind="str", choices=PRUNERS
    )
    seed: int = option(0, "base seed of samplers, splits and trials (default {default})", kind="int")
    val_fraction: float = option(
        0.1, "validation share of the training data (default {default})", kind="float", flag=False
    )
    # --task module:callable (lrtune.training.user_task); dataset = this path
    user_task: str | None = option(
        None,
        "your own task instead of --dataset/--model: 'module:callable' returning lrtune.Task",
        kind="str",
        key="task",
    )
    # of the user task's data, set when it is loaded
    task_fingerprint: str | None = option(None, "", kind="str", flag=False, preset=False)
    # what trials are selected on (lrtune.training.metrics); a user task's is set when loaded
    metric: str = option("accuracy", "", kind="str", flag=False, preset=False)
    # "maximize"/"minimize"; None: the metric's own
    direction: str | None = option(None, "", kind="str", flag=False, preset=False)

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
        """The comparison unit: families are only compared within one task (:func:`task_label`)."""
        return task_label(dataclasses.asdict(self))

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

    families: tuple[str, ...] = option(
        ("cosine",),
        "family, comma-separated families, or 'all' (default cosine; valid: {choices})",
        kind="families",
        key="family",
        choices=FAMILIES,
    )
    trials: int = option(20, "finished trials per family (default {default})", kind="int")
    timeout: float | None = option(None, "stop starting new trials after this many seconds", kind="float")
    storage: str = option(
        DEFAULT_STORAGE, "Optuna storage URL; 'env' or none: $LRTUNE_STORAGE (else {default})", kind="str"
    )
    study_name: str | None = option(
        None, "base study name; each family's study is '<name>-<family>' (default '<dataset>-<model>')", kind="str"
    )
    device: str = option(
        "auto", "one of {choices} (default {default}: cuda, then mps, then cpu)", kind="str", choices=DEVICES
    )
    data_dir: str = option("data", "where torchvision datasets live (default {default}/)", kind="str")
    download: bool = option(False, "download a missing torchvision dataset (needs internet)", kind="on")
    workers: int = option(1, "worker processes sharing the storage (default {default})", kind="int")
    threads: int | None = option(
        None, "torch threads per worker (default: all cores for 1 worker, 1 each for several)", kind="int"
    )
    # None: measured at start-up (lrtune.training.group_size); 1: off
    fuse: int | None = option(
        None,
        "train K trials of a family at once as one stacked model (default: K measured at start-up "
        "where the model stacks, at most half the trials; 1 turns fusing off)",
        kind="int",
    )
    artifacts: bool = option(True, "don't attach LR-curve PNGs and notes", kind="off")
    artifact_dir: str | None = option(
        None, "optuna-dashboard artifact directory (default: artifacts/ next to the SQLite file)", kind="str"
    )
    progress: bool = option(True, "no progress bar", kind="off", preset=False)

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


def _options_of(cls: type, *, stored: bool) -> tuple[Option, ...]:
    out = []
    for f in fields(cls):
        meta = f.metadata
        key = meta["key"] or f.name
        flag = ("--no-" if meta["kind"] == "off" else "--") + key.replace("_", "-") if meta["flag"] else None
        out.append(Option(key, f.name, meta["kind"], f.default, meta["help"], stored, flag, meta["preset"]))
    return tuple(out)


OPTIONS: tuple[Option, ...] = _options_of(TaskConfig, stored=True) + _options_of(RunConfig, stored=False)
"""Every option of ``lrtune.study``, declared once (as a field of :class:`TaskConfig` or :class:`RunConfig`)."""

PRESET_TYPES: dict[str, tuple[type, ...]] = {  # the keys a preset TOML may hold, and their types
    **{o.key: o.preset_types for o in OPTIONS if o.preset},
    "description": (str,),
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
        if key not in PRESET_TYPES:
            raise ConfigError(
                f"preset {str(path)!r}: unknown key {key!r}; valid keys: {', '.join(sorted(PRESET_TYPES))}"
            )
        types = PRESET_TYPES[key]
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
    """Split flat option values (keyed by :attr:`Option.key`) into TaskConfig and RunConfig keyword arguments."""
    if values.get("task") is not None:  # a user task (--task / task = "module:callable")
        for key in ("dataset", "model"):
            if key in values:
                raise ConfigError(
                    f"--task {values['task']} brings its own data and model; drop {key} = {values[key]!r}"
                )
    task: dict[str, Any] = {}
    run: dict[str, Any] = {}
    for o in OPTIONS:
        if o.key in values and (o.key != "task" or values[o.key] is not None):
            (task if o.stored else run)[o.field] = values[o.key]
    return task, run
