"""The experiments' reports say only what they wrote."""
import json

import numpy as np
import pytest

from experiments import ablation, cortex, demo, end_to_end, single_op
from experiments.report import gather, wrote


def test_wrote_names_only_files_that_were_written(tmp_path):
    assert wrote(tmp_path / "a.json", None, tmp_path / "a.md") == f"wrote {tmp_path / 'a.json'}, {tmp_path / 'a.md'}"
    assert wrote(None) == "wrote nothing"


@pytest.mark.parametrize("module,args", [(single_op, ([{"workload": "x", "alt": 2.0, "loop-only": 1.0, "tvm": 0,
                                                        "torch": 0}],)),
                                         (ablation, (["x"], {("x", "alt"): [1.0, 2.0]})),
                                         (cortex, ([], [])),
                                         (end_to_end, ([{"model": "m", "ms": {"alt": 1.0, "loop-only": 2.0}}],))])
def test_without_matplotlib_no_figure_is_claimed(tmp_path, monkeypatch, module, args):
    monkeypatch.setattr(module, "pyplot", lambda: None)
    path = tmp_path / "fig.png"
    assert module._plot(*args, path) is None and not path.exists()


def test_end_to_end_table_gives_every_contender_its_ratio_to_alt():
    doc = {"cpu": "a CPU", "quick": False, "trials_per_task": 8, "summary": {"alt over loop-only": 2.0},
           "rows": [{"model": "m", "input": [1, 3, 8, 8], "ms": {"alt": 1.0, "loop-only": 2.0}}]}
    md = end_to_end.markdown(doc)
    assert "on a CPU" in md and "| 1.000 (1.00x) | 2.000 (2.00x) |" in md and "alt over loop-only: 2.00x" in md


def test_end_to_end_counts_only_the_trials_its_own_run_measured_in_trials_a_minute():
    assert end_to_end.tuning_rate({"trials": 60, "tuning_seconds": 30.0}) == "120 trials/min"
    resumed = end_to_end.tuning_rate({"trials": 60, "resumed_trials": 40, "tuning_seconds": 30.0})
    assert resumed == "40 trials/min (20 measured by this run, 40 from the log)"
    assert "none measured" in end_to_end.tuning_rate({"trials": 60, "resumed_trials": 60, "tuning_seconds": 3.0})


def test_end_to_end_resumes_from_its_tuning_logs_and_otherwise_starts_afresh(tmp_path, monkeypatch, capsys):
    seen = []

    def tune_all(g, budget, logs, quiet):  # what the tuning would find in its logs
        seen.append(sorted(p.name for p in logs.glob("*.jsonl")))
        rec = {"trials": budget, "tuning_seconds": 1.0, "stats": {}}
        return {"alt": (rec, None)}
    monkeypatch.setattr(end_to_end, "tune_all", tune_all)
    monkeypatch.setattr(end_to_end, "extract_tasks", lambda g: [1, 2])
    monkeypatch.setattr(end_to_end, "run_torch", lambda g, x: [x])
    monkeypatch.setattr(end_to_end, "contenders", lambda g, tuned, logs, torch, tvm: {"alt": (None, None, {})})
    monkeypatch.setattr(end_to_end, "measure", lambda g, items, want, x, rounds: {"alt": [0.002, 0.001]})
    out = tmp_path / "e2e"
    (tmp_path / "e2e-logs").mkdir()
    (tmp_path / "e2e-logs" / "resnet18-alt.jsonl").write_text("{}\n")
    args = ["--models", "resnet18", "--no-tvm", "--out", str(out)]
    end_to_end.main(args + ["--resume"])
    assert seen[-1] == ["resnet18-alt.jsonl"] and "resuming from 1 tuning logs" in capsys.readouterr().out
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["resumed"] and doc["rows"][0]["min_ms"]["alt"] == 1.0 and doc["rows"][0]["ms"]["alt"] == 1.5
    end_to_end.main(args)
    assert seen[-1] == [] and not json.loads(out.with_suffix(".json").read_text())["resumed"]


