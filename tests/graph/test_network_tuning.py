"""Network tuning: tasks, the task scheduler, the graph-level layout choice, tuned schedules inside
network kernels, network records and their replay."""
import itertools
import logging
import os
import sys

import numpy as np
import pytest

import alt
import alt.graph as G
from alt.target import current  # the target the tuner uses (ALT_TARGET, else the host)
from alt.graph import compile_network, zoo
from alt.graph.plan import blocked_parts
from search import records as R
from search.layouts import ConversionCosts, independent, predicted, solve
from search.network import TIE, Choice, candidates_of, pick_fastest, signature, tune_network
from search.space import space_for
from search.tasks import TaskScheduler, extract_tasks, workload_of


def _net(name="pair", c=16, size=12, o1=32, o2=16, k2=1, pad2=0, extra=False):
    """x -> conv(3x3, pad 1) + bn + relu -> conv(k2) [-> + residual conv] -> gap -> dense."""
    g = G.Graph(name)
    rng = np.random.default_rng(0)
    x = g.input((1, c, size, size))
    w1 = g.param(rng.standard_normal((o1, c, 3, 3)) * 0.1, "w1")
    y = G.conv2d(x, w1, padding=1, name="c1")
    y = G.relu(G.batch_norm(y, g.param(rng.uniform(0.5, 1, o1)), g.param(rng.uniform(-.1, .1, o1))), name="r1")
    w2 = g.param(rng.standard_normal((o2, o1, k2, k2)) * 0.1, "w2")
    z = G.conv2d(y, w2, padding=pad2, name="c2")
    if extra:
        w3 = g.param(rng.standard_normal((o2, c, 1, 1)) * 0.1, "w3")
        z = G.relu(G.add(z, G.conv2d(x, w3, name="c3")))
    z = G.global_avg_pool2d(z)
    return g.output(G.dense(z, g.param(rng.standard_normal((10, o2)) * 0.1), g.param(np.zeros(10)), name="fc"))


def _x(g, seed=0):
    return np.random.default_rng(seed).standard_normal(g.inputs[0].shape).astype(np.float32)


def _disturbed(records):
    """Records whose timing other processes disturbed: not times, so a resumed run measures them again."""
    return sum(r["error"] == R.DISTURBED for r in records)


def _close(a, b, rtol=1e-4):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b))) <= rtol


# tasks -------------------------------------------------------------------------------------------

def test_tasks_are_the_distinct_sensitive_workloads_with_their_counts():
    r18 = extract_tasks(zoo.resnet18())
    ops = {t.workload.op for t in r18}
    assert ops == {"C2D", "DEN"}
    assert sum(t.weight for t in r18 if t.workload.op == "C2D") == 20  # 17 3x3/7x7 + 3 downsample convs
    assert max(t.weight for t in r18) == 4  # layer1's four 64x56x56 3x3 convs share one task
    mb = {t.workload.op for t in extract_tasks(zoo.mobilenet_v2())}
    assert {"C2D", "DEP", "DEN"} <= mb
    bert = {t.workload.name: t.weight for t in extract_tasks(zoo.bert_layer())}
    assert bert["DEN-128x768x768"] == 4 and bert["BMM-12x128x128x64"] == 1 and bert["BMM-12x128x64x128"] == 1
    assert len(bert) == 5
    g = G.Graph("grp")
    x = g.input((1, 8, 9, 9))
    y = G.conv2d(x, g.param(np.ones((16, 2, 3, 3))), groups=4, name="grouped")
    y = G.conv2d(y, g.param(np.ones((4, 16, 3, 1))), name="nonsquare")
    g.output(y)
    (t,) = extract_tasks(g)
    assert t.workload.op == "GRP" and workload_of(g.nodes[1]) is None


def test_task_names_match_the_command_line_shapes():
    (t, *_) = extract_tasks(zoo.resnet18())
    assert t.workload.name == "C2D-1x3x224x64x7x2x3" and t.workload.params == (1, 3, 224, 64, 7, 2, 3)


# the task scheduler ------------------------------------------------------------------------------

class _T:
    def __init__(self, weight):
        self.weight = weight


