"""run.json's owner: `RunInfo`, the typed record of a run, read and written only here.

Every command reads a run through `Run.info` (kerascls/runs/folder.py), a `RunInfo`, and
changes it through `Run.update`. The JSON layout is the one kerascls has always written
(other tools and older kerascls versions read run.json), so:

- a field is in run.json once it has been given a value, None included (written as null);
  a field never given stays out, as before: a killed run has no "metrics", a run made
  before plans existed no "plan";
- keys this version does not know (from a newer kerascls, or another tool) are kept in
  `extra` and written back as they were;
- `recipe`, `dataset`, `plan` and `optimization` stay plain dicts: their layouts belong to
  `kerascls.train.Recipe`, `ImageDataset.source`, kerascls/train/plan.py and
  kerascls.optimize.

Example:
    >>> info = RunInfo.from_dict({"status": "running", "model": {"name": "cnn"},
    ...                           "normalization": None, "from_another_tool": 1})
    >>> info.model.name, info.normalization, info.metrics
    ('cnn', None, None)
    >>> info.update(metrics={"validation": {"accuracy": 0.5}})
    >>> info.metrics["validation"].accuracy
    0.5
    >>> info.to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'status': 'running', 'model': {'name': 'cnn'}, 'normalization': None,
     'metrics': {'validation': {'accuracy': 0.5}}, 'from_another_tool': 1}
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

_R = TypeVar("_R", bound="Record")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# A field's default: not in run.json. Reading the field then gives None.
UNSET: Any = _Unset()


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    """The JSON keys a record type knows: its fields, in order, less `extra`."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")


@dataclass(kw_only=True)
class Record:
    """A JSON object with typed fields; keys it does not know are kept in `extra`.

    Subclasses are dataclasses whose fields default to UNSET (left out of the JSON, read as
    None). Assigning a field marks it given, so it is written, as null if None; fields that
    hold records (`_nested`) take either the record or its dict. Build copies with
    `copy()`, not `dataclasses.replace` (which would mark every field given).
    """

    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    # field name -> what turns its JSON value (or the record itself) into the record
    _nested: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _names(type(self)):
            given = self.__dict__.setdefault("_given", set())
            if value is UNSET:
                given.discard(name)
                value = None
            else:
                given.add(name)
                if value is not None and name in self._nested:
                    value = self._nested[name](value)
        object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls: type[_R], values: Mapping[str, Any]) -> _R:
        """The record of a JSON object: known keys as fields, the others in `extra`."""
        if not isinstance(values, Mapping):
            raise TypeError(f"expected a JSON object, got {type(values).__name__}")
        names = _names(cls)
        record = cls(**{k: v for k, v in values.items() if k in names})
        record.extra.update((k, v) for k, v in values.items() if k not in names)
        return record

    @classmethod
    def coerce(cls: type[_R], value: Any) -> _R:
        """`value` itself when it is this record, else the record of its JSON object."""
        return value if isinstance(value, cls) else cls.from_dict(value)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the given fields in their order, then the `extra` keys."""
        given = self.__dict__.get("_given", set())
        values = {n: _to_json(getattr(self, n)) for n in _names(type(self)) if n in given}
        return {**values, **self.extra}

    def update(self, **fields: Any) -> None:
        """Set fields by their JSON key; a key the record does not know goes to `extra`."""
        for name, value in fields.items():
            if name in _names(type(self)):
                setattr(self, name, value)
            else:
                self.extra[name] = value

    def copy(self: _R) -> _R:
        """A deep copy (given fields and `extra` too)."""
        return copy.deepcopy(self)


def _to_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict) and any(isinstance(v, Record) for v in value.values()):
        return {k: _to_json(v) for k, v in value.items()}
    return value  # plain values and dicts as they are: no copy


@dataclass(kw_only=True)
class ModelInfo(Record):
    """run.json's "model": what `create_model` was called with, and its size."""

    name: str | None = UNSET  # the registry name, e.g. "resnet20"
    kwargs: dict[str, Any] | None = UNSET  # the builder's options (not mean/std)
    params: int | None = UNSET  # parameter count