def test_the_main_job_checks_every_schedule_against_numpy_and_names_the_cpu(monkeypatch, capsys):
    monkeypatch.setattr(demo, "time_kernel", lambda kernel, *arrays: kernel.time(*arrays, repeat=1))
    monkeypatch.setattr(demo, "time_callable", lambda fn: 1.0)  # numpy's speed is not what this checks
    rows = demo.main(["--quick", "--n", "48"])
    out = capsys.readouterr().out
    assert [r[0] for r in rows] == list(demo.SCHEDULES) * 3
    assert all(g > 0 and err <= 1e-4 for _, _, g, _, err in rows)
    assert out.startswith(f"on {demo.current().describe()}") and "GEMM 48^3" in out and "hand+layout" in out


def test_report_gathers_each_result_with_its_table_and_figure(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.json").write_text('{"cpu": "CPU-Z", "rows": []}')
    (tmp_path / "a" / "x.md").write_text("| t |")
    (tmp_path / "a" / "x.png").write_bytes(b"png")
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "run.jsonl").write_text("{}")
    text, n = gather(tmp_path)
    assert n == 2 and "Measured on CPU-Z." in text and "| t |" in text and "](a/x.png)" in text
    assert "not valid JSON" in text
    assert "No result JSON" in gather(tmp_path / "a" / "none")[0]


def test_ablation_counts_the_trials_a_guided_search_needs_to_match_its_reference():
    assert ablation.parse_config("alt:random:unseeded") == ("alt", "random", False, False, {})
    assert ablation.parse_config("alt:gbt:transfer") == ("alt", "gbt", True, True, {})
    assert ablation.label("alt:gbt:transfer") == "alt, model transferred"
    assert ablation.parse_config("alt:gbt:unseeded+transfer") == ("alt", "gbt", False, True, {})
    assert ablation.label("alt:gbt:unseeded+transfer") == "alt, no hand seeds, model transferred"
    for bad in ("alt:gbt:seeded", "alt:gbt:transfer+transfer", "alt:gbt:unseeded:transfer"):
        with pytest.raises(SystemExit, match="strategy\\[:model\\[:flags\\]\\]"):
            ablation.parse_config(bad)
    assert ablation.label("alt:gbt:unseeded") == "alt, no hand seeds" and ablation.label("alt:random") == \
        "alt (no cost model)"
    curves = {("w", "alt"): [[1, 5, 5, 6], [2, 4, 6, 6], [1, 5, 6, 7]],  # median curve 1 5 6 6
              ("w", "alt:random"): [[1, 2, 3, 5], [1, 1, 4, 4], [2, 2, 5, 6]],  # median final 5
              ("v", "alt"): [[1, 1, 1, 1]], ("v", "alt:random"): [[2, 2, 2, 2]]}
    _, rows = ablation.summarize(["w", "v"], ["alt", "alt:random"], curves, 4)
    (row,) = rows
    assert row["trials"] == {"w": 2, "v": None} and row["bound"]
    assert row["geomean"] == pytest.approx((2 * 4) ** 0.5)  # v never gets there: counted as the budget
    assert row["trials_near"] == {"w": 2, "v": None}  # 90% of 5 is 4.5: still trial 2 on w
    lo, hi = row["interval"]  # the seeds resampled, w's match moves between trials 2 and 4; v never matches
    assert lo == pytest.approx(8 ** 0.5) and lo <= row["geomean"] < hi <= 4
    one = {k: v[:1] for k, v in curves.items()}  # one seed: nothing to resample, no spread
    (row,) = ablation.summarize(["w", "v"], ["alt", "alt:random"], one, 4)[1]
    assert row["interval"] == pytest.approx([8 ** 0.5] * 2)


def test_ablation_counts_the_second_half_trials_that_came_near_the_best_before_them():
    # the best before trials 5-8 is 10 (trial 4): 9.5 and 9 are within 10% of it, 5 and a failure are not
    assert ablation.near_best([1, 2, 3, 10, 9.5, 5, 9, 0]) == 0.5
    assert ablation.near_best([1, 2, 3, 4]) == 1.0  # each beats the best before it
    assert ablation.near_best([4, 1, 1, 4.5]) == 0.5 and ablation.near_best([4, 3, 4, 3.5]) == 0.5
    assert ablation.near_best([0, 0]) == 0.0  # nothing ran before: no candidate is near it
    assert ablation.near_best([5]) is None and ablation.near_best([]) is None
    assert ablation._median_share([0.25, None, 0.5, 0.75], spread=True) == "50% [25%, 75%]"
    assert ablation._median_share([None]) == "-"