def test_scheduler_warms_every_task_then_follows_the_expected_gain():
    tasks = [_T(1), _T(4), _T(1)]
    s = TaskScheduler(tasks, budget=60, batch=4, rng=np.random.default_rng(0), eps=0.0)
    latency = {0: 1e-3, 1: 1e-3, 2: 1e-5}
    order = []
    while (step := s.next()) is not None:
        i, goal = step
        order.append(i)
        s.update(i, goal, latency[i] * (1 + 1 / goal))
    assert order[:3] == [0, 1, 2] and s.spent == 60
    assert s.trials[1] > s.trials[0] > s.trials[2]  # weight x latency decides where the trials go
    with pytest.raises(alt.OptionError, match="at least one trial per task"):
        TaskScheduler(tasks, budget=2, batch=4, rng=np.random.default_rng(0))


def test_scheduler_resumes_from_trials_already_done():
    s = TaskScheduler([_T(1), _T(1)], budget=16, batch=4, rng=np.random.default_rng(0), done=[8, 4],
                      best=[1e-3, 2e-3])
    assert s.spent == 12
    i, goal = s.next()
    assert goal - s.trials[i] == 4 and s.next() is not None


# the graph-level choice --------------------------------------------------------------------------

def test_dp_trades_a_faster_layout_against_the_conversion_it_forces():
    g = _net()
    a, b = ("NCHW16c", "NCHW16c"), ("NHWC", "NHWC")
    cands = {"c1": {a: 1.0, b: 1.2}, "c2": {a: 1.0, b: 0.5}}
    cheap = lambda shape, x, y: 0.1  # noqa: E731
    dear = lambda shape, x, y: 10.0  # noqa: E731
    assert solve(g, cands, cheap)[0] == {"c1": a, "c2": b}  # each its own best, the conversion paid
    assign, cost, exact = solve(g, cands, dear)
    assert exact and assign == {"c1": b, "c2": b} and cost == pytest.approx(1.7)
    assert independent(cands) == {"c1": a, "c2": b}
    assert predicted(g, cands, independent(cands), dear) == pytest.approx(11.5)


def test_dp_is_exact_on_a_residual_graph():
    g = _net(extra=True)
    lays = [("NCHW", "NCHW"), ("NHWC", "NHWC"), ("NCHW16c", "NCHW16c"), ("NCHW8c", "NCHW16c")]
    rng = np.random.default_rng(5)
    for _ in range(5):
        cands = {n: {lay: float(rng.uniform(1, 3)) for lay in lays} for n in ("c1", "c2", "c3")}
        table = {}

        def conv(shape, x, y):
            return table.setdefault((x, y), float(rng.uniform(0, 2)))
        assign, cost, exact = solve(g, cands, conv)
        brute = min(predicted(g, cands, dict(zip(cands, combo)), conv)
                    for combo in itertools.product(lays, repeat=3))
        assert exact and cost == pytest.approx(brute) and predicted(g, cands, assign, conv) == pytest.approx(cost)


def test_dp_weighs_the_conversion_a_residual_add_forces():
    g = _net(extra=True)  # relu(c2 + c3): the add runs in c2's output layout and reads c3's converted
    a, b = ("NCHW16c", "NCHW16c"), ("NHWC", "NHWC")
    a3, b3 = ("NCHW", "NCHW16c"), ("NCHW", "NHWC")  # c3 reads the graph input as it is
    cands = {"c1": {a: 1.0}, "c2": {a: 1.0, b: 1.1}, "c3": {a3: 1.2, b3: 1.0}}
    dear = lambda shape, x, y: 10.0  # noqa: E731
    assert independent(cands) == {"c1": a, "c2": a, "c3": b3}
    assert predicted(g, cands, independent(cands), dear) == pytest.approx(13.0)  # c3's output converted for the add
    assign, cost, exact = solve(g, cands, dear)
    assert exact and assign["c2"][1] == assign["c3"][1] and cost == pytest.approx(3.2)


def test_conversion_costs_are_measured_on_a_checked_kernel():
    costs = ConversionCosts(alt.Target.host())
    t = costs((1, 24, 6, 6), "NCHW16c", "NHWC")
    assert 0 < t < 0.1 and costs((1, 24, 6, 6), "NHWC", "NHWC") == 0.0  # microseconds, a busy machine's ms
    again = ConversionCosts(alt.Target.host(), costs.to_json())
    assert again((1, 24, 6, 6), "NCHW16c", "NHWC") == t