@dataclass(kw_only=True)
class Normalization(Record):
    """run.json's "normalization": the per-channel statistics the model standardises with."""

    mean: list[float] | None = UNSET
    std: list[float] | None = UNSET


@dataclass(kw_only=True)
class SplitMetrics(Record):
    """One split's figures under run.json's "metrics" (an optimized run adds its own)."""

    accuracy: float | None = UNSET
    top5_accuracy: float | None = UNSET
    macro_f1: float | None = UNSET
    flip_tta_accuracy: float | None = UNSET  # with mirrored images too (flip-trained runs)


@dataclass(kw_only=True)
class MlflowInfo(Record):
    """run.json's "mlflow": where the run's MLflow run is (`--mlflow`)."""

    tracking_uri: str | None = UNSET
    experiment: str | None = UNSET
    experiment_id: str | None = UNSET
    run_id: str | None = UNSET


@dataclass(kw_only=True)
class InitFrom(Record):
    """run.json's "init_from": the run whose weights this one started from."""

    run: str | None = UNSET
    notes: list[str] | None = UNSET  # what was copied and what started fresh


def _metrics(value: Mapping[str, Any]) -> dict[str, SplitMetrics]:
    if not isinstance(value, Mapping):
        raise TypeError(f"metrics: expected a JSON object, got {type(value).__name__}")
    return {split: SplitMetrics.coerce(figures) for split, figures in value.items()}


@dataclass(kw_only=True)
class RunInfo(Record):
    """A run's run.json, typed: the one place that knows its keys.

    Load it with `RunInfo.from_dict` (every run.json kerascls wrote, old ones too), write
    it with `to_dict` (the same layout). Scripts written for the dict can still read it as
    one, `run.info["status"]`: that reads `to_dict()`.
    """

    created: float | None = UNSET  # time.time() when the run started
    status: str | None = UNSET  # "running", "finished" or "failed"
    error: str | None = UNSET  # why a failed run failed
    model: ModelInfo | None = UNSET
    class_names: list[str] | None = UNSET
    input_shape: list[int] | None = UNSET  # [height, width, 3]
    normalization: Normalization | None = UNSET  # None: the model takes raw pixels
    dataset: dict[str, Any] | None = UNSET  # ImageDataset.source (kerascls.data's layout)
    split_sizes: dict[str, int] | None = UNSET  # images in train, validation (and test)
    recipe: dict[str, Any] | None = UNSET  # Recipe.to_dict() (kerascls.train's layout)
    dtype_policy: str | None = UNSET  # what mixed_precision came to on the machine
    versions: dict[str, str] | None = UNSET  # kerascls.runs.package_versions()
    plan: dict[str, Any] | None = UNSET  # Plan.to_dict() (kerascls/train/plan.py)
    init_from: InitFrom | None = UNSET
    data_changed_on_resume: list[str] | None = UNSET  # what differed when it resumed
    mlflow: MlflowInfo | None = UNSET
    planned_steps: int | None = UNSET  # a time-budgeted run's schedule length
    fine_tune_switched_at: int | None = UNSET  # the step fine-tuning's phase 2 began
    full_resolution_from_step: int | None = UNSET  # progressive resizing's switch
    optimized_from: str | None = UNSET  # kerascls-optimize: the parent run (None: a model)
    optimization: dict[str, Any] | None = UNSET  # kerascls-optimize: what was done
    epochs_completed: int | None = UNSET
    train_seconds: float | None = UNSET
    best_val_accuracy: float | None = UNSET
    metrics: dict[str, SplitMetrics] | None = UNSET  # per split: test, else validation

    _nested: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "model": ModelInfo.coerce,
        "normalization": Normalization.coerce,
        "init_from": InitFrom.coerce,
        "mlflow": MlflowInfo.coerce,
        "metrics": _metrics,
    }

    @property
    def time_capped(self) -> bool:
        """Whether the run's plan capped its time (a budget the plan set, not the user)."""
        return bool((self.plan or {}).get("time_cap"))

    # Read access in run.json's layout, for scripts written against the dict.
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)