def test_an_ablation_configuration_can_change_the_strategys_settings_and_is_matched_against_its_twins():
    parsed = ablation.parse_config("alt:gbt:unseeded+joint_share=0.25")
    assert parsed == ("alt", "gbt", False, False, {"joint_share": 0.25})
    assert ablation.parse_config("alt:random:per_layout=2+unseeded")[2:] == (False, False, {"per_layout": 2})
    assert ablation.label("alt:gbt:unseeded+top_layouts=2") == "alt, no hand seeds, top_layouts=2"
    for bad, match in (("alt:gbt:unseeded+joint_share=2", "joint_share='2' for strategy 'alt'; give a number "
                        "from 0.0 to 1.0"), ("alt:gbt:per_layout=2.5", "per_layout='2.5' .* a whole number"),
                       ("random:gbt:joint_share=0.5", "'joint_share' is not a setting of strategy 'random'"),
                       ("alt:gbt:bogus=1", "'bogus' is not a setting .* it has \\['chains', 'explore'")):
        with pytest.raises(SystemExit, match=match):
            ablation.parse_config(bad)
    variant, twin = "alt:gbt:unseeded+joint_share=0.25", "alt:random:unseeded+joint_share=0.25"
    configs = ["alt:gbt:unseeded", "alt:random:unseeded", variant, twin, "alt:gbt:explore=0.1"]
    assert ablation.pairs(configs) == [("alt:gbt:unseeded", "alt:random:unseeded"), (variant, twin),
                                       (variant, "alt:gbt:unseeded")]  # alt:gbt (explore's base) is not run
    assert ablation.pairs(["alt:gbt:explore=0.1", "alt:gbt"]) == [("alt:gbt:explore=0.1", "alt:gbt")]
    assert ablation.pairs([twin, "alt:random:unseeded"]) == []  # random guidance is no guided side
    logged = "alt:gbt:unseeded+model_target=log"  # a setting of the model alone: its twin is random guidance itself
    assert ablation.parse_config(logged)[4] == {"model_target": "log"}
    assert ablation.pairs(["alt:gbt:unseeded", "alt:random:unseeded", logged]) == [
        ("alt:gbt:unseeded", "alt:random:unseeded"), (logged, "alt:random:unseeded"), (logged, "alt:gbt:unseeded")]
    assert ablation._variant("alt:gbt:unseeded+model_target=log+joint_share=0.25", model="random") == \
        "alt:random:unseeded+joint_share=0.25"
    with pytest.raises(SystemExit, match="model_target='rank' .* give one of"):
        ablation.parse_config("alt:gbt:model_target=rank")


def test_ablation_resumes_from_its_logs_and_otherwise_starts_afresh(tmp_path, capsys):
    out = tmp_path / "abl"
    log = tmp_path / "abl.GMM-0.random.0.jsonl"
    common = ["--workloads", "GMM-0", "--configs", "random", "--seeds", "1", "--out", str(out)]

    def lines():
        return [json.loads(l) for l in log.read_text().splitlines() if '"error"' in l]
    ablation.main(common + ["--trials", "3", "--retime", "0"])
    first = lines()
    assert len(first) == 3
    ablation.main(common + ["--trials", "5", "--resume", "--retime", "2"])  # two more, the first three kept
    again = lines()
    assert len(again) == 5 and again[:3] == first
    from search import records as R
    from search.tune import find_workload
    flops = find_workload("GMM-0").flops
    doc = json.loads(out.with_suffix(".json").read_text())
    best = doc["curves"][0]["best_by_trial"]
    assert best[2] == pytest.approx(max(R.gflops(r, flops) for r in first)) and best[4] >= best[2] > 0
    # the run's pick after its 5 trials, timed again: the same kernel, so near its logged speed
    assert doc["retime_rounds"] == 2 and doc["retimed_at"] == [5]
    (retimed,) = doc["retimed"]
    assert retimed["config"] == "random" and 0.2 * best[4] < retimed["gflops"][0] < 5 * best[4]
    assert "Re-timed side by side" in out.with_suffix(".md").read_text()
    (near,) = doc["near_best"]  # trials 3-5 against the best before each, from the log
    scores = [R.gflops(r, flops) for r in again]
    assert near["share"] == ablation.near_best(scores) and doc["near"] == ablation.NEAR
    assert "| GMM-0 | " + ablation._median_share([near["share"]], spread=True) in out.with_suffix(".md").read_text()
    ablation.main(common + ["--trials", "2", "--retime", "0"])  # no --resume: a new run
    assert len(lines()) == 2
    assert json.loads(out.with_suffix(".json").read_text())["retimed"] == []