def test_a_conv_may_read_one_block_and_write_another():
    g = _net()
    x = _x(g)
    want = compile_network(g)(x)
    for pair in [("NCHW8c", "NCHW16c"), (None, "NHWC"), ("NHWC", "NCHW32c")]:
        net = compile_network(g, {"c1": pair, "c2": (pair[1], "NCHW16c")})
        assert _close(net(x), want), pair
    with pytest.raises(alt.ComputeError, match="input layout 'NCWH'"):
        compile_network(g, {"c1": ("NCWH", "NCHW")})


# tuned schedules inside network kernels ----------------------------------------------------------

def test_every_layout_of_the_conv_template_schedules_into_a_fused_network_kernel():
    g = _net(extra=True)
    x = _x(g)
    want = compile_network(g)(x)
    rng = np.random.default_rng(0)
    tasks = {t.workload.name: t for t in extract_tasks(g)}
    by_node = {n: t.workload for t in tasks.values() for n in t.nodes}
    for layout in ("NCHWc", "NHWC", "NCHW"):
        schedules, layouts = {}, {}
        for node, w in by_node.items():
            space = space_for(w)
            fixed = {"layout": layout} if w.op == "C2D" else None
            c = Choice(w, space.sample(rng, fixed))
            schedules[node] = c
            if c.layouts[1]:
                layouts[node] = c.layouts
        net = compile_network(g, layouts, schedules=schedules)
        assert _close(net(x), want), layout
        assert net.refused == []  # every tuned point reads and writes the layouts the plan gives it


def test_schedules_for_unknown_nodes_are_refused():
    g = _net()
    w = workload_of(g.nodes[0])
    with pytest.raises(alt.ArgumentError, match="node 'nope'"):
        compile_network(g, schedules={"nope": Choice(w, space_for(w).seeds()[0])})


# tuning, records and replay ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    log = tmp_path_factory.mktemp("net") / "pair.jsonl"
    g = _net()
    rec, net = tune_network(g, trials=10, log=str(log), batch=3, quiet=True)
    return g, log, rec, net


def test_tune_network_logs_operator_records_and_the_network_record(tuned):
    g, log, rec, net = tuned
    ops = R.Log(log).read()
    assert 10 <= len(ops) <= 10 + _disturbed(ops) and {r["workload"]["op"] for r in ops} == {"C2D", "DEN"}
    (nrec,) = R.Log(log).read_networks(signature(g))
    assert nrec["layouts"].keys() == {"c1", "c2"}
    if nrec.get("hand"):  # the untuned network was the fastest: no tuned point in it
        assert nrec["choices"] == {}
    else:  # a conv without a tuned point under its layout keeps its hand schedule there
        assert "fc" in nrec["choices"] and nrec["choices"].keys() <= {"c1", "c2", "fc"} and nrec["untuned"] == []
    # the DP's assignment, the hand layouts with tuned points and the untuned hand network were all
    # built and timed; the fastest was kept
    sel = nrec["selection"]
    assert sel["measured_s"].keys() == {"graph DP", "hand layouts", "hand schedules"}
    order = list(sel["measured_s"])  # the preference order; a tie within TIE goes to the earliest
    fastest = min(sel["measured_s"].values())
    assert sel["chosen"] == next(k for k in order if sel["measured_s"][k] <= fastest * (1 + TIE))
    assert nrec["latency_s"] == sel["measured_s"][sel["chosen"]]
    assert sel["rounds"] in (3, 5, 7, 9)  # 3, then 2 more at a time while the runner-up is within TIE
    assert nrec["latency_s"] > 0 and nrec["trials"] == 10
    assert (nrec["predicted_s"] is None) == (sel["chosen"] == "hand schedules") and (nrec["predicted_s"] or 1) > 0
    assert net.fallbacks == net.refused == [] and _close(net(_x(g, 3)), compile_network(g)(_x(g, 3)))


def test_compile_network_from_the_log_rebuilds_the_tuned_network(tuned):
    g, log, rec, net = tuned
    again = compile_network(g, log=str(log))
    assert again.source == net.source and again.fallbacks == []
    x = _x(g, 4)
    assert np.array_equal(again(x), net(x))
    assert alt.apply_best(str(log), g).source == net.source


def test_nodes_the_log_does_not_cover_keep_the_defaults_and_are_named(tuned, caplog):
    g, log, rec, net = tuned
    bigger = _net(extra=True)  # another signature: its layouts come from the operator records
    with caplog.at_level(logging.WARNING, logger="alt.search"):
        rebuilt = compile_network(bigger, log=str(log))
    assert rebuilt.fallbacks == ["c3"] and "c3" in caplog.text
    assert _close(rebuilt(_x(bigger)), compile_network(bigger)(_x(bigger)))


