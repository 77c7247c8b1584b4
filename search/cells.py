"""Tuned cells: a recursive model's cell knobs searched per model, hidden size and target.

    from alt.recursive import models
    from search.cells import tune_cells, compile_best
    model = models.tree_lstm(hidden=256)
    best = tune_cells(model, trials=24, log="cells.jsonl")     # resumes from the log
    net = compile_best(model, "cells.jsonl")                    # alt.recursive.compile with the best knobs

The knobs (CellSpace) are the compile options of alt.recursive that shape the generated cells:
the tile height (`rows`), the hidden block of a fused cell (`block_vectors`) and whether its
weights are stored as one stream per block (`blocked_weights`: the layout knobs), the register tile
of accumulators, the per-level tile and fusion switches, the unrolling depth (trees only) and
recursive refactoring (models whose cells project a child's state). The block and the register
tile may also be "auto": what compile does untuned, each cell and product its own. A candidate is the whole model
compiled with its knobs and run on a batch of structures (default: SST-like parse trees at batch
1, or a 10 x 10 grid for a DAG model): its output is checked against the per-node numpy recursion
before it is timed (alt.timing.benchmark, which reruns repeats that another process disturbed),
and a wrong one is recorded as such and never timed. Every measurement is one record appended
(fsynced) to the log, the same JSON-lines format as operator records, under the workload
{op: "CELL", name: "<model>-<state sizes>", params}.

Search: the same strategies as operators (search.strategy, ALT's joint layout-and-loop
exploration by default), their cost model fed with the knob values; the default options (what
`alt.recursive.compile` does untuned) are measured first, so the best is never worse than them.
Candidates are built and run in this process (a recursive model's cells are Python functions,
which a worker process could not rebuild without pickling them).
"""
import math
import time
from dataclasses import dataclass

import numpy as np

from alt.errors import AltError, OptionError
from alt.recursive.model import projections
from alt.recursive.schedule import CELL_ROWS, cell_register_tiles, cell_rows

from . import records as R
from .space import Space
from .strategy import key, make_strategy

ROWS = CELL_ROWS  # register tile rows
TILES = ROWS + (12, 16, 24, 32)  # tile heights: a wide level's tile of 12 to 32 nodes reads each weight block once
# for several register tiles
BLOCKS = (1, 2, 4, 8)
AUTO = "auto"


@dataclass(frozen=True)
class CellWorkload:
    """What a cell record names: the model's kind and sizes (weights do not change timings)."""
    op: str
    name: str
    params: tuple


def cell_workload(model, batch=None):
    """The workload that names `model`'s cell records. Timings depend on the batch they were taken on
    (a batch of one small tree rewards other knobs than ten complete trees do), so a batch other than
    the default one (None) is part of the workload: "<model>-<sizes>@<structures>x<nodes>"."""
    sizes = [model.states[s] for s in model.states]
    params = (model.max_children, model.vocab, *sizes)
    name = f"{model.name}-" + "x".join(str(v) for v in sizes)
    if batch is not None:
        shape = (len(batch), _nodes(batch))
        name, params = name + "@{}x{}".format(*shape), params + shape
    return CellWorkload("CELL", name, params)


def _nodes(batch):
    """Nodes of a batch (a nested tuple counts as one: its size is not known before parsing)."""
    return sum(len(s.word) if hasattr(s, "word") else 1 for s in batch)