def test_retimed_curves_follow_the_kernel_each_run_would_have_returned(tmp_path, monkeypatch):
    from experiments import retime
    from search.strategy import key
    assert retime.checkpoints(64, 8) == [8, 16, 24, 32, 40, 48, 56, 64]
    assert retime.checkpoints(20, 8) == [8, 16, 20] and retime.checkpoints(5, 8) == [5]

    class W:
        flops = 1e9
    ok = [{"error": 0, "costs": [c], "point": {"x": i}} for i, c in enumerate([0.5, 0.2, 0.4, 0.1])]
    bad = {"error": 3, "costs": [], "point": {"x": 9}}
    logs = {"a": [bad] + ok, "b": [bad, bad]}
    monkeypatch.setattr(retime.R, "Log", lambda path: type("L", (), {"read": lambda self, w: logs[path]})())
    monkeypatch.setattr(retime.R, "measured_on", lambda rec, target: True)
    assert retime.picks("a", W, None, [1, 2, 3, 5, 9]) == [None, {"x": 0}, {"x": 1}, {"x": 3}, {"x": 3}]
    assert retime.picks("b", W, None, [1, 2]) == [None, None]
    times = {key({"x": 0}): 0.25, key({"x": 3}): None}  # x=3 never ran correctly when timed again
    assert retime.curve([None, {"x": 0}, {"x": 3}], times, W.flops) == [0.0, 4.0, 0.0]
    # trials to match on curves known at some trial counts only: the count, not the position
    curves = {("w", "alt"): [[1, 4.6, 6]], ("w", "alt:random"): [[1, 2, 5]]}
    _, (row,) = ablation.summarize(["w"], ["alt", "alt:random"], curves, 20, at=[8, 16, 20])
    assert row["trials"] == {"w": 20} and not row["bound"]
    assert row["trials_near"] == {"w": 16}  # 4.6 is 90% of 5


def test_a_kernel_timed_again_in_rounds_is_scored_by_its_fastest_round_as_in_tuning(monkeypatch):
    """A slow machine only lengthens a timing: side_by_side keeps each kernel's fastest round (the
    median of a few rounds followed the machine, not the kernel), and a round that failed or was
    disturbed is no time at all."""
    from experiments import retime
    from search.strategy import key
    rounds = {key({"x": 0}): [(0, [3e-3]), (0, [1e-3, 4e-3]), (0, [2e-3])],
              key({"x": 1}): [(0, [5e-3]), (6, []), (0, [2.5e-3])], key({"x": 2}): [(6, [])] * 3}

    class Fake:
        def __init__(self, w, **options):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def measure(self, points):
            return [dict(zip(("error", "costs"), rounds[key(p)].pop(0))) for p in points]
    monkeypatch.setattr(retime, "Measurer", Fake)
    times = retime.side_by_side(None, [{"x": 0}, {"x": 1}, {"x": 0}, {"x": 2}, None], 3)
    assert times == {key({"x": 0}): 1e-3, key({"x": 1}): 2.5e-3, key({"x": 2}): None}
    assert not any(rounds.values())  # each distinct kernel once a round


def test_ablation_configurations_take_turns_seed_by_seed(tmp_path, monkeypatch, capsys):
    """A slow spell of the machine must fall on both sides of a comparison: per workload, seed 0 of
    every configuration, then seed 1 of every one; transfer configurations after every alt log."""
    calls = []
    monkeypatch.setattr(ablation, "tune", lambda w, **kw: calls.append((w.name, kw["strategy"], kw["model"],
                                                                        kw["seed"], kw["transfer"] is not None)))
    monkeypatch.setattr(ablation, "scores", lambda log, w, trials, here: [1.0] * trials)
    monkeypatch.setattr(ablation, "_plot", lambda *a: None)
    ablation.main(["--workloads", "GMM-0,R18-8", "--configs", "alt,alt:random,alt:gbt:transfer", "--seeds", "2",
                   "--trials", "2", "--out", str(tmp_path / "abl")])
    assert calls == [("GMM-0", "alt", "gbt", 0, False), ("GMM-0", "alt", "random", 0, False),
                     ("GMM-0", "alt", "gbt", 1, False), ("GMM-0", "alt", "random", 1, False),
                     ("R18-8", "alt", "gbt", 0, False), ("R18-8", "alt", "random", 0, False),
                     ("R18-8", "alt", "gbt", 1, False), ("R18-8", "alt", "random", 1, False),
                     ("GMM-0", "alt", "gbt", 0, True), ("GMM-0", "alt", "gbt", 1, True),
                     ("R18-8", "alt", "gbt", 0, True), ("R18-8", "alt", "gbt", 1, True)]


