"""The tuner's measurement (isolated runs, executors, a Dask cluster), its records, and tuning end
to end on small workloads: resume, the command line, a user's operator, the final round
(strategies, features and the model: test_search.py; the spaces: test_spaces.py)."""
import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import alt
from alt.ops import Workload
from codegen import compile_c
from search import records as R
from search.measure import Measurer, run_isolated
from search.worker import Worker
from search.space import space_for
from search.strategy import key
from search.tune import apply_best, tune

CONV = Workload("C2D", "test-conv", (1, 16, 10, 32, 3, 1, 1))
GEMM = Workload("GMM", "test-gemm", (24, 40, 36))


# measurement -----------------------------------------------------------------------------------

def _task(tmp_path, body):
    path = compile_c("int alt_main(float* restrict out) {\n" + body + "\n  return 0;\n}\n")
    np.save(tmp_path / "want.npy", np.arange(4, dtype=np.float32))
    return {"path": str(path), "fname": "alt_main", "args": [["out", [4], "float32", True]],
            "layouts": [[[4], []]], "inputs": [None], "expected": [str(tmp_path / "want.npy")], "rtol": 1e-6,
            "repeat": 2, "min_time": 0.001}


@pytest.mark.parametrize("body,code,msg", [
    ("for (int i = 0; i < 4; ++i) out[i] = i;", R.OK, ""),
    ("for (int i = 0; i < 4; ++i) out[i] = 2 * i;", R.WRONG_ANSWER, "relative error"),
    ("*(volatile int*)0 = 1;", R.CRASH, "exit code -11"),
    ("for (volatile int i = 0; i >= 0; i = i * 0) ;", R.RUN_TIMEOUT, "killed"),
])
def test_run_worker_isolates_failures(tmp_path, body, code, msg):
    worker = Worker()
    good = _task(tmp_path, "for (int i = 0; i < 4; ++i) out[i] = i;")
    try:
        assert run_isolated(worker, good, timeout=120)["error"] == R.OK  # started (imports can be slow)
        r = run_isolated(worker, _task(tmp_path, body), timeout=3)
        assert r["error"] == code and msg in r.get("message", "")
        ok = run_isolated(worker, good, timeout=120)
        assert ok["error"] == R.OK and ok["costs"][0] > 0  # the worker came back after a crash or hang
    finally:
        worker.close(kill=True)


def test_measurer_with_any_executor_and_bad_points():
    space = space_for(GEMM)
    good = space.sample(np.random.default_rng(0))
    with ThreadPoolExecutor(2) as ex, Measurer(GEMM, executor=ex, repeat=2, min_time=0.001) as m:
        res = m.measure([good, dict(good, tile_i=7)])
    assert res[0]["error"] == R.OK and res[0]["costs"][0] > 0
    assert res[1]["error"] == R.INVALID and "not one of" in res[1]["message"]


def test_measurer_with_a_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    space = space_for(GEMM)
    p = space.sample(np.random.default_rng(1))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as c, \
            distributed.Client(c) as client, \
            Measurer(GEMM, executor=client.get_executor(), repeat=2, min_time=0.001) as m:
        (res,) = m.measure([p])
    assert res["error"] == R.OK


def test_the_batch_is_built_before_the_callers_background_work_is_waited_for_and_then_timed():
    space = space_for(GEMM)
    good = [space.sample(np.random.default_rng(s)) for s in (0, 1)]
    events = []
    with ThreadPoolExecutor(2) as ex, Measurer(GEMM, executor=ex, repeat=2, min_time=0.001) as m:
        m.measure(good[:1] + [dict(good[0], tile_i=7)] + good[1:], on_result=lambda i, r: events.append(r["error"]),
                  before_run=lambda: events.append("wait"))
    assert events.count("wait") == 1
    i = events.index("wait")
    assert events[:i] == [R.INVALID] and events[i + 1:] == [R.OK, R.OK]  # builds' failures final first