def test_tune_network_resumes_and_spends_only_the_rest(tuned, tmp_path):
    g, log, rec, net = tuned
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(log.read_bytes())
    rec2, net2 = tune_network(g, trials=13, log=str(copy), batch=3, quiet=True)
    recs, before = R.Log(copy).read(), R.Log(log).read()  # 10 records, and one more for each disturbed timing
    assert recs[:len(before)] == before and rec2["trials"] == 13 and len(R.Log(copy).read_networks()) == 2
    assert rec["resumed_trials"] == 0 and rec2["resumed_trials"] == rec["trials"]  # what this run measured: 3
    # the three trials left, and again each one a busy machine disturbed (not a time: measured again)
    assert 3 <= len(recs) - len(before) <= 3 + _disturbed(recs[len(before):])
    # the build the log stood for was timed beside the new ones, and the log now rebuilds what was returned
    assert "earlier build" in rec2["selection"]["measured_s"] and "earlier build" not in rec["selection"]["measured_s"]
    assert np.array_equal(compile_network(g, log=str(copy))(_x(g, 5)), net2(_x(g, 5)))


def test_a_resumed_run_keeps_the_earlier_build_when_it_is_faster_and_the_log_rebuilds_it(
        tuned, tmp_path, monkeypatch, caplog):
    """When the network the log stood for wins the side-by-side timing, the resumed run writes it
    again with its own figures: the latest record of a strategy is the log's network, and
    compile_network(log) rebuilds exactly what tune_network returned (once it rebuilt the fastest
    record of any run, which a noisy earlier timing could make an older one)."""
    import search.network as N
    g, log, rec, net = tuned
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(log.read_bytes())
    real = N.pick_fastest

    def earlier_wins(timers, **kw):
        won, seen = real(timers, **kw)
        return "earlier build", seen
    monkeypatch.setattr(N, "pick_fastest", earlier_wins)
    rec2, net2 = tune_network(g, trials=13, log=str(copy), batch=3, quiet=True)
    assert rec2["selection"]["chosen"] == "earlier build" and rec2["trials"] == 13 and rec2["time"] > rec["time"]
    assert (rec2["choices"], rec2["layouts"], rec2["winograd"]) == (rec["choices"], rec["layouts"], rec["winograd"])
    assert net2.source == net.source
    nets = R.Log(copy).read_networks(signature(g))
    assert len(nets) == 2 and N.current_network(nets) == rec2
    assert net2.source == compile_network(g, log=str(copy)).source
    # a latest record whose network no longer builds is left out of the race, and said so
    real_build = N.build_record

    def failing(graph, rec, *a, **kw):
        if "selection" in rec:  # a record read from the log (a new candidate has no selection yet)
            raise alt.ScheduleError("this version cannot build it")
        return real_build(graph, rec, *a, **kw)
    monkeypatch.setattr(N, "build_record", failing)
    monkeypatch.setattr(N, "pick_fastest", real)
    with caplog.at_level(logging.WARNING, logger="alt.search"):
        rec3, _ = tune_network(g, trials=13, log=str(copy), batch=3, quiet=True)
    assert "does not build (this version cannot build it); it is not timed" in caplog.text
    assert "earlier build" not in rec3["selection"]["measured_s"]
    # each strategy's latest record, then the fastest of those; the latest where none was timed
    old_fast = dict(rec, time=1.0, latency_s=1e-6)
    other = dict(rec, strategy="loop-only", time=2.0, latency_s=5e-4)
    assert N.current_network([old_fast, dict(rec, time=3.0, latency_s=1e-3), other])["strategy"] == "loop-only"
    assert N.current_network([dict(rec, time=1.0, latency_s=None), dict(rec, time=2.0, latency_s=None)])["time"] == 2.0