def _row(name, trials=64, tvm=None):
    return {"workload": name, "op": "GMM", "params": [1, 1, 1], "trials": trials, "alt": 4.0, "loop-only": 2.0,
            "alt point": {"b_layout": "packed"}, "tvm": tvm, "tvm seconds": None if tvm is None else 9.0,
            "torch": 5.0, "numpy": None, "loop-only seconds": {"total": 1.0},
            "alt seconds": {"propose": 0.5, "fit": 0.5, "build": 1.0, "run": 2.0, "total": 4.0, "measured": 8}}


def test_single_op_resumes_the_rows_of_an_earlier_run_on_the_same_cpu(tmp_path, monkeypatch, capsys):
    """--resume keeps rows measured on this CPU with the same trials and seed, measures the rest,
    and the results are written after every workload."""
    from alt.target import resolve
    cpu = resolve(None).describe()
    out = tmp_path / "s"
    out.with_suffix(".json").write_text(json.dumps({"cpu": cpu, "seed": 0, "rows": [_row("GMM-0"), _row("GMM-1", 16)]}))
    assert set(single_op._resumable(out.with_suffix(".json"), cpu, 64, 0, False)) == {"GMM-0"}
    assert single_op._resumable(out.with_suffix(".json"), cpu, 64, 0, True) == {}  # no TVM figure yet
    assert single_op._resumable(out.with_suffix(".json"), "another CPU", 64, 0, False) == {}
    assert single_op._resumable(out.with_suffix(".json"), cpu, 64, 1, False) == {}
    measured = []
    monkeypatch.setattr(single_op, "peak_gflops", lambda: 100.0)
    monkeypatch.setattr(single_op, "_measure_row", lambda w, *a: measured.append(w.name) or _row(w.name))
    monkeypatch.setattr(single_op, "_plot", lambda rows, path: None)
    single_op.main(["--workloads", "GMM-0,GMM-1", "--no-tvm", "--resume", "--out", str(out)])
    assert measured == ["GMM-1"]
    text = capsys.readouterr().out
    assert "1 of 2 workloads kept" in text and "(kept)" in text
    assert "alt at least as fast on 0 of 2 workloads" in text and "(20%)" in text  # proposing and fitting 2 of 10 s
    doc = json.loads(out.with_suffix(".json").read_text())
    assert [r["workload"] for r in doc["rows"]] == ["GMM-0", "GMM-1"] and doc["alt_at_least_torch"] == 0
    assert "geometric mean 0.80x" in out.with_suffix(".md").read_text()
    single_op.main(["--workloads", "DEN-0", "--no-tvm", "--resume", "--out", str(out)])  # another workload
    assert measured == ["GMM-1", "DEN-0"]  # the rows of workloads not asked this time are kept, not dropped
    assert "and its 2 rows of other workloads" in capsys.readouterr().out
    assert [r["workload"] for r in json.loads(out.with_suffix(".json").read_text())["rows"]] == ["GMM-0", "GMM-1",
                                                                                                 "DEN-0"]


def test_single_op_times_pytorch_in_channels_last_too_and_counts_against_its_faster_layout():
    """PyTorch is timed with its inputs in their own layout and, where one is 4-D or 5-D, in channels
    last; the summary keeps the count against its own layout and adds one against the faster of the
    two (a row without the channels-last figure, an earlier run's, counts its own)."""
    pytest.importorskip("torch")
    from search.tune import find_workload
    assert single_op.torch_time(find_workload("MXP-0"), channels_last=True) > 0
    assert single_op.torch_time(find_workload("C3D-0"), channels_last=True) > 0  # 5-D: channels_last_3d
    assert single_op.torch_time(find_workload("GMM-0"), channels_last=True) is None  # no 4-D or 5-D input
    rows = [{**_row("C2D-0"), "torch": 3.0, "torch channels_last": 5.0},  # alt 4.0: faster than one, not both
            {**_row("GMM-0"), "torch": 3.0}]
    sm = single_op.summarize(rows)
    assert sm["alt_at_least_torch"] == 2 and sm["alt_at_least_torch_best"] == 1 and sm["torch_best_workloads"] == 2
    assert sm["geomean_alt_over_torch_best"] == pytest.approx((0.8 * 4.0 / 3.0) ** 0.5)
    assert "in the faster of its own layout and channels last: geometric mean 1.03x; alt at least as fast on " \
           "1 of 2 workloads" in "\n".join(single_op.summary_lines(sm))


