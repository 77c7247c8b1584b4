"""Schedule steps: small frozen records, the data a schedule is made of.

A schedule is the ordered tuple of these steps. Each names its stage and axes by name, so a
JSON list of steps replays onto a fresh compute definition (alt.Schedule.from_json).
"""
from dataclasses import asdict, dataclass, fields
from typing import Optional, Tuple

from .errors import ScheduleError


@dataclass(frozen=True)
class Split:
    stage: str
    axis: str
    factor: Optional[int] = None
    nparts: Optional[int] = None


@dataclass(frozen=True)
class Reorder:
    stage: str
    axes: Tuple[str, ...]


@dataclass(frozen=True)
class Fuse:
    stage: str
    axes: Tuple[str, ...]


@dataclass(frozen=True)
class Annotate:
    """kind: 'vectorize', 'unroll' or 'parallel'."""
    stage: str
    axis: str
    kind: str


@dataclass(frozen=True)
class Bind:
    """Loop `axis` runs as the GPU index `tag`: blockIdx.x/y/z or threadIdx.x/y/z."""
    stage: str
    axis: str
    tag: str


@dataclass(frozen=True)
class Pragma:
    stage: str
    axis: str
    key: str
    value: Optional[int] = None


@dataclass(frozen=True)
class ComputeAt:
    stage: str
    target: str
    axis: str


@dataclass(frozen=True)
class ComputeInline:
    stage: str


@dataclass(frozen=True)
class ComputeRoot:
    stage: str


@dataclass(frozen=True)
class CacheWrite:
    stage: str
    scope: str = "local"


@dataclass(frozen=True)
class RFactor:
    """TVM's rfactor: partial results of reduction `stage` over the outer part of reduce axis
    `axis`, one per inner iteration (`factor` of them), in a stage `<stage>.rf`."""
    stage: str
    axis: str
    factor: int


@dataclass(frozen=True)
class CacheRead:
    """Stage `readers` read `tensor` through a copy in `scope` ('shared': one per GPU block)."""
    tensor: str
    scope: str
    readers: Tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """A layout primitive (alt.layout) on tensor `tensor`: verb in split/reorder/fuse/unfold/pad."""
    tensor: str
    verb: str
    args: Tuple[int, ...] = ()


STEP_TYPES = {cls.__name__.lower(): cls for cls in
              (Split, Reorder, Fuse, Annotate, Bind, Pragma, ComputeAt, ComputeInline, ComputeRoot, CacheWrite, CacheRead, RFactor,
               Layout)}
_NAMES = {cls: name for name, cls in STEP_TYPES.items()}


def to_dict(step):
    d = {"step": _NAMES[type(step)]}
    for k, v in asdict(step).items():
        if v is not None:
            d[k] = list(v) if isinstance(v, tuple) else v
    return d


def from_dict(d):
    if not isinstance(d, dict) or d.get("step") not in STEP_TYPES:
        raise ScheduleError(f"schedule step {d!r} is not one of {sorted(STEP_TYPES)}")
    cls = STEP_TYPES[d["step"]]
    names = {f.name for f in fields(cls)}
    extra = set(d) - names - {"step"}
    if extra:
        raise ScheduleError(f"schedule step {d!r}: unknown fields {sorted(extra)} for '{d['step']}'")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "step"}
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ScheduleError(f"schedule step {d!r}: {e}") from None
