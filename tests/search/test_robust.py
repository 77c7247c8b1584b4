"""The tuner under faults and user mistakes: durable records, damaged logs, broken and stuck workers,
kills and Ctrl-C, bad options, and the command line's one-line errors."""
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import alt
import search.measure
from alt.ops import Workload
from codegen.tools import running as alive
from search import records as R
from search.cli import main
from search.tune import TuningFailed, tune
from search.worker import MeasureError

GEMM = Workload("GMM", "robust-gemm", (24, 40, 36))
FAST = {"repeat": 2, "min_time": 0.001}


def workers_of(pid):
    """Worker processes (search.worker) started by process `pid` that are still alive."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"search.worker" in args and str(pid).encode() in args and alive(int(d)):
            out.append(int(d))
    return out


def wait_until(cond, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {seconds} s")


def lines(path):
    return [ln for ln in open(path, "rb").read().split(b"\n") if ln.strip()] if os.path.exists(path) else []


# options ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,match", [
    ({"model": "bogus"}, "model='bogus' is not a cost model"),
    ({"strategy": "annealing"}, "strategy='annealing' is not a search strategy"),
    ({"trials": 0}, "trials=0"),
    ({"trials": 2.5}, "trials=2.5"),
    ({"batch": 0}, "batch=0"),
    ({"seed": -1}, "seed=-1"),
    ({"measure_options": {"repeats": 3}}, r"measure_options \['repeats'\] are not options"),
])
def test_unknown_or_bad_options_are_errors(kw, match):
    with pytest.raises(alt.OptionError, match=match):
        tune(GEMM, **kw)


def test_command_line_tune_changes_the_strategys_settings_and_names_a_bad_one(monkeypatch, capsys):
    from search.cli import main
    tune_module = importlib.import_module("search.tune")  # `search.tune` is also the function
    seen = {}

    def stop(w, **kw):
        seen.update(kw["strategy_options"])
        raise alt.OptionError("stopped before tuning")
    monkeypatch.setattr(tune_module, "tune", stop)
    assert main(["tune", "GMM-0", "--set", "joint_share=0.25", "--set", "top_layouts=2"]) == 2
    assert seen == {"joint_share": "0.25", "top_layouts": "2"} and "stopped before tuning" in capsys.readouterr().err
    monkeypatch.undo()  # the real tune checks them before anything is built
    assert main(["tune", "GMM-0", "--trials", "1", "--quiet", "--set", "bogus=1"]) == 2
    assert "search.tune: 'bogus' is not a setting of strategy 'alt'" in capsys.readouterr().err
    assert main(["tune", "GMM-0", "--strategy", "loop-only", "--quiet", "--set", "joint_share=0.5"]) == 2
    assert "'joint_share' is not a setting of strategy 'loop-only'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["tune", "GMM-0", "--set", "joint_share"])
    assert "'joint_share' is not SETTING=VALUE" in capsys.readouterr().err


# records ---------------------------------------------------------------------------------------

def test_each_record_is_in_the_log_before_the_next_candidate_runs(tmp_path, monkeypatch):
    path = tmp_path / "d.jsonl"
    seen = []
    real = search.measure.run_isolated

    def spy(worker, task, timeout):
        seen.append(len(lines(path)))
        return real(worker, task, timeout)
    monkeypatch.setattr(search.measure, "run_isolated", spy)
    tune(GEMM, trials=6, batch=6, strategy="random", log=path, quiet=True, final=0,
         measure_options=dict(FAST, attempts=1))  # one run per candidate: no re-measurement, no reruns
    assert seen == list(range(6))  # each record written before the next run, not all at the batch's end


def test_a_record_after_a_cut_off_line_starts_a_line_of_its_own(tmp_path):
    log = R.Log(tmp_path / "c.jsonl")
    log.append(R.make(GEMM, {"a": 1}, [0.5]))
    with open(log.path, "a") as f:
        f.write('{"version": 1, "workload": {"op": "GM')  # a write cut off by a kill
    log.append(R.make(GEMM, {"a": 2}, [0.25]))
    assert [r["point"]["a"] for r in log.read(GEMM)] == [1, 2]


GOOD = R.make(GEMM, {"a": 1}, [0.5])


def _with(**changes):
    rec = json.loads(json.dumps(GOOD))
    for k, v in changes.items():
        if v is KeyError:
            rec.pop(k)
        else:
            rec[k] = v
    return json.dumps(rec).encode()


@pytest.mark.parametrize("line,why", [
    (_with(workload=KeyError), "no workload"),
    (_with(workload="GMM-0"), "no workload"),
    (_with(workload={"op": "GMM", "name": "x", "params": "24"}), "not a list of integers"),
    (_with(workload={"op": "GMM", "name": "x", "params": [24, 40]}), "wrong for operator GMM"),
    (_with(costs=[]), "an OK record without costs"),
    (_with(costs=[-1.0]), "not a list of positive finite seconds"),
    (_with(costs=[float("nan")]).replace(b"NaN", b"NaN"), "positive finite"),
    (_with(costs=[float("inf")]), "positive finite"),
    (_with(costs="fast"), "positive finite"),
    (_with(error=99), "error code 99"),
    (_with(point=[1, 2]), "no point"),
    (_with(version=7), "format version 7"),
    (b'{"version": 1, "workload": \xff\xfe}', "not valid UTF-8"),
    (b"[1, 2, 3]", "a JSON list"),
    (b"{broken", "not valid JSON"),
])
def test_damaged_lines_are_skipped_with_one_warning_each(tmp_path, caplog, line, why):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + line + b"\n" + _with(point={"a": 2}) + b"\n")
    recs = R.Log(path).read()
    assert [r["point"]["a"] for r in recs] == [1, 2]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "bad.jsonl:2: skipping a damaged record: " in warnings[0].getMessage()
    assert why in warnings[0].getMessage()


def test_alt_best_never_ranks_a_negative_cost_and_a_missing_log_is_an_error(tmp_path, capsys):
    path = tmp_path / "neg.jsonl"
    path.write_bytes(_with(costs=[-1.0], point={"a": 0}) + b"\n" + json.dumps(GOOD).encode() + b"\n")
    assert main(["best", str(path)]) == 0
    out = capsys.readouterr().out
    assert "500.000" in out and "-0.001" not in out  # the 0.5 s record, not the -1 s one
    assert main(["best", str(tmp_path / "missing.jsonl")]) == 2
    assert "no log file" in capsys.readouterr().err


# processes -------------------------------------------------------------------------------------

def test_workers_that_cannot_start_are_a_measure_error_and_record_nothing(tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'cannot start: no such interpreter' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    path = tmp_path / "broken.jsonl"
    with pytest.raises(MeasureError, match="could not start .*cannot start: no such interpreter"):
        tune(GEMM, trials=4, batch=4, log=path, quiet=True, measure_options=FAST)
    assert lines(path) == []  # no candidate was blamed, so resume tries them all


class _BrokenExecutor:
    """An executor whose futures fail for reasons of their own (a lost Dask worker, say)."""

    def submit(self, fn, *args):
        from concurrent.futures import Future
        f = Future()
        f.set_exception(ConnectionError("worker lost"))
        return f

    def shutdown(self, *a, **k):
        pass


def test_a_broken_executor_is_a_measure_error_not_a_candidate_failure(tmp_path):
    path = tmp_path / "ex.jsonl"
    with pytest.raises(MeasureError, match="the build executor failed .*worker lost"):
        tune(GEMM, trials=4, batch=4, log=path, quiet=True, executor=_BrokenExecutor(), measure_options=FAST)
    assert lines(path) == []


def sleepy(m):
    """A user operator whose build never ends in a worker process (the parent builds it at once)."""
    if sys.argv and sys.argv[0].endswith(os.path.join("search", "worker.py")):
        time.sleep(3600)
    x = alt.placeholder((1, m, 4, 4), name="x")  # 4-d: two layouts, so two programs (a 1-d one has but one)
    return [x], alt.compute(x.shape, lambda n, c, h, w: x[n, c, h, w] * 2.0, name="y")


def test_a_stuck_builder_is_recorded_and_killed(tmp_path):
    path = tmp_path / "stuck.jsonl"
    t0 = time.monotonic()
    with pytest.raises(TuningFailed):
        tune(sleepy, args=(8,), trials=2, batch=2, strategy="random", log=path, quiet=True,
             measure_options=dict(FAST, build_timeout=3))
    assert time.monotonic() - t0 < 60
    recs = R.Log(path).read()
    assert len(recs) == 2 and all(r["error"] == R.BUILD_TIMEOUT for r in recs)
    wait_until(lambda: not workers_of(os.getpid()), 10, "the stuck builders did not die")


def stuck_compiler(m):
    """A user operator whose build, in a worker process, starts a child that runs on (as gcc's driver
    starts cc1) and never ends."""
    if sys.argv and sys.argv[0].endswith(os.path.join("search", "worker.py")):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        with open(os.environ["ALT_TEST_CHILDREN"], "a") as f:
            f.write(f"{child.pid}\n")
        time.sleep(3600)
    x = alt.placeholder((m,), name="x")
    return [x], alt.compute((m,), lambda i: x[i] * 2.0, name="y")


def test_a_builder_killed_at_its_timeout_takes_its_compiler_with_it(tmp_path, monkeypatch):
    """A build worker killed at the build timeout kills what it started too: a compiler pass left
    running would take a core for minutes and disturb every timing beside it. The same for a
    compiler run in this process: at its timeout the driver's children die with it."""
    from codegen import tools
    pids = tmp_path / "children"
    monkeypatch.setenv("ALT_TEST_CHILDREN", str(pids))
    with pytest.raises(TuningFailed):
        tune(stuck_compiler, args=(8,), trials=2, batch=2, strategy="random", log=tmp_path / "c.jsonl", quiet=True,
             measure_options=dict(FAST, build_timeout=3))
    started = [int(x) for x in pids.read_text().split()]
    assert len(started) >= 2  # the two builds' (and those of the workers that featurized the draws, killed too)
    wait_until(lambda: not any(alive(p) for p in started), 10, "a stuck builder's child outlived it")
    # SIGKILL lands asynchronously: right after os.kill the child still runs its exit. `run` must
    # not raise before the tree has stopped (this read "alive" in about half of such runs before).
    for _ in range(20):
        with pytest.raises(subprocess.TimeoutExpired):
            tools.run(["sh", "-c", f"sleep 100 & echo $! > {tmp_path / 'sleep'}; wait"], timeout=0.2)
        assert not alive(int((tmp_path / "sleep").read_text()))