class CellSpace(Space):
    """The knobs of a model's cells for the target in effect (see the module's doc)."""
    layout_knobs = ("blocked_weights", "block_vectors")
    added = {"unroll": 1, "refactor": 0}  # points logged before these knobs were neither unrolled nor refactored

    def __init__(self, model, target=None, batch=None):
        super().__init__(cell_workload(model, batch), target)
        self.model = model
        tiles = cell_register_tiles(self.target)
        # AUTO: what compile does untuned, each tile height its own register tiles (cell_register_tile) and block
        self.knobs = {"blocked_weights": [1, 0], "block_vectors": [AUTO, *BLOCKS], "rows": list(TILES),
                      "register_tile": [AUTO] + [list(t) for t in tiles], "level_tiles": [1, 0], "fusion": [1, 0],
                      "unroll": [1] if model.kind == "dag" else [1, 2, 3],
                      "refactor": [0, 1] if projections(model) else [0]}
        self._default = {"blocked_weights": 1, "block_vectors": AUTO, "rows": cell_rows(self.target),
                         "register_tile": AUTO, "level_tiles": 1, "fusion": 1, "unroll": 1, "refactor": 0}

    def _check(self, point):
        r, v = _tile(point)
        if r > point["rows"]:
            return f"register_tile rows {r} exceed the tile of {point['rows']} nodes"
        return None

    def _seeds(self):
        """The defaults (what compile does untuned), then the defaults refactored (where the cells
        project a child's state: it changes which stages fuse and what goes through memory),
        then the defaults with each register tile of the most accumulators the registers hold (a tile
        of that many rows): which shape of it is fastest depends on the cell's gates and blocks."""
        flipped = dict(self._default, refactor=1)
        fixed = [t for t in self.knobs["register_tile"] if t != AUTO]
        most = max(r * v for r, v in fixed)
        widest = [dict(self._default, register_tile=[r, v], rows=r) for r, v in fixed if r * v == most]
        return [dict(self._default)] + ([flipped] if self.knobs["refactor"] != [0] else []) + widest

    def default_layout(self):
        return {k: self._default[k] for k in self.layout_knobs}

    def options(self, point):
        """alt.recursive.compile's options for `point`."""
        p = self.complete(point)
        return {"blocked_weights": bool(p["blocked_weights"]), "rows": p["rows"],
                "block_vectors": None if p["block_vectors"] == AUTO else p["block_vectors"],
                "register_tile": None if p["register_tile"] == AUTO else tuple(p["register_tile"]),
                "level_tiles": bool(p["level_tiles"]),
                "fusion": bool(p["fusion"]), "unroll": p["unroll"], "refactor": bool(p["refactor"])}

    def features(self, point):
        """The cost model's view of a point: the knob values, sizes on a log scale."""
        p = self.complete(point)
        r, v = _tile(p)
        block = -1 if p["block_vectors"] == AUTO else math.log2(p["block_vectors"])
        return [p["blocked_weights"], block, math.log2(p["rows"]), r, v, r * v,
                p["level_tiles"], p["fusion"], p["unroll"], p["refactor"]]

    def apply(self, point):
        raise AltError("CellSpace points are whole compiled models: use search.cells.measure_cell")


def _tile(point):
    """A point's register tile (rows, vectors); (0, 0) for AUTO."""
    return (0, 0) if point["register_tile"] == AUTO else point["register_tile"]


def default_batch(model, seed=0):
    from alt.recursive import data
    vocab = max(model.vocab, 1)
    if model.kind == "dag":
        return [data.grid(10, 10, seed=seed, vocab=vocab)]
    return data.sst_like(1, seed=seed, vocab=vocab)


def measure_cell(model, space, point, batch, want, target=None, rtol=1e-3, attempts=3):
    """(error code, costs in seconds, message) of `point`: compiled, checked against `want`, timed.
    A timing other processes disturbed is taken again after a pause, `attempts` times in all; one
    disturbed every time is DISTURBED (its costs kept, not a time)."""
    from alt.recursive import compile as compile_model
    from alt.timing import benchmark, undisturbed
    try:
        net = compile_model(model, target=target, **space.options(point))
    except AltError as e:
        return R.BUILD_ERROR, [], str(e)
    got = net(batch)
    err = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))
    if not np.isfinite(err) or err > rtol:
        return R.WRONG_ANSWER, [], f"relative error {err:.3g} against the numpy recursion (tolerance {rtol})"
    t = undisturbed(lambda: benchmark(lambda: net(batch), repeat=7, warmup=20, min_time=0.02), attempts)
    if t.disturbed:
        return R.DISTURBED, list(t.samples), f"other processes took the CPU during all {attempts} timings ({t})"
    return R.OK, list(t.samples), ""


