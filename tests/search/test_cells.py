"""Tuned cells (search.cells): the knob space, checked measurements, the log and its replay."""
import logging

import numpy as np
import pytest

from alt.recursive import compile, models, reference
from search import records as R
from search.cells import CellSpace, compile_best, default_batch, measure_cell, tune_cells


def _model():
    return models.tree_fc(hidden=32, vocab=50, seed=3)


def test_space_starts_from_the_untuned_defaults_and_rejects_tiles_taller_than_the_tile():
    space = CellSpace(_model())
    seed, *widest = space.seeds()
    assert compile(_model()).options.to_dict() == dict(compile(_model(), **space.options(seed)).options.to_dict())
    bad = dict(seed, rows=1, register_tile=[2, 1])
    assert "exceed the tile of 1 nodes" in space.check(bad)
    from alt.recursive.schedule import SPARE
    tiles = [t for t in space.knobs["register_tile"] if t != "auto"]  # auto: each product its own (the default)
    assert seed["register_tile"] == "auto" and compile(_model(), **space.options(seed)).options.register_tile is None
    assert all(r * v + SPARE <= space.target.registers for r, v in tiles)
    most = max(r * v for r, v in tiles)  # then the tiles of the most accumulators, each the only change
    assert widest and all(p["register_tile"][0] * p["register_tile"][1] == most for p in widest)
    assert all({k for k in p if p[k] != seed[k]} <= {"register_tile", "rows"} for p in widest)
    old = {k: v for k, v in seed.items() if k != "unroll"}  # a point logged before the unrolling knob
    assert space.check(old) is None and space.options(old)["unroll"] == 1
    assert compile(_model(), **space.options(dict(seed, unroll=2))).options.unroll == 2
    assert CellSpace(models.dag_rnn(hidden=16, vocab=10)).knobs["unroll"] == [1]  # a DAG node has several parents
    old = {k: v for k, v in seed.items() if k != "refactor"}  # a point logged before the refactoring knob
    assert space.check(old) is None and space.options(old)["refactor"] is False
    assert space.knobs["refactor"] == [0]  # TreeFC's cell projects no child's state: nothing to move
    lstm, gru = models.tree_lstm(hidden=16, vocab=10), models.tree_gru(hidden=16, vocab=10)
    for m in (lstm, gru):  # the defaults (unrefactored, as compile does), then refactored
        plain, on, *_ = CellSpace(m).seeds()
        assert on == dict(plain, refactor=1) and plain["refactor"] == 0 and not compile(m).options.refactor
        assert CellSpace(m).knobs["refactor"] == [0, 1] and compile(m, **CellSpace(m).options(on)).options.refactor


def test_records_are_kept_per_batch_and_replayed_for_the_batch_asked(tmp_path):
    from alt.recursive import data
    from search.cells import best_options, cell_workload
    m, log = _model(), tmp_path / "cells.jsonl"
    big = data.sst_like(3, seed=1, vocab=m.vocab)
    assert cell_workload(m).name == "treefc-32" and cell_workload(m, big).name.startswith("treefc-32@3x")
    tune_cells(m, trials=2, log=log, quiet=True, final=0)
    assert best_options(m, log, batch=big) is None  # the default batch's records say nothing of this one
    tune_cells(m, trials=2, log=log, batch=big, quiet=True, final=0)
    names = {r["workload"]["name"] for r in R.Log(log).read()}
    assert names == {"treefc-32", cell_workload(m, big).name}
    assert best_options(m, log, batch=big) is not None and best_options(m, log) is not None


def test_a_wrong_output_is_recorded_and_never_timed():
    m = _model()
    space = CellSpace(m)
    batch = default_batch(m)
    want = reference(m, batch)
    error, costs, _ = measure_cell(m, space, space.seeds()[0], batch, want)
    assert error in (R.OK, R.DISTURBED) and costs  # checked, then timed (on a busy machine, marked so)
    error, costs, message = measure_cell(m, space, space.seeds()[0], batch, want + 1.0)
    assert error == R.WRONG_ANSWER and costs == [] and "relative error" in message


def test_tuning_logs_every_candidate_resumes_and_replays(tmp_path, caplog):
    m, log = _model(), tmp_path / "cells.jsonl"
    best = tune_cells(m, trials=4, log=log, quiet=True, final=2)
    recs = R.Log(log).read()
    trials = [r for r in recs if r.get("phase") != "final"]
    final = [r for r in recs if r.get("phase") == "final"]
    assert len(trials) == 4 and {r["workload"]["op"] for r in recs} == {"CELL"}
    assert trials[0]["point"] == CellSpace(m).seeds()[0]  # the defaults first
    assert 1 <= len(final) <= 3 and final[0]["point"] == trials[0]["point"]  # measured again: defaults and the best two
    assert best["phase"] == "final" and min(best["costs"]) == min(min(r["costs"]) for r in final if r["error"] == R.OK)
    tune_cells(m, trials=6, log=log, quiet=True, final=0)
    assert len([r for r in R.Log(log).read() if r.get("phase") != "final"]) == 6  # the four were not measured again
    net = compile_best(m, log)
    batch = default_batch(m, seed=5)
    np.testing.assert_allclose(net(batch), reference(m, batch), rtol=1e-3, atol=1e-5)
    with caplog.at_level(logging.WARNING, logger="alt.search"):
        plain = compile_best(models.tree_fc(hidden=16, vocab=50), log)
    untuned = compile(models.tree_fc(hidden=16, vocab=50)).options.to_dict()
    assert "no record of treefc" in caplog.text and plain.options.to_dict() == untuned


def test_a_disturbed_timing_is_taken_again_and_only_then_recorded_disturbed(monkeypatch):
    """The busy-CI failure of stop 30's clean-clone run: one disturbed timing per candidate left a
    two-trial tune with no time at all. A disturbed timing is now taken again, as the Measurer does."""
    import alt.timing as T
    m = _model()
    space, batch = CellSpace(m), default_batch(m)
    want = reference(m, batch)
    calls = []

    def timing(disturbed_runs):
        def bench(run, *a, **k):
            run()
            calls.append(1)
            t = T.Timing([1e-3, 1e-3], 1)
            if len(calls) <= disturbed_runs:
                t.samples = [1e-3, 2e-3, 2e-3]  # median / min 2 > MAX_SPREAD
            return t
        return bench

    monkeypatch.setattr(T, "benchmark", timing(1))
    monkeypatch.setattr("time.sleep", lambda s: None)
    error, costs, _ = measure_cell(m, space, space.seeds()[0], batch, want)
    assert error == R.OK and costs == [1e-3, 1e-3] and len(calls) == 2
    calls.clear()
    monkeypatch.setattr(T, "benchmark", timing(99))
    error, costs, message = measure_cell(m, space, space.seeds()[0], batch, want, attempts=3)
    assert error == R.DISTURBED and len(calls) == 3 and costs and "all 3 timings" in message