def test_single_op_reports_a_failed_workload_and_measures_the_rest(tmp_path, monkeypatch, capsys):
    """One workload's failure (here: its reference did not fit in memory) is printed and left out of
    the table, the others are measured and written, and the run exits with the names that failed."""
    from alt.errors import ComputeError

    def measure(w, *a):
        if w.name == "GMM-0":
            raise ComputeError("GMM-0 failed on purpose")
        return _row(w.name)

    monkeypatch.setattr(single_op, "peak_gflops", lambda: 100.0)
    monkeypatch.setattr(single_op, "_measure_row", measure)
    monkeypatch.setattr(single_op, "_plot", lambda rows, path: None)
    out = tmp_path / "s"
    with pytest.raises(SystemExit, match="1 workload.s. failed and are not in the table: GMM-0"):
        single_op.main(["--workloads", "GMM-0,GMM-1", "--no-tvm", "--out", str(out)])
    assert "GMM-0    failed, not measured (ComputeError: GMM-0 failed on purpose)" in capsys.readouterr().out
    assert [r["workload"] for r in json.loads(out.with_suffix(".json").read_text())["rows"]] == ["GMM-1"]


def test_a_contenders_timing_taken_in_a_slow_spell_is_taken_again_and_the_fastest_kept(monkeypatch):
    from experiments import timing

    class Gauge:
        def __init__(self, readings):
            self.readings = list(readings)

        def slowdown(self):
            return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]
    waits, speed = [], [1.0]
    monkeypatch.setattr(timing.time, "sleep", lambda s: None)
    monkeypatch.setattr(timing, "at_speed", lambda s: waits.append(s) or speed[0])
    monkeypatch.setitem(timing._state, "slow_streak", 0)
    # the canary after each timing: slow, slow, at speed; the spell had doubled the first two
    monkeypatch.setattr(timing, "canary", lambda: gauge)
    gauge, times = Gauge([1.9, 1.5, 1.0]), iter([2.0, 1.7, 1.0, 5.0])
    assert timing.steady(lambda: next(times)) == 1.0 and len(waits) == 3
    gauge, times, waits[:] = Gauge([1.0]), iter([3.0, 1.0]), []
    assert timing.steady(lambda: next(times)) == 3.0 and len(waits) == 1  # at speed: taken once
    gauge, times = Gauge([2.0]), iter([3.0, 2.5, 4.0, 1.0])
    assert timing.steady(lambda: next(times), attempts=3) == 2.5  # slow throughout: the fastest of 3
    # slow for minutes: after SLOW_STREAK waits that found it slow, no more waiting nor retaking
    speed[0], waits[:] = 2.0, []
    gauge, times = Gauge([2.0]), iter([3.0, 2.5, 4.0, 1.5, 9.0])
    assert timing.steady(lambda: next(times)) == 2.5 and waits == [10.0, 10.0, 10.0]
    assert timing.steady(lambda: next(times)) == 1.5 and waits[3:] == [0.0]
    # a contender's timer that itself calls steady (time_callable) is taken once inside
    speed[0], waits[:], timing._state["slow_streak"] = 1.0, [], 0
    gauge = Gauge([1.0])
    assert timing.steady(lambda: timing.steady(lambda: 0.5)) == 0.5 and len(waits) == 1


def test_a_baseline_in_a_process_of_its_own_answers_and_its_crash_is_a_clear_error():
    import os

    from alt import AltError
    from experiments.isolated import ChildDied, Server, call
    assert call("os", "getpid") != os.getpid()  # ran elsewhere, and the answer came back
    with pytest.raises(ChildDied, match=r"math.sqrt: raised in its process(.|\n)*ValueError: math domain error"):
        call("math", "sqrt", -1.0)
    with pytest.raises(ChildDied, match=r"os.abort: its process died while running run \(killed by signal 6\)"):
        call("os", "abort")
    assert issubclass(ChildDied, AltError)
    with Server("collections", "Counter", "abca", what="a counter") as s:  # an object kept in the child
        assert s.call("most_common", 1) == [("a", 2)] and s.call("total") == 4
        assert s.call("most_common", n=1) == [("a", 2)]  # keyword arguments too
        with pytest.raises(ChildDied, match="a counter: raised in its process while running nope"):
            s.call("nope")
        assert s.call("total") == 4  # an error in one call leaves the object serving


