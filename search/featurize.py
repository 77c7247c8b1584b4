"""Candidates' features for the search strategies (search.strategy): each point of a space lowered,
its features read off the lowered program (search.features) and its program named (two points
that lower to the same kernel are one candidate); cached, and computed in the measurer's idle build
workers when the strategy has them."""
import hashlib
import json

import numpy as np

from alt.errors import ScheduleError
from alt.lower import lower

from . import records as R
from .features import extract
from .space import Invalid


def key(point):
    """A point's key: its JSON, knobs sorted (what caches, logs and strategies know it by)."""
    return json.dumps(point, sort_keys=True)


def point_features(space, point):
    """The feature vector of one point of `space` (lowered, then read; search.features), or None
    for a point the space rejects or lowering refuses (a nest unrolled past what a compiler takes
    in reasonable time, alt.lower)."""
    return lowered(space, point)[0]


def lowered(space, point):
    """(feature vector, program) of one point of `space`: `program` names the lowered loop nest
    (a hash of its printed text, which says everything the C source says), so that two points that
    lower to the same kernel (knob values that do nothing under the others: `attach` over a loop
    of one iteration) are known as one; (None, None) for a point rejected (see point_features)."""
    try:
        sch, args = space.apply(point)
        with space.target:
            func = lower(sch, args)
            return extract(func, space.target), program_key(func)
    except (Invalid, ScheduleError):
        return None, None


def program_key(func):
    """A short hash of a lowered function's printed text (alt.printer): equal for the same program."""
    return hashlib.sha1(str(func).encode()).hexdigest()[:20]


_SPACES = {}  # a features worker's spaces, by workload and target


def features_task(workload_key, points, target):
    """In a worker process (search.worker): [features as a list, program] of `points` of a
    workload's space for `target` (a Target's dict) ([None, None] for a rejected point)."""
    from alt.target import target_from_dict
    from .space import space_for
    k = json.dumps([workload_key, target], sort_keys=True)
    if k not in _SPACES:
        tgt = target_from_dict(target)
        with tgt:
            _SPACES[k] = space_for(R.workload_of(workload_key), tgt)
    space = _SPACES[k]
    with space.target:
        return [[None if f is None else f.tolist(), prog] for f, prog in (lowered(space, p) for p in points)]


class Featurizer:
    """Features of points, cached (lowering a candidate takes milliseconds), with their programs
    (`program`). With a `pool` (the measurer's build workers, idle while the strategy proposes), a
    batch of new points is split over its processes; anything the pool cannot do is computed here."""

    PARALLEL_FROM = 2  # a single new point is not worth the round trip

    def __init__(self, space, pool=None, workload_key=None):
        self.space, self.cache = space, {}
        self.programs = {}  # point key -> its program (lowered.program_key), for the points in `cache`
        self.pool, self.workload_key = pool, workload_key

    def __call__(self, points):
        keys = [key(p) for p in points]
        todo = {k: p for k, p in zip(keys, points) if k not in self.cache}
        if self.pool is not None and len(todo) >= self.PARALLEL_FROM:
            self._in_pool(todo)
        for k, p in todo.items():
            if k not in self.cache:
                self.cache[k], self.programs[k] = lowered(self.space, p)
        return [self.cache[k] for k in keys]

    def program(self, point):
        """The program `point` lowers to (None: rejected), featurizing it if it is not yet."""
        k = key(point)
        if k not in self.cache:
            self([point])
        return self.programs.get(k)

    def _in_pool(self, todo):
        from .worker import MeasureError, TaskError, WorkerCrash, WorkerTimeout
        keys, n = list(todo), max(1, self.pool.size)
        chunks = [keys[i::n] for i in range(n)]
        target = self.space.target.to_dict()
        futures = [(c, self.pool.submit(features_task, self.workload_key, [todo[k] for k in c], target))
                   for c in chunks if c]
        for chunk, f in futures:
            try:
                feats = f.result()
            except (MeasureError, TaskError, WorkerCrash, WorkerTimeout):
                continue  # computed here instead
            for k, (v, prog) in zip(chunk, feats):
                self.cache[k], self.programs[k] = None if v is None else np.array(v, float), prog