def test_a_resumed_network_tuning_counts_no_point_of_an_older_template(tuned, tmp_path):
    """Records of a task whose points today's template rejects (logged before it gained a knob, as
    BERT's batched GEMMs before their template) are not that task's trials: the budget measures them
    anew in today's template, as search.tune does for one workload."""
    import json
    g, log, rec, net = tuned
    copy = tmp_path / "old.jsonl"
    lines = [json.loads(raw) for raw in log.read_text().splitlines() if raw.strip()]
    for r in lines:
        if r.get("workload", {}).get("op") == "DEN":  # as a template without the b_layout knob logged them
            r["point"] = {k: v for k, v in r["point"].items() if k != "b_layout"}
    copy.write_text("".join(json.dumps(r) + "\n" for r in lines))
    old = [r for r in R.Log(copy).read() if r["workload"]["op"] == "DEN"]
    fc = next(n for n in g.nodes if n.name == "fc")
    assert old and all(space_for(workload_of(fc)).check(r["point"]) for r in old)
    rec2, _ = tune_network(g, trials=rec["trials"], log=str(copy), batch=3, quiet=True)
    # the other tasks' trials only (rec["trials"] - len(old) where no timing was disturbed)
    kept = [r for r in R.Log(log).read() if r["workload"]["op"] != "DEN"]
    assert rec2["resumed_trials"] == sum(r["error"] != R.DISTURBED and r.get("phase") != "final" for r in kept)
    new = R.Log(copy).read()[len(R.Log(log).read()):]
    left = rec["trials"] - rec2["resumed_trials"]  # the dense task's, measured anew
    assert left >= len([r for r in old if r["error"] != R.DISTURBED]) and left <= len(new) <= left + _disturbed(new)


def test_wp_reuses_the_records_and_builds_its_network_without_fused_conversions(tuned, tmp_path):
    g, log, rec, net = tuned
    copy = tmp_path / "wp.jsonl"
    copy.write_bytes(log.read_bytes())
    wrec, wnet = tune_network(g, trials=10, strategy="wp", log=str(copy), batch=3, quiet=True)
    recs, before = R.Log(copy).read(), R.Log(log).read()  # alt's records cover wp's budget: nothing measured
    assert recs[:len(before)] == before and len(recs) - len(before) <= _disturbed(recs[len(before):])  # but redos
    assert wrec["fuse_conversions"] is False and rec["fuse_conversions"] is True
    assert not wnet.plan.fused_conversions and not wnet.plan.fuse_conversions
    assert wrec["layouts"] == {n: list(min(c, key=lambda lay: c[lay][0])) for n, c in
                               candidates_of(extract_tasks(g), R.Log(log), current()).items() if n in ("c1", "c2")}
    rebuilt = compile_network(g, log=str(copy))  # the fastest network record: alt's or wp's
    chosen = min(R.Log(copy).read_networks(signature(g)), key=lambda r: r["latency_s"])
    assert rebuilt.plan.fuse_conversions is chosen["fuse_conversions"]
    assert _close(wnet(_x(g, 5)), compile_network(g)(_x(g, 5)))


def test_the_untuned_hand_network_record_replays_as_the_hand_build():
    from search.layouts import ConversionCosts
    from search.network import _network_record, build_record
    g = _net()
    target = current()
    hand = {n: (lay, lay) for n, lay in G.hand_layouts(g, target).items()}
    rec = _network_record(g, extract_tasks(g), "alt", hand, {}, None, ConversionCosts(target), target, hand=True)
    net = build_record(g, rec, target)
    assert net.fallbacks == [] and rec["choices"] == {}
    assert net.source == compile_network(g, G.hand_layouts(g, target), winograd=False).source  # the record's {}


def test_the_hand_candidate_gives_depthwise_convs_the_best_point_in_their_inputs_layout(monkeypatch):
    import search.network as N
    from search.layouts import layout_source
    g = zoo.mobilenet_v2(image=32, width=0.5)
    target = current()
    hand = G.hand_layouts(g, target)
    nodes = [n for n in g.nodes if n.name.endswith(".dw")]
    node = next(n for n in nodes if n.name in hand)  # its channels are whole vectors: its producer's blocks
    dw, src = node.name, layout_source(node)
    want = hand[src.name]  # where its input is stored
    assert hand[dw] == want and blocked_parts(want)
    fast, slow = {"k": 1}, {"k": 2}
    found = {dw: {(None, "NCHW7c"): (2e-3, slow), (None, "NHWC"): (1e-3, fast), (want, want): (1.5e-3, fast)}}
    monkeypatch.setattr(N, "candidates_of", lambda *a, **k: found)
    assign, points, total = N.hand_candidate(g, [], None, target, lambda *a: 0.0)
    assert assign[dw] == (want, want) and points[dw] is fast  # no conversion added to the hand network
    assert total == pytest.approx(1.5e-3)
    found[dw] = {(None, "NHWC"): (1e-3, fast), (None, "NCHW7c"): (2e-3, slow)}  # none in that layout:
    assign, points, _ = N.hand_candidate(g, [], None, target, lambda *a: 0.0)  # the hand schedule in it
    assert assign[dw] == (want, want) and dw not in points