def test_the_tuner_imports_its_cost_model_during_the_first_builds_and_counts_the_wait_as_the_models(
        monkeypatch, tmp_path):
    tune_module = sys.modules["search.tune"]
    events = []

    def preload():
        events.append("import started")
        return lambda: (time.sleep(0.3), events.append("import waited for"))
    monkeypatch.setattr(tune_module, "preload", preload)
    run = Measurer.run
    monkeypatch.setattr(Measurer, "run", lambda self, task: (events.append("timed"), run(self, task))[1])
    opts = {"repeat": 2, "min_time": 0.001}
    stats = {}
    tune(GEMM, trials=4, batch=4, quiet=True, measure_options=opts, stats=stats, final=0, build=False,
         log=tmp_path / "run.jsonl")
    assert events[:3] == ["import started", "import waited for", "timed"]
    assert stats["fit"] >= 0.3
    events.clear()  # resumed with every trial done: the final round is timed at once, after the import
    tune(GEMM, trials=4, batch=4, quiet=True, measure_options=opts, final=2, build=False, log=tmp_path / "run.jsonl")
    assert events[:3] == ["import started", "import waited for", "timed"]
    events.clear()
    tune(GEMM, trials=4, batch=4, quiet=True, strategy="random", measure_options=opts, final=0, build=False)
    assert "import started" not in events  # nothing to import for a search without a model


def test_preloading_the_cost_models_library_imports_it():
    code = ("import sys, search.model as m; assert 'sklearn.ensemble' not in sys.modules; wait = m.preload(); "
            "wait(); assert 'sklearn.ensemble' in sys.modules; assert m.preload()() is None")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# records ---------------------------------------------------------------------------------------

def test_log_appends_and_skips_a_truncated_last_line(tmp_path, caplog):
    log = R.Log(tmp_path / "r.jsonl")
    log.append(R.make(GEMM, {"a": 1}, [0.5]))
    log.append(R.make(GEMM, {"a": 2}, [0.25]))
    log.append(R.make(GEMM, {"a": 3}, [], R.CRASH, "boom"))
    with open(tmp_path / "r.jsonl", "a") as f:
        f.write('{"version": 1, "workload": {"op": "GM')  # a write cut off by a kill
    with caplog.at_level(logging.WARNING):
        recs = log.read(GEMM)
    assert [r["point"]["a"] for r in recs] == [1, 2, 3]
    assert "r.jsonl:4: skipping a damaged record" in caplog.text
    assert log.best(GEMM)["point"] == {"a": 2}
    assert recs[2]["error_name"] == "crash" and recs[0]["target"]["cores"] >= 1


def test_tune_end_to_end_resume_and_apply_best(tmp_path):
    path = tmp_path / "run.jsonl"
    opts = {"repeat": 2, "min_time": 0.001}
    stats = {}
    rec, kernel = tune(GEMM, trials=8, strategy="alt", log=path, batch=4, quiet=True, measure_options=opts,
                       stats=stats)
    recs = R.Log(path).read(GEMM)
    trials = [r for r in recs if r.get("phase") != "final"]
    final = [r for r in recs if r.get("phase") == "final"]
    assert rec["error"] == R.OK and len(trials) == 8 and len(final) in (4, 8)  # 8: a slowed round ran again
    assert stats["measured"] == 8 + len(final) and all(stats[k] > 0 for k in ("propose", "fit", "build", "run"))
    # the winner comes from the re-measurement of the best four, which are the four fastest trials
    assert rec == min(final, key=lambda r: min(r["costs"]))
    fastest = sorted({key(r["point"]): min(r["costs"]) for r in trials if r["error"] == R.OK}.items(),
                     key=lambda x: x[1])
    assert {key(r["point"]) for r in final} == {k for k, _ in fastest[:4]}
    assert all(r["schedule"]["steps"] and r["target"]["isa"] and r["run"]["threads"] >= 1 for r in trials)
    a, b = (np.random.default_rng(0).standard_normal(s).astype("f4") for s in ((24, 36), (36, 40)))
    c = np.empty((24, 40), "f4")
    kernel(kernel.pack("A", a), kernel.pack("B", b), c)  # the point may pack either operand
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    tune(GEMM, trials=12, strategy="alt", log=path, batch=4, quiet=True, measure_options=opts)
    trials = [r for r in R.Log(path).read(GEMM) if r.get("phase") != "final"]
    assert len(trials) == 12 and len({key(r["point"]) for r in trials}) == 12  # resumed: 4 new, none repeated
    assert apply_best(path, GEMM) is not None


