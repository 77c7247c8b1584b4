"""Winograd convolutions in compiled networks: which nodes run so, the option, the weights
transformed at build time, and network records that say which."""
import numpy as np
import pytest

import alt
from alt.graph import compile_network, ir as G
from alt.graph.reference import run_torch
from alt.target import current


def _net():
    """x -> c0 (1x1) -> c1 (3x3, pad 1) + bn + relu -> c2 (3x3, pad 1) -> c3 (3x3, stride 2)."""
    lanes = current().lanes("float32")
    c = 2 * lanes
    g = G.Graph("wino")
    rng = np.random.default_rng(0)
    x = g.input((1, c, 10, 10))
    y = G.conv2d(x, g.param(rng.standard_normal((c, c, 1, 1)) * 0.3, "w0"), name="c0")
    y = G.conv2d(y, g.param(rng.standard_normal((c, c, 3, 3)) * 0.1, "w1"), padding=1, name="c1")
    y = G.relu(G.batch_norm(y, g.param(rng.uniform(0.5, 1, c)), g.param(rng.uniform(-.1, .1, c))), name="r1")
    y = G.conv2d(y, g.param(rng.standard_normal((c, c, 3, 3)) * 0.1, "w2"), padding=1, name="c2")
    y = G.conv2d(y, g.param(rng.standard_normal((c, c, 3, 3)) * 0.1, "w3"), padding=1, stride=2, name="c3")
    return g.output(y)


def _layouts():
    lanes = current().lanes("float32")
    return {"c0": f"NCHW{lanes}c", "c1": f"NCHW{lanes}c", "c2": "NHWC", "c3": f"NCHW{lanes}c"}


def _x(g):
    return np.random.default_rng(1).standard_normal(g.inputs[0].shape).astype(np.float32)


def _close(a, b, rtol=1e-4):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b))) <= rtol


def test_auto_runs_every_eligible_convolution_as_winograd_and_matches_torch():
    g = _net()
    net = compile_network(g, _layouts())
    assert net.winograd == {"c1": 2, "c2": 2}  # c0 is 1x1, c3 strided
    direct = compile_network(g, _layouts(), winograd=False)
    assert direct.winograd == {}
    want = run_torch(g, _x(g))[0]
    assert _close(net(_x(g)), want) and _close(direct(_x(g)), want)
    prof = net.profile(_x(g), repeat=2)
    assert all(r["gflops"] > 0 for r in prof.rows if "conv2d" in r["kernel"])
    algo = {r["kernel"].split(":")[0]: r["algorithm"] for r in prof.rows if "conv2d" in r["kernel"]}
    assert algo == {"c0": None, "c1": "winograd F(2x2, 3x3)", "c2": "winograd F(2x2, 3x3)", "c3": None}
    assert "c1: conv2d" in str(prof) and str(prof).count("[winograd F(2x2, 3x3)]") == 2


def test_a_first_layer_converts_the_nchw_input_in_its_padding():
    lanes = current().lanes("float32")
    g = G.Graph("first")
    x = g.input((1, lanes, 9, 9))
    w = g.param(np.random.default_rng(2).standard_normal((2 * lanes, lanes, 3, 3)) * 0.2, "w")
    g.output(G.relu(G.conv2d(x, w, padding=1, name="c"), name="r"))
    for lay in ("NHWC", f"NCHW{lanes}c"):
        net = compile_network(g, {"c": lay})
        assert net.winograd == {"c": 2} and "conversion of x NCHW ->" in str(net.plan) and net.n_kernels == 2
        assert _close(net(_x(g)), run_torch(g, _x(g))[0])


def test_an_nchw_network_keeps_direct_convolutions():
    g = _net()
    assert compile_network(g).winograd == {}  # channels not contiguous: no vector transform