def test_a_child_that_made_a_semaphore_leaves_no_leak_warning_at_the_parents_exit():
    """The child skips its libraries' exit handlers but not multiprocessing's own clean-up (a
    MetaSchedule child used to leave "1 leaked semaphore objects" at the end of end_to_end)."""
    import subprocess
    import sys
    code = ("from experiments.isolated import Server\n"
            "with Server('multiprocessing', 'Lock') as s:\n"
            "    assert s.call('acquire') is True\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "leaked semaphore" not in r.stderr, r.stderr


def test_a_child_that_dies_starting_is_an_error_not_a_hang_even_with_megabytes_of_arguments(tmp_path):
    """A script without a __main__ guard makes every spawned child run it again and die starting.
    Arguments of megabytes (a network's weights) used to travel in multiprocessing's process object,
    written with the pipe's read end open in the parent: the parent blocked forever. Now ChildDied."""
    import subprocess
    import sys
    script = tmp_path / "unguarded.py"
    script.write_text("import numpy as np\n"
                      "from experiments.isolated import ChildDied, Server\n"
                      "try:\n"
                      "    Server('builtins', 'len', np.zeros(4_000_000, np.float32))\n"
                      "except ChildDied as e:\n"
                      "    print('ChildDied:', e)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert "ChildDied: builtins.len: its process died while building it" in r.stdout, (r.stdout, r.stderr)


def test_a_childs_heap_keeps_what_it_frees_and_the_parents_environment_is_left_alone(monkeypatch):
    """Baselines allocate per call; their children run with glibc tunables that keep freed memory
    (experiments.isolated.STEADY_HEAP), added to the user's own, while this process keeps its own."""
    import os
    from experiments.isolated import STEADY_HEAP, call
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert call("os", "getenv", "GLIBC_TUNABLES") == STEADY_HEAP
    assert "GLIBC_TUNABLES" not in os.environ
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")
    assert call("os", "getenv", "GLIBC_TUNABLES") == "glibc.malloc.tcache_count=0:" + STEADY_HEAP
    assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.tcache_count=0"


def test_tvm_baseline_in_its_own_process_reports_a_crash_as_an_error(monkeypatch):
    from experiments import isolated, tvm_baseline

    def crash(*args):
        raise isolated.ChildDied("experiments.tvm_baseline.tune: its process died while running run "
                                 "(killed by signal 11)")
    monkeypatch.setattr(isolated, "call", crash)
    r = tvm_baseline.tune_isolated(None, 4, [], None, None)
    assert r["error"].endswith("(killed by signal 11)") and r["tune_s"] >= 0


@pytest.mark.parametrize("module,argv,message", [
    (end_to_end, ["--models", "resnet18,nope"], "argument --models: nope: not a network of the model zoo"),
    (end_to_end, ["--trials-per-task", "0"], "argument --trials-per-task: 0 is too small; give at least 1"),
    (single_op, ["--trials", "-3"], "argument --trials: -3 is too small; give at least 1"),
    (ablation, ["--seeds", "0"], "argument --seeds: 0 is too small"),
    (cortex, ["--tune-trials", "x"], "argument --tune-trials: 'x' is not a whole number"),
    (demo, ["--n", "0"], "argument --n: 0 is too small"),
    (single_op, ["--workloads", "GMM-0,NOPE-1"], "argument --workloads: no suite workload named 'NOPE-1'"),
    (ablation, ["--workloads", ","], "argument --workloads: ',': give suite workload names separated by commas")])
def test_an_experiments_bad_option_is_a_usage_error_before_anything_runs(module, argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        module.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_an_output_path_that_cannot_be_written_is_a_usage_error_before_anything_runs(tmp_path, capsys):
    from experiments import report
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for module in (single_op, end_to_end, ablation, cortex):
        with pytest.raises(SystemExit) as e:
            module.main(["--out", str(blocker / "run")])  # its folder would be a file
        assert e.value.code == 2 and f"argument --out: '{blocker / 'run'}': cannot make its folder" in \
            capsys.readouterr().err
    with pytest.raises(SystemExit):
        single_op.main(["--out", str(tmp_path)])
    assert "is a folder; give a file name in it" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        report.main(["--results", str(tmp_path / "none")])
    assert "is not a folder; give the folder the experiments wrote to" in capsys.readouterr().err


def test_the_suite_table_names_a_winograd_point_and_why_it_can_pass_the_peak(tmp_path):
    row = {"workload": "C2D-2", "op": "C2D", "alt": 470.0, "loop-only": 350.0, "tvm": 70.0, "torch": 210.0,
           "numpy": None, "alt point": {"layout": "NCHWc", "winograd": 2}, "alt seconds": {}, "loop-only seconds": {}}
    plain = dict(row, workload="SFM-0", op="SFM", **{"alt point": {}})
    single_op._write(tmp_path / "t", "a CPU", 230.0, 0, 64, [row, plain])
    md = (tmp_path / "t.md").read_text()
    assert "| C2D-2 | 350.0 | 470.0 | 204% |" in md and "NCHWc, Winograd F(2x2, 3x3) |" in md
    assert "| SFM-0 |" in md and md.count("| - |") >= 1 and "its % of peak can pass 100%" in md


def test_model_quality_ranks_the_logged_points_a_run_did_not_measure(tmp_path, capsys):
    """Three runs logged on a fabricated landscape (GMM-0's throughput set by its register tile's
    rows, which the lowered program's features see; one candidate failed): a model fitted to a
    run's first trials ranks the points the others measured, better than random picks do; a bad
    variant is an error naming it; random_max is the exact expectation."""
    from experiments import model_quality as mq
    from search import records as R
    from search.space import space_for
    from search.tune import find_workload
    assert mq.random_max([1.0, 2.0, 3.0], n=2) == pytest.approx(8 / 3)  # max of 2 of 3: (2 + 3 + 3) / 3
    assert mq.random_max([1.0, 2.0], n=8) == 2.0
    w = find_workload("GMM-0")
    space = space_for(w)
    rng = np.random.default_rng(0)
    (tmp_path / "logs").mkdir()
    for run in range(3):
        log = R.Log(tmp_path / "logs" / f"run{run}.jsonl")
        for i in range(40):
            p = space.sample(rng)
            if run == 0 and i == 3:
                log.append(R.make(w, p, [], error=R.RUN_ERROR, message="crashed"))
                continue
            log.append(R.make(w, p, [w.flops / (1e9 * (1 + p["tile_i"]))]))
    out = tmp_path / "mq"
    mq.main(["--logs", str(tmp_path / "logs"), "--at", "16,32", "--runs", "3", "--held", "40",
             "--variants", "default,features=1+target=share+novelty=0.5", "--out", str(out)])
    printed = capsys.readouterr().out
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["cpu"] in printed and doc["cpu"] in out.with_suffix(".md").read_text()
    rows = {r["variant"]: r for r in doc["results"]}
    assert set(rows) == {"default", "features=1+target=share+novelty=0.5"} and rows["default"]["runs"] == 3
    for row in rows.values():
        for k in ("16", "32"):
            got = row["by_trials"][k]
            assert got["cases"] == 3 and got["rho"] > 0.6 and got["max8"] >= got["random"], (row["variant"], got)
            assert 0 < got["tuner8"] <= 1
    assert doc["variants"]["features=1+target=share+novelty=0.5"] == {"features": 1.0, "target": "share",
                                                                      "novelty": 0.5}
    for variants, message in (("features=2", "GBTModel features=2.0: give the share"),
                              ("depth=3", "'depth=3' is not a setting"), ("features=x", "features='x' is not a float"),
                              ("novelty=3", "model_quality: novelty=3.0 for strategy 'alt'; give a number from 0.0")):
        with pytest.raises(SystemExit, match=message):
            mq.main(["--logs", str(tmp_path / "logs"), "--variants", variants, "--out", str(out)])
    with pytest.raises(SystemExit, match="--at '16,x': give whole numbers separated by commas"):
        mq.main(["--logs", str(tmp_path / "logs"), "--at", "16,x", "--out", str(out)])
    with pytest.raises(SystemExit, match="does not exist"):
        mq.main(["--logs", str(tmp_path / "missing"), "--out", str(out)])