def test_records_carry_the_strategys_settings_and_a_resume_with_others_says_so(tmp_path, capsys):
    w, path = Workload("GMM", "GMM-16x32x24", (16, 32, 24)), tmp_path / "set.jsonl"
    quick = {"repeat": 2, "min_time": 0.001}
    tune(w, trials=2, batch=2, log=path, final=0, quiet=True, measure_options=quick, build=False,
         strategy_options={"explore": "0.5"})
    assert [r.get("settings") for r in R.Log(path).read(w)] == [{"explore": 0.5}] * 2
    tune(w, trials=3, batch=1, log=path, final=0, measure_options=quick, build=False)  # resumed with the defaults
    assert "2 of them were proposed with settings other than the defaults (they count)" in \
        capsys.readouterr().err
    assert [r.get("settings") for r in R.Log(path).read(w)][2:] == [None]  # one more, with the defaults
    tune(w, trials=3, batch=1, log=path, final=0, measure_options=quick, build=False,
         strategy_options={"explore": 0.5})
    assert "1 of them were proposed with settings other than {'explore': 0.5}" in capsys.readouterr().err


def test_resume_leaves_alone_records_of_points_an_older_template_had(tmp_path, capsys):
    """A batched GEMM logged when it was tuned in the generic space (knobs out_layout, row_tile...)
    and resumed with the GEMM template: the strategy is not told points it has no knobs for (a
    KeyError before), they do not count as this template's trials, and the run says so."""
    w = Workload("BMM", "BMM-2x8x16x8", (2, 8, 16, 8))
    path = tmp_path / "old.jsonl"
    generic = {"out_layout": "default", "row_tile": 8, "vectors": 1, "fuse": 2, "unroll": 0, "inline_pad": 1}
    R.Log(path).append(R.make(w, generic, [1e-6], strategy="alt"))
    assert space_for(w).check(generic)  # not a point of today's template
    rec, kernel = tune(w, trials=4, batch=4, log=path, measure_options={"repeat": 2, "min_time": 0.001})
    assert "1 of points this version's template does not have" in capsys.readouterr().err
    assert space_for(w).check(rec["point"]) is None
    trials = [r for r in R.Log(path).read(w) if r.get("phase") != "final" and r["point"] != generic]
    assert len(trials) == 4  # the whole budget, none counted as done by the old record
    a, b = (np.random.default_rng(0).standard_normal(s).astype("f4") for s in ((2, 8, 8), (2, 8, 16)))
    c = np.empty((2, 8, 16), "f4")
    kernel(kernel.pack("A", a), kernel.pack("B", b), c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_command_line_tune_best_show(tmp_path, capsys):
    from search.cli import main
    path = str(tmp_path / "cli.jsonl")
    assert main(["tune", "GMM", "--shape", "16,32,24", "--trials", "4", "--batch", "4", "--log", path,
                 "--quiet"]) == 0
    assert "GMM-16x32x24: best" in capsys.readouterr().out
    assert main(["best", path]) == 0
    table = capsys.readouterr().out
    assert "GMM-16x32x24" in table and "      4 " in table
    assert main(["show", path, "--workload", "GMM-16x32x24"]) == 0
    assert "int alt_main_(" in capsys.readouterr().out
    assert main(["show", path, "--workload", "nothing"]) == 2  # a user mistake
    w = Workload("GMM", "GMM-16x32x24", (16, 32, 24))
    assert alt.apply_best(path, w) is not None


def gated_rowsum(m, n):
    """A user operator for the tuner: out[i] = sum_j x[i, j] * sigmoid(g[j])."""
    x, g = alt.placeholder((m, n), name="x"), alt.placeholder((n,), name="g")
    j = alt.reduce_axis(n, "j")
    return [x, g], alt.compute((m,), lambda i: alt.sum(x[i, j] * alt.sigmoid(g[j]), axis=j), name="rowsum")


def test_tune_a_user_operator(tmp_path, capsys):
    path = tmp_path / "user.jsonl"
    opts = {"repeat": 2, "min_time": 0.001}
    rec, kernel = tune(gated_rowsum, args=(48, 40), trials=4, strategy="random", log=path, batch=4, quiet=True,
                       measure_options=opts)
    assert rec["error"] == R.OK and rec["workload"]["op"].endswith(":gated_rowsum")
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((48, 40)).astype("f4"), rng.standard_normal(40).astype("f4")
    out = np.empty(48, "f4")
    kernel(x, g, out)
    np.testing.assert_allclose(out, x @ (1 / (1 + np.exp(-g))), rtol=1e-4, atol=1e-4)
    assert alt.apply_best(path, gated_rowsum, (48, 40)).source == kernel.source
    from search.tune import find_workload
    assert find_workload(gated_rowsum, (48, 40)).flops == 48 * 40 * 3  # mul, sigmoid, add per (i, j)
    from search.cli import main
    assert main(["best", str(path)]) == 0 and "gated_rowsum-48x40" in capsys.readouterr().out
    assert main(["show", str(path), "--workload", "gated_rowsum-48x40"]) == 2  # a log never imports code
    assert "alt.apply_best" in capsys.readouterr().err
    with pytest.raises(alt.WorkloadError, match="top-level function"):
        tune(lambda m: gated_rowsum(m, 8), args=(8,), trials=1)
    with pytest.raises(alt.WorkloadError, match="cannot be imported"):
        find_workload("no_such_module_xyz:op", (8,))
    with pytest.raises(alt.WorkloadError, match="no suite workload named 'C2D-99'"):
        find_workload("C2D-99")


def test_a_final_round_that_ran_slower_everywhere_is_run_again(monkeypatch):
    """When every one of the best candidates re-measures well above its earlier time, the machine
    slowed down (no process of ours waited, so no single timing can tell): the round runs again,
    and the winner comes from the clean round. One slower candidate alone is just that."""
    import importlib
    from alt.target import current
    T = importlib.import_module("search.tune")  # the module (search.tune is also the function)
    monkeypatch.setattr(T.time, "sleep", lambda s: None)
    pts = [{"k": i} for i in range(3)]
    earlier = [R.make(GEMM, p, [1e-3 * (i + 1)]) for i, p in enumerate(pts)]

    class Fake:
        target, run_settings = current(), {}

        def __init__(self, factors):
            self.factors, self.rounds = factors, 0

        def measure(self, points, on_result):
            f = self.factors[min(self.rounds, len(self.factors) - 1)]
            self.rounds += 1
            for i, p in enumerate(points):
                on_result(i, {"costs": [1e-3 * (p["k"] + 1) * f(p["k"])], "error": R.OK, "message": ""})

    class Quiet:
        def say(self, text):
            pass

    m = Fake([lambda k: 2.0, lambda k: 1.0])  # the whole first round at half speed
    out = T._remeasure(GEMM, earlier, 3, "alt", m, None, Quiet())
    assert m.rounds == 2 and len(out) == 6
    assert min(R.winner(earlier + out)["costs"]) == pytest.approx(1e-3)
    m = Fake([lambda k: 2.0 if k == 0 else 1.0])  # one candidate slower: that is its time
    out = T._remeasure(GEMM, earlier, 3, "alt", m, None, Quiet())
    assert m.rounds == 1 and len(out) == 3 and R.winner(earlier + out)["point"] == {"k": 0}