def test_tune_network_rejects_bad_options():
    g = _net()
    with pytest.raises(alt.OptionError, match="strategy='fp'"):
        tune_network(g, trials=8, strategy="fp")
    with pytest.raises(alt.OptionError, match="trials=2"):
        tune_network(g, trials=2)
    with pytest.raises(alt.OptionError, match="no tuning log"):
        compile_network(g, log="/nonexistent/log.jsonl")
    with pytest.raises(alt.OptionError, match="the network is str 'resnet18', not an alt.graph.Graph"):
        tune_network("resnet18", trials=8)


@pytest.mark.slow
def test_tvm_tunes_the_same_graph_and_matches_pytorch():
    """The graph-level TVM baseline runs the graph alt runs (exported from PyTorch), tuned by
    MetaSchedule with the budget it was given, and gives PyTorch's answer."""
    from experiments.tvm_baseline import available
    if not available():
        pytest.skip("apache-tvm is not installed (pip install -e '.[baselines]')")
    pytest.importorskip("torch")
    from alt.graph.reference import run_torch
    from experiments.tvm_graph import TVMNetwork
    g = _net(extra=True)
    net = TVMNetwork(g, trials=4)  # in a process of its own
    x = _x(g, 5)
    try:
        assert net.tasks >= 2 and 1 <= net.trials_run and net.tune_s > 0
        assert _close(net(x)[0], run_torch(g, x)[0], 1e-4) and np.array_equal(net.output(x), net(x)[0])
        assert net.time(x) > 0
    finally:
        net.close()
    assert "tvm" not in sys.modules  # never loaded beside PyTorch in this process


@pytest.mark.parametrize("mode", ["eager", "channels_last", "compile"])
def test_pytorch_contenders_run_in_a_process_of_their_own_and_give_pytorchs_answer(mode):
    """The experiments time PyTorch in a fresh process (experiments.torch_graph.TorchNetwork):
    the same answer as PyTorch in this one, a time, torch.compile's compile time, and a closed
    child that no longer answers."""
    pytest.importorskip("torch")
    from alt.graph.reference import run_torch
    from experiments.isolated import ChildDied
    from experiments.torch_graph import TorchNetwork
    g = _net(extra=True)
    x = _x(g, 3)
    with TorchNetwork(g, mode) as net:
        assert _close(net.output(x), run_torch(g, x)[0], 1e-5)
        assert net.time(x, repeat=2) > 0
        assert (net.compile_s > 0) == (mode == "compile")
        pid = net._server._proc.pid
        assert pid != os.getpid()
    with pytest.raises(ChildDied, match=f"PyTorch {mode} on pair: its process is no longer running"):
        net(x)


def _timer(times):
    it = iter(times)
    return lambda: next(it)


def test_pick_fastest_times_close_candidates_again_and_gives_a_tie_to_the_first():
    # clear winner: three rounds each, the fastest round decides
    won, seen = pick_fastest({"dp": _timer([3.0, 3.1, 2.9]), "hand": _timer([2.0, 2.2, 2.1])})
    assert won == "hand" and [len(v) for v in seen.values()] == [3, 3]
    # 1% apart: two more rounds, up to nine; still within the tie, the first (preferred) is kept
    won, seen = pick_fastest({"dp": _timer([1.01] * 9), "hand": _timer([1.0] * 9), "untuned": _timer([5.0] * 9)})
    assert won == "dp" and [len(v) for v in seen.values()] == [9, 9, 9]
    # close after three rounds, then a clearly faster round settles it
    won, seen = pick_fastest({"dp": _timer([1.01] * 5), "hand": _timer([1.0, 1.0, 1.0, 0.8, 1.0])})
    assert won == "hand" and len(seen["dp"]) == 5
    # a single candidate is timed once
    won, seen = pick_fastest({"only": _timer([1.0])})
    assert won == "only" and seen == {"only": [1.0]}