def tune_cells(model, trials=24, log=None, batch=None, strategy="alt", seed=0, per_batch=4, quiet=False,
               target=None, final=3):
    """Search `model`'s cell knobs with `trials` measurements on `batch` (default: default_batch)
    and return the best record; `log` (a path) keeps every measurement and is resumed from: its
    points are not measured again. Then the `final` fastest points and the defaults are measured
    again (records of phase "final"), and the winner is chosen among those: one lucky timing of a
    candidate does not decide."""
    from alt.recursive import reference
    from alt.target import resolve
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise OptionError(f"tune_cells: trials={trials!r}; give a whole number >= 1")
    target = resolve(target)
    space = CellSpace(model, target, batch)
    batch = default_batch(model, seed) if batch is None else batch
    want = reference(model, batch)
    nodes = _nodes(batch)
    strat = make_strategy(strategy, space, np.random.default_rng(seed), trials)
    strat.features = _KnobFeatures(space)
    book = R.Log.for_writing(log, "search.tune_cells")
    done = [r for r in book.read(space.workload) if R.measured_on(r, target)] if book else []
    trials_done = [r for r in done if r.get("phase") != "final"]
    points = [space.complete(r["point"]) for r in trials_done]
    if trials_done:
        strat.update(points, [_score(r, nodes) for r in trials_done])
    records, spent = list(done), len(trials_done)

    def run(p, label, **extra):
        """Measure `p`, log and keep its record, say how it went."""
        t0 = time.perf_counter()
        error, costs, message = measure_cell(model, space, p, batch, want, target)
        rec = R.make(space.workload, p, costs, error, message, strategy, target, run={"threads": target.cores},
                     options=space.options(p), nodes=nodes, seconds=time.perf_counter() - t0, **extra)
        if book:
            book.append(rec)
        records.append(rec)
        if not quiet:
            best = min((min(r["costs"]) for r in records if r["error"] == R.OK), default=float("nan"))
            print(f"[{label}] {space.options(p)}: {R.ERROR_NAMES[error]}"
                  + (f", {min(costs) * 1e6:.1f} us" if error == R.OK else f" ({message[:80]})")
                  + f"; best {best * 1e6:.1f} us", flush=True)
        return rec

    while spent < trials:
        batch_points = [p for p in strat.next_batch(min(per_batch, trials - spent)) if p not in points]
        if not batch_points:
            break
        scores = []
        for p in batch_points:
            spent += 1
            scores.append(_score(run(p, f"{spent}/{trials}"), nodes))
            points.append(p)
        strat.update(batch_points, scores)
    ok = sorted((r for r in records if r["error"] == R.OK and r.get("phase") != "final"), key=lambda r: min(r["costs"]))
    again = [space.seeds()[0]] + [r["point"] for r in ok[:final] if r["point"] != space.seeds()[0]]
    if final and ok and (len(records) > len(done) or not any(r.get("phase") == "final" for r in done)):
        for p in again:
            run(p, "final", phase="final")
    good = [r for r in records if r["error"] == R.OK]
    return R.winner(good) if good else None


def _score(rec, nodes):
    """What the search maximizes: nodes per microsecond (0 for a failed candidate)."""
    return nodes / min(rec["costs"]) / 1e6 if rec["error"] == R.OK and rec["costs"] else 0.0


class _KnobFeatures:
    """A cell point's features are its knobs (search.featurize.Featurizer's interface); the knobs
    are the program too: no two points compile alike."""

    def __init__(self, space):
        self.space, self.programs = space, {}

    def __call__(self, points):
        self.programs.update((key(p), key(p)) for p in points)
        return [self.space.features(p) for p in points]

    def program(self, point):
        return key(point)


def best_options(model, log, target=None, batch=None):
    """The compile options of the fastest record of `model` in `log` tuned on `batch` (None: the
    default batch), or None: none there."""
    from alt.target import resolve
    target = resolve(target)
    space = CellSpace(model, target, batch)
    rec = R.Log(log).best(space.workload, target)
    return None if rec is None else space.options(rec["point"])


def compile_best(model, log, target=None, batch=None):
    """alt.recursive.compile(model) with the best knobs `log` holds for it, tuned on `batch` (None:
    the default batch; see cell_workload); the defaults, with a warning, when it holds none."""
    from alt.recursive import compile as compile_model
    opts = best_options(model, log, target, batch)
    if opts is None:
        R.log.warning("%s: no record of %s's cells (%s); compiling with the default options", log, model.name,
                      cell_workload(model, batch).name)
        opts = {}
    return compile_model(model, target=target, **opts)