def test_explicit_tiles_and_bad_options():
    g = _net()
    net = compile_network(g, _layouts(), winograd={"c1": 4, "c2": 0})
    assert net.winograd == {"c1": 4}
    assert _close(net(_x(g)), run_torch(g, _x(g))[0])
    with pytest.raises(alt.ArgumentError, match="'c3' cannot run as a Winograd.*stride-1"):
        compile_network(g, _layouts(), winograd={"c3": 2})
    with pytest.raises(alt.ArgumentError, match="tile 3 for node 'c1'"):
        compile_network(g, _layouts(), winograd={"c1": 3})
    with pytest.raises(alt.ArgumentError, match="'nope', which is not in graph"):
        compile_network(g, _layouts(), winograd={"nope": 2})
    with pytest.raises(alt.ArgumentError, match="winograd='yes'"):
        compile_network(g, _layouts(), winograd="yes")
    with pytest.raises(alt.ArgumentError, match="output layout NCHW is not"):
        compile_network(g, winograd={"c1": 2})


def test_a_network_record_says_which_convolutions_ran_as_winograd():
    from search import records as R
    from search.layouts import ConversionCosts
    from search.network import _network_record, build_record
    from search.tasks import extract_tasks
    g = _net()
    target = current()
    lay = {n: (v, v) for n, v in _layouts().items()}
    rec = _network_record(g, extract_tasks(g), "alt", lay, {}, None, ConversionCosts(target), target, hand=True)
    assert rec["winograd"] == {} and build_record(g, rec, target).winograd == {}
    assert build_record(g, dict(rec, winograd={"c2": 4}), target).winograd == {"c2": 4}
    old = {k: v for k, v in rec.items() if k != "winograd"}  # written before Winograd: all direct
    assert build_record(g, old, target).winograd == {}
    assert R.network_problem(rec) is None
    assert "winograd" in R.network_problem(dict(rec, winograd={"c2": 3}))
    assert "winograd" in R.network_problem(dict(rec, winograd=["c2"]))


def test_a_log_without_a_network_record_builds_its_tuned_winograd_points(tmp_path):
    """compile_network(graph, log=...) with only operator records: the layouts are chosen now, a
    tuned Winograd point runs as Winograd's with its schedule, untuned 3x3 layers as 'auto'."""
    from search import records as R
    from search.space import space_for
    from search.tasks import extract_tasks
    g = _net()
    task = next(t for t in extract_tasks(g) if "c2" in t.nodes)
    space = space_for(task.workload)
    point = next(p for p in space.seeds() if p.get("winograd") and p["layout"] == "NHWC")
    point = dict(point, winograd=4)
    log = R.Log(str(tmp_path / "ops.jsonl"))
    log.append(R.make(task.workload, point, [1e-4], R.OK, strategy="alt", target=current()))
    net = compile_network(g, log=str(tmp_path / "ops.jsonl"))
    assert net.winograd.get("c2") == 4 and "c2" not in net.fallbacks
    assert _close(net(_x(g)), run_torch(g, _x(g))[0])


@pytest.mark.parametrize("algorithm", [0, 2])
def test_a_tuned_point_schedules_its_node_whatever_its_algorithm(algorithm):
    """A node given a tuned schedule is scheduled by it (direct or Winograd), and the others are
    not affected."""
    from search.network import Choice
    from search.space import space_for
    from search.tasks import extract_tasks
    g = _net()
    task = next(t for t in extract_tasks(g) if "c2" in t.nodes)
    point = next(p for p in space_for(task.workload).seeds()
                 if p.get("winograd", 0) == algorithm and p["layout"] == "NHWC")
    calls = []

    class Spy(Choice):
        def schedule(self, s, anchor, end):
            calls.append(anchor.name)
            return super().schedule(s, anchor, end)

    net = compile_network(g, {**_layouts(), "c2": "NHWC"}, schedules={"c2": Spy(task.workload, point)})
    assert calls == ["conv2d"] and net.winograd.get("c2", 0) == algorithm and net.winograd.get("c1") == 2
    assert _close(net(_x(g)), run_torch(g, _x(g))[0])