def _start_cli(tmp_path, log, trials=24):
    return subprocess.Popen([sys.executable, "-m", "alt", "tune", "GMM", "--shape", "48,64,40", "--trials",
                             str(trials), "--batch", "8", "--strategy", "random", "--log", str(log), "--quiet"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            # Ctrl-C reaches it as in a terminal, even where this test runs in the
                            # background (`cmd &` starts with SIGINT ignored, and so would the tuner)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.slow
def test_sigkill_loses_no_finished_record_and_leaves_no_worker(tmp_path):
    log = tmp_path / "kill.jsonl"
    p = _start_cli(tmp_path, log)
    wait_until(lambda: len(lines(log)) >= 2 or p.poll() is not None, 180, "no record was written")
    p.kill()
    p.wait()
    kept = lines(log)
    assert len(R.Log(log).read()) == len(kept) >= 2
    wait_until(lambda: not workers_of(p.pid), 10, "workers outlived a killed tuner")
    done = subprocess.run([sys.executable, "-m", "alt", "tune", "GMM", "--shape", "48,64,40", "--trials", "24",
                           "--batch", "8", "--strategy", "random", "--log", str(log), "--quiet"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = lines(log)
    trials = [r for r in R.Log(log).read() if r.get("phase") != "final"]  # not the final re-measurement
    before = trials[:len(kept)]  # the records of the killed run (it had no final round yet)
    # resumed, nothing measured twice: the trials left (a disturbed timing is no trial on resume)
    assert after[:len(kept)] == kept
    assert sum(r["error"] != R.DISTURBED for r in before) + len(trials) - len(before) == 24


@pytest.mark.slow
def test_ctrl_c_prints_one_line_and_leaves_a_log_that_resumes(tmp_path):
    log = tmp_path / "int.jsonl"
    p = _start_cli(tmp_path, log, trials=200)  # far more than it measures before the interrupt
    wait_until(lambda: len(lines(log)) >= 1 or p.poll() is not None, 180, "no record was written")
    assert p.poll() is None, f"the tuner ended (exit code {p.returncode}) before it could be interrupted: " \
                             f"{p.communicate()[1].decode()}"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err.decode()
    assert err.decode().strip().splitlines() == [
        f"alt tune: interrupted; the records measured so far are in {log}: run the same command to resume"]
    assert len(R.Log(log).read()) == len(lines(log)) >= 1
    wait_until(lambda: not workers_of(p.pid), 10, "workers outlived an interrupted tuner")


# the command line ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,match", [
    (["tune", "C2D-99"], "no suite workload named 'C2D-99'"),
    (["tune", "GMM", "--shape", "256,256"], r"GMM takes \(m, n, k\)"),
    (["tune", "GMM", "--shape", "8,x,8"], "'x' is not an integer"),
    (["tune", "GMM-0", "--trials", "0"], "0 is too small"),
    (["tune", "GMM-0", "--trials", "many"], "'many' is not a whole number"),
    (["tune", "GMM-0", "--strategy", "bogus"], "invalid choice: 'bogus'"),
    (["tune", "GMM-0", "--model", "bogus"], "invalid choice: 'bogus'"),
    (["tune", "nosuchpackage.ops:fn", "--shape", "4"], "'nosuchpackage.ops:fn' cannot be imported here"),
    (["show", "missing.jsonl", "--workload", "GMM-0"], "no log file"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["tune-net", "resnet99"], "no network 'resnet99' in the model zoo"),
    (["tune-net", "bert_layer", "--image", "32"], "bert_layer takes a sequence"),
    (["tune-net", "resnet18", "--image", "32", "--trials", "3"], r"trials=3 is fewer than the 12 tasks of 'resnet18'"),
    (["tune-net", "resnet18", "--strategy", "fp"], "invalid choice: 'fp'"),
])
def test_user_mistakes_print_one_line_and_exit_2(tmp_path, argv, match):
    r = subprocess.run([sys.executable, "-m", "alt", *argv], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=""))
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in r.stderr, r.stderr
    import re
    assert re.search(match, err[0]), err[0]


@pytest.mark.skipif(shutil.which("alt") is None, reason="the alt console script is not installed")
def test_the_console_script_says_when_the_current_folder_is_not_importable(tmp_path):
    (tmp_path / "myops.py").write_text("def op(n):\n    raise SystemExit('imported')\n")
    r = subprocess.run(["alt", "tune", "myops:op", "--shape", "4"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=""))
    assert r.returncode == 2 and "is not on PYTHONPATH: run `PYTHONPATH=. alt ...`" in r.stderr, r.stderr


def test_help_version_and_list(capsys):
    with pytest.raises(SystemExit) as e:
        main(["tune", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for opt, default in (("--trials", "64"), ("--strategy", "alt"), ("--batch", "8"), ("--seed", "0"),
                         ("--model", "gbt")):
        assert opt in text and f"(default: {default})" in text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"alt {alt.__version__}"
    assert main(["list"]) == 0
    table = capsys.readouterr().out
    assert "C2D-1" in table and "GMM-3" in table and "m=1024, n=1024, k=1024" in table and "2.147" in table


# a busy machine ----------------------------------------------------------------------------------

def test_a_disturbed_timing_is_rerun_then_recorded_as_disturbed_never_as_a_time(tmp_path, monkeypatch):
    """Other processes taking the CPU: the run is repeated (attempts), and a timing that stays
    disturbed is recorded as DISTURBED with its costs, is not a trial on resume, and never wins."""
    real = search.measure.run_isolated
    calls = []

    def busy(worker, task, timeout):
        r = real(worker, task, timeout)
        calls.append(r["error"])
        if len(calls) % 3 == 0:  # every third candidate's timings are all disturbed ...
            return r
        return dict(r, disturbed=True, costs=[c / 100 for c in r["costs"]]) if len(calls) <= 6 else r
    monkeypatch.setattr(search.measure, "run_isolated", busy)
    path = tmp_path / "busy.jsonl"
    rec, _ = tune(GEMM, trials=4, batch=4, strategy="random", log=path, quiet=True, final=0,
                  measure_options=dict(FAST, attempts=2))
    recs = R.Log(path).read(GEMM)
    disturbed = [r for r in recs if r["error"] == R.DISTURBED]
    assert disturbed and all("other processes took the CPU" in r["message"] and r["costs"] for r in disturbed)
    assert rec["error"] == R.OK and all(r["point"] != rec["point"] for r in disturbed)  # 100x "faster", not taken
    # on resume the disturbed candidates are not trials: as many new ones are measured
    monkeypatch.setattr(search.measure, "run_isolated", real)
    tune(GEMM, trials=4, batch=4, strategy="random", log=path, quiet=True, final=0, measure_options=FAST)
    again = R.Log(path).read(GEMM)
    assert sum(r["error"] != R.DISTURBED for r in again) == 4


def test_a_timing_the_slowed_machine_distorted_is_run_again_and_otherwise_says_so(tmp_path, monkeypatch):
    """The canary saw the machine run slow (alt.timing): the candidate is timed again, and the first
    timing at speed is its record; a machine slow through every attempt gives the fastest attempt,
    a time, whose message says how slow the machine was."""
    real = search.measure.run_isolated
    slowdowns = []

    def slowed(worker, task, timeout):
        r = real(worker, task, timeout)
        s = slowdowns.pop(0)  # other processes left every timing alone (a busy CI machine's do not count),
        return dict(r, slow=s, disturbed=False, costs=[1e-3 * s] * len(r["costs"]))  # and the code's time is fixed
    monkeypatch.setattr(search.measure, "run_isolated", slowed)
    opts = dict(FAST, attempts=3, settle=0.0)
    slowdowns[:] = [1.6, 1.0]  # slow, then at speed
    tune(GEMM, trials=1, strategy="random", log=tmp_path / "a.jsonl", quiet=True, final=0, measure_options=opts)
    (rec,) = R.Log(tmp_path / "a.jsonl").read(GEMM)
    assert rec["error"] == R.OK and rec["message"] == "" and not slowdowns
    slowdowns[:] = [1.9, 1.5, 1.7]  # slow through all three attempts
    tune(GEMM, trials=1, strategy="random", log=tmp_path / "b.jsonl", quiet=True, final=0, measure_options=opts)
    (rec,) = R.Log(tmp_path / "b.jsonl").read(GEMM)
    assert rec["error"] == R.OK and "ran 1.50x slower than its best during all 3 timings" in rec["message"]
    # slow for minutes (SLOW_STREAK candidates in a row): then each candidate is timed once, as it runs,
    # until one runs at speed
    m = search.measure.SLOW_STREAK
    slowdowns[:] = [1.5] * (3 * m) + [1.4, 1.0]
    tune(GEMM, trials=m + 2, batch=m + 2, strategy="random", log=tmp_path / "c.jsonl", quiet=True, final=0,
         measure_options=opts)
    recs = R.Log(tmp_path / "c.jsonl").read(GEMM)
    assert [r["message"][:25] for r in recs] == ["the machine ran 1.50x slo"] * m + ["the machine ran 1.40x slo", ""]
    assert not slowdowns  # 3 attempts each for the first m, one for the next, and one for the last


def test_a_candidate_is_timed_again_only_when_none_of_its_repeats_ran_at_speed():
    """Its score is its fastest repeat: one repeat at speed is enough (search.measure.timing_result
    reads Timing.slow_at_min, not Timing.slow)."""
    from alt.timing import Timing
    from search.measure import timing_result
    t = Timing([1.2e-3, 1e-3, 1.3e-3], number=4, slowed=[1.5, 1.0, 1.6], waited=[0.0] * 3)
    r = timing_result(t)
    assert r["slow"] == 1.0 and r["costs"] == t.samples and not r["disturbed"]
    assert "1.60x slower than its best" in r["timing"]  # the description still says how slow it ran
    assert timing_result(Timing([1e-3, 1e-3], slowed=[1.5, 1.3], waited=[0.0] * 2))["slow"] == 1.3


def test_between_attempts_the_measurer_waits_for_the_machine_to_run_at_speed_again(tmp_path, monkeypatch):
    """A timing the canary saw slowed is run again only once the machine runs near its best speed,
    or `settle` seconds later (search.measure.settle_task, in the run worker)."""
    import alt.timing as T
    from search.measure import settle_task
    gauge = [1.6, 1.5, 1.1]
    monkeypatch.setattr(T, "canary", lambda: type("G", (), {"slowdown": staticmethod(lambda: gauge.pop(0))})())
    monkeypatch.setattr(search.measure.time, "sleep", lambda s: None)
    assert settle_task(5.0) == 1.1 and not gauge  # polled until it ran fast
    gauge[:] = [1.6] * 1000
    t0 = time.monotonic()
    assert settle_task(0.0) == 1.6 and len(gauge) == 999  # no time to wait: one look
    assert time.monotonic() - t0 < 1.0


def test_run_settings_are_explicit_and_recorded(tmp_path):
    path = tmp_path / "omp.jsonl"
    tune(GEMM, trials=2, batch=2, strategy="random", log=path, quiet=True, final=0,
         measure_options=dict(FAST, threads=1, proc_bind="spread", wait_policy="passive"))
    run = R.Log(path).read(GEMM)[0]["run"]
    assert run == {"threads": 1, "proc_bind": "spread", "wait_policy": "passive"}
    with pytest.raises(alt.OptionError, match="wait_policy='sometimes'; use one of"):
        tune(GEMM, trials=2, quiet=True, measure_options={"wait_policy": "sometimes"})
    with pytest.raises(alt.OptionError, match="threads=0; give a whole number >= 1"):
        tune(GEMM, trials=2, quiet=True, measure_options={"threads": 0})


def test_a_log_that_cannot_be_written_is_refused_before_anything_is_measured(tmp_path, monkeypatch):
    from alt.graph import zoo
    from alt.recursive import models
    from search.cells import tune_cells
    from search.network import tune_network

    def no_measuring(*a, **k):
        raise AssertionError("measured although the log cannot be written")

    monkeypatch.setattr(search.measure.Measurer, "measure", no_measuring)
    for log, why in ((tmp_path, "Is a directory"), (tmp_path / "missing" / "t.jsonl", "No such file or directory")):
        for what, run in (("search.tune", lambda: tune("GMM-0", trials=2, log=log, quiet=True)),
                          ("search.tune_network", lambda: tune_network(zoo.mobilenet_v2(image=32, width=0.35),
                                                                       trials=40, log=log, quiet=True)),
                          ("search.tune_cells", lambda: tune_cells(models.tree_fc(hidden=16), trials=2, log=log,
                                                                   quiet=True))):
            with pytest.raises(alt.OptionError, match=f"{what}: cannot write the tuning log '{log}' \\({why}\\)"):
                run()
    assert main(["tune", "GMM-0", "--trials", "2", "--log", str(tmp_path), "--quiet"]) != 0


def test_measure_options_with_bad_values_are_refused_before_anything_is_built():
    for options, match in (({"repeat": 0}, "repeat=0; give a whole number >= 1"),
                           ({"min_time": -1}, "min_time=-1; give a number >= 0"),
                           ({"run_timeout": 0}, "run_timeout=0; give a number > 0"),
                           ({"rtol": "x"}, "rtol='x'; give a number > 0"),
                           ({"attempts": 1.5}, "attempts=1.5; give a whole number >= 1"),
                           ({"settle": float("nan")}, "settle=nan; give a number >= 0")):
        with pytest.raises(alt.OptionError, match=f"measure: {match}"):
            tune("GMM-0", trials=2, quiet=True, measure_options=options)
        with pytest.raises(alt.OptionError, match=f"measure: {match}"):  # a cluster's workers never see them
            tune("GMM-0", trials=2, quiet=True, measure_options=options, scheduler="tcp://127.0.0.1:1")
        with pytest.raises(alt.OptionError, match=f"measure: {match}"):
            search.measure.Measurer(Workload("GMM", "GMM-8", (8, 8, 8)), **options)