def test_a_tuned_gemm_that_packs_b_is_used_only_where_b_is_a_weight(tmp_path, caplog):
    """A GEMM point that packs B is measured standalone, where B is an input the measurement lays
    out; in a network an activation B arrives as its producer wrote it. Such a point is not chosen
    for that node, and handed one anyway, the network refuses it (it computed garbage before)."""
    rng = np.random.default_rng(0)
    wb = rng.standard_normal((48, 96)).astype(np.float32)
    g = G.Graph("two-matmuls")
    a, b = g.input((64, 48), "a"), g.input((48, 96), "b")
    g.output(G.matmul(a, b, name="act"), G.matmul(a, g.param(wb), name="weight"))
    (task,) = extract_tasks(g)
    assert task.nodes == ["act", "weight"]
    packed = {"b_layout": "packed", "nb": space_for(task.workload).knobs["nb"][0], "tile_i": 4, "tile_k": 0,
              "unroll": 0, "par_depth": 1, "order": "ij"}
    packed["tile_j"] = packed["nb"]
    plain = dict(packed, b_layout="KN")
    log = R.Log(tmp_path / "t.jsonl")
    log.append(R.make(task.workload, packed, [1e-5], strategy="alt"))  # the fastest, standalone
    log.append(R.make(task.workload, plain, [2e-5], strategy="alt"))
    found = candidates_of([task], log, current(), graph=g)
    assert [p["b_layout"] for _, p in found["act"].values()] == ["KN"]
    assert [p["b_layout"] for _, p in found["weight"].values()] == ["packed"]
    x1, x2 = rng.standard_normal((64, 48)).astype(np.float32), rng.standard_normal((48, 96)).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="alt.graph"):
        net = compile_network(g, schedules={n: Choice(task.workload, packed) for n in ("act", "weight")})
    assert net.refused == ["act"] and "node act would read or write b in a layout of its own" in caplog.text
    y_act, y_weight = net(x1, x2)
    np.testing.assert_allclose(y_act, x1 @ x2, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y_weight, x1 @ wb, rtol=1e-4, atol=1e-4)


def test_tuned_matrix_multiplies_run_inside_network_kernels_with_their_epilogues(tmp_path):
    """A tuned GEMM point with a fused epilogue (it raised ValueError when the template read the
    epilogue as the multiply), and a batched GEMM point in two-level tiling, each used in a network
    kernel: not refused, and matching numpy. Points that pack an activation operand are not offered;
    one that packs a weight A is (and the network packs A when it is built)."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((40, 48)).astype(np.float32)
    g = G.Graph("mm-epilogues")
    a, q, k = g.input((24, 40), "a"), g.input((3, 20, 16), "q"), g.input((3, 16, 36), "k")
    wa = rng.standard_normal((16, 24)).astype(np.float32)
    g.output(G.relu(G.scale(G.matmul(a, g.param(w), name="mm"), 0.5)),
             G.scale(G.batch_matmul(q, k, name="bmm"), 0.25), G.matmul(g.param(wa), a, name="wa"))
    tasks = extract_tasks(g)
    assert [t.workload.op for t in tasks] == ["GMM", "BMM", "GMM"]
    log = R.Log(tmp_path / "t.jsonl")
    rng_p = np.random.default_rng(0)
    chosen = {}
    for t in tasks:
        space = space_for(t.workload)
        fast = space.sample(rng_p, {"a_layout": "packed", "b_layout": "KN"})  # packs A: an activation
        plain = space.sample(rng_p, {"a_layout": "MK", "b_layout": "KN", "cache_i": 2, "cache_j": 1})
        log.append(R.make(t.workload, fast, [1e-6], strategy="alt"))
        log.append(R.make(t.workload, plain, [2e-6], strategy="alt"))
        found = candidates_of([t], log, current(), graph=g)
        weight_a = t.nodes == ["wa"]  # A is a weight there: packed once when the network is built
        assert [p for _, p in found[t.nodes[0]].values()] == [fast if weight_a else plain]
        chosen[t.nodes[0]] = Choice(t.workload, fast if weight_a else plain)
    net = compile_network(g, schedules=chosen)
    assert net.refused == []
    x, xq, xk = (rng.standard_normal(v.shape).astype(np.float32) for v in g.inputs)
    y, z, u = net(x, xq, xk)
    np.testing.assert_allclose(y, np.maximum(0.5 * (x @ w), 0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(z, 0.25 * (xq @ xk), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(u, wa @ x, rtol=1e-4, atol=1e-4)
