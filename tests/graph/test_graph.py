"""Networks: layout planning, whole-network compilation, and the zoo against PyTorch."""
import numpy as np
import pytest

import alt
from alt.graph import Plan, compile_network, zoo
from alt.graph.compile import _kernel
from alt.graph.plan import blocked_parts, layout_steps, tiled_name
from alt.graph.reference import run_torch

SMALL = {
    "resnet18": lambda: zoo.resnet18(image=64),
    "resnet50": lambda: zoo.resnet50(image=32),
    "mobilenet_v2": lambda: zoo.mobilenet_v2(image=32, width=0.5),
    "bert_layer": lambda: zoo.bert_layer(seq=16, hidden=64, heads=4, ffn=128),
}


def assignments(g):
    convs = [n for n in g.nodes if n.op == "conv2d" and n.attrs["groups"] == 1]
    blocked = [n for n in convs if n.output.shape[1] % 16 == 0]
    return {"default": {},
            "NCHW16c": {n.name: "NCHW16c" for n in blocked},
            "mixed": {n.name: ("NHWC" if i % 2 else "NCHW16c") for i, n in enumerate(blocked)},
            # ALT's spatial tiles: 2x2 output tiles where the map divides, else whole-row tiles or none
            "tiled": {n.name: tiled_name(*((2, 2) if n.output.shape[2] % 2 == 0 else (1, 1)), 16,
                                         *n.output.shape[2:]) for n in blocked}}


CASES = [(net, lay) for net in sorted(SMALL) for lay in ("default", "NCHW16c", "mixed", "tiled")
         if lay == "default" or net != "bert_layer"]  # BERT has no convolution to re-lay


@pytest.mark.parametrize("net,layouts", [pytest.param(n, lay, marks=[pytest.mark.slow] if n == "resnet50" else [])
                                         for n, lay in CASES])
def test_zoo_matches_torch(net, layouts):
    g = SMALL[net]()
    assign = assignments(g)[layouts]
    assert layouts == "default" or assign
    x = np.random.default_rng(0).standard_normal(g.inputs[0].shape).astype(np.float32)
    want = run_torch(g, x)[0]
    compiled = compile_network(g, assign)
    got = compiled(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    if layouts == "mixed":
        text = str(compiled.plan)
        assert "layout_transform" in text or "fused into" in text
    if layouts == "tiled":
        assert any("h" in lay for lay in assign.values())


def test_spatially_tiled_layouts_name_one_memory_order_each():
    assert tiled_name(2, 7, 16, 14, 14) == "NCHW2h7w16c"
    assert tiled_name(2, 14, 16, 14, 14) == tiled_name(2, 1, 16, 14, 14) == "NCHW2h16c"  # whole rows
    assert tiled_name(1, 7, 16, 14, 14) == "NCHW16c"  # one row: the channel-blocked memory
    x = np.arange(2 * 32 * 4 * 6, dtype=np.float32).reshape(2, 32, 4, 6)
    lay = alt.layout.Layout(x.shape)
    for verb, *args in layout_steps("NCHW2h3w16c", x.shape):
        lay = getattr(lay, verb)(*args)
    phys = lay.to_physical(x)
    assert phys.shape == (2, 2, 2, 2, 2, 3, 16)  # N C/16 H/2 W/3 2h 3w 16c
    assert phys[1, 1, 1, 0, 1, 2, 5] == x[1, 16 + 5, 2 + 1, 0 + 2]
    np.testing.assert_array_equal(lay.to_logical(phys), x)
    for bad, why in (("NCHW3h16c", "tiles rows by 3, which does not divide the 4 rows"),
                     ("NCHW3w16c", "tiles columns without rows"),
                     ("NCHW2h6w16c", "same memory as 'NCHW2h16c'")):
        with pytest.raises(alt.ComputeError, match=why):
            layout_steps(bad, x.shape)


def test_plan_places_and_fuses_conversions():
    g = SMALL["resnet18"]()
    plan = Plan(g, assignments(g)["NCHW16c"])
    text = str(plan)
    assert "conversion of x NCHW -> NCHW16c fused into the padding of conv1" in text
    assert "maxpool(conv1.relu[NCHW16c]) -> maxpool[NCHW16c]" in text  # the pool inherits the layout
    assert "+ batch_norm + add + relu" in text  # residual epilogue fused into the conv kernel
    assert "avgpool[NCHW]" in text
    mixed = Plan(g, assignments(g)["mixed"])
    assert len(mixed.groups) >= len(plan.groups)
    assert any(gr.convert for gr in mixed.groups) or mixed.fused_conversions


def test_without_fusion_every_mismatch_is_an_explicit_conversion_kernel():
    g = SMALL["resnet18"]()
    assign = assignments(g)["mixed"]
    fused, bare = Plan(g, assign), Plan(g, assign, fuse_conversions=False)
    assert fused.fused_conversions and not bare.fused_conversions
    n_conv = sum(1 for gr in bare.groups if gr.convert)
    assert n_conv > sum(1 for gr in fused.groups if gr.convert)
    assert "layout_transform x: NCHW -> NCHW16c" in str(bare)  # the padded first conv no longer converts
    # a residual add whose inputs disagree reads a converted copy, not the other layout
    adds = [n for n in g.nodes if n.op == "add"]
    assert any((id(n), 1) in bare.reads for n in adds)
    x = np.random.default_rng(0).standard_normal(g.inputs[0].shape).astype(np.float32)
    want = compile_network(g, assign)(x)
    got = compile_network(g, assign, fuse_conversions=False)(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    with pytest.raises(alt.ComputeError, match="fuse_conversions='no' is not True or False"):
        Plan(g, assign, fuse_conversions="no")


def test_workspace_is_shared_and_repeated_kernels_compiled_once():
    g = SMALL["resnet18"]()
    net = compile_network(g, assignments(g)["NCHW16c"])
    total = sum(int(np.prod(n.output.shape)) * 4 for n in g.nodes)
    assert net.workspace_bytes < total / 2
    n_funcs = net.source.count("static int k")
    assert n_funcs < net.n_kernels
    forward = net.source[net.source.index("int alt_forward("):net.source.index("int alt_profile(")]
    assert forward.count("if ((rc = k") == net.n_kernels  # the driver calls every kernel once


def test_profile_times_every_kernel_and_pools_read_blocked_padding():
    g = SMALL["resnet18"]()
    net = compile_network(g, assignments(g)["mixed"], fuse_conversions=False)
    x = np.random.default_rng(1).standard_normal(g.inputs[0].shape).astype(np.float32)
    prof = net.profile(x, repeat=5)
    assert [r["index"] for r in prof.rows] == list(range(net.n_kernels))
    assert all(r["min_s"] <= r["median_s"] and r["median_s"] > 0 for r in prof.rows)
    assert abs(sum(r["share"] for r in prof.rows) - 1) < 1e-9
    kinds = {r["kernel"].split(":")[0].split("(")[0]: r["gflops"] for r in prof.rows}
    assert kinds["layout_transform"] is None and kinds["conv1"] > 0.1
    assert prof.top(3)[0]["median_s"] == max(r["median_s"] for r in prof.rows)
    assert "conv1: conv2d" in str(prof) and set(prof.by_op()) >= {"conv2d", "max_pool2d", "layout_transform"}
    np.testing.assert_allclose(net(x), run_torch(g, x)[0], rtol=1e-4, atol=1e-4)  # still right after profiling
    with pytest.raises(alt.ArgumentError, match="repeat >= 1"):
        net.profile(x, repeat=0)
    # a max pool's padding takes its input's channel blocks: its copy and the pool's reads are whole
    # vectors, not one float per channel
    for lay, shape in (("NCHW16c", (1, 4, 34, 34, 16)), ("NHWC", (1, 34, 34, 64)), ("NCHW", (1, 64, 34, 34))):
        plan = Plan(g, {"conv1": lay})
        i = next(i for i, gr in enumerate(plan.groups) if gr.anchor is not None and gr.anchor.op == "max_pool2d")
        assert [b.shape for b in _kernel(plan, i, plan.groups[i], {}).func.temps] == [shape]
    # a depthwise convolution stored in NCHW is vectorized along rows: its padding stays NCHW even
    # where its input is blocked
    m = SMALL["mobilenet_v2"]()
    plan = Plan(m, assignments(m)["NCHW16c"])
    i, dw = next((i, gr) for i, gr in enumerate(plan.groups) if gr.anchor is not None and gr.anchor.op == "conv2d"
                 and gr.anchor.attrs["groups"] > 1 and blocked_parts(plan.value_layout(gr.anchor.inputs[0])))
    assert plan.value_layout(dw.output) == "NCHW"
    assert [len(b.shape) for b in _kernel(plan, i, dw, {}).func.temps if b.name.endswith(".pad")] == [4]


def test_untuned_depthwise_convs_run_in_their_producers_channel_blocks():
    """hand_layouts gives each depthwise convolution its producer's channel blocks, and the hand
    depthwise schedule runs it there with the channels in the vector lanes: no conversion before or
    after it, and PyTorch's answer. Layouts the schedule does not cover get the default one."""
    from alt.graph import hand_layouts
    from alt.ops.hand import depthwise_schedule
    from search.layouts import layout_source
    g = SMALL["mobilenet_v2"]()
    hand = hand_layouts(g)
    dws = [n for n in g.nodes if n.op == "conv2d" and n.attrs["groups"] > 1]
    assert dws and all(hand[n.name] == hand[layout_source(n).name] for n in dws)
    net = compile_network(g, hand)
    plan = net.plan
    assert all(plan.value_layout(n.output) == hand[n.name] for n in dws)
    assert not any(gr.convert and gr.convert[0].producer in dws for gr in plan.groups)
    i = next(i for i, gr in enumerate(plan.groups) if gr.anchor in dws)
    kern = _kernel(plan, i, plan.groups[i], {})
    assert [len(b.shape) for b in kern.func.temps if b.name.endswith(".pad")] == [5]  # its padding blocked too
    x = np.random.default_rng(3).standard_normal(g.inputs[0].shape).astype(np.float32)
    np.testing.assert_allclose(net(x), run_torch(g, x)[0], rtol=1e-4, atol=1e-4)
    assert depthwise_schedule("NCHW") is None and depthwise_schedule("NCHW2h2w16c") is None
    assert depthwise_schedule("NHWC") is not None and depthwise_schedule(hand[dws[0].name]) is not None


def test_network_errors():
    g = SMALL["resnet18"]()
    with pytest.raises(alt.ComputeError, match="'nope' is not one of"):
        Plan(g, {"conv1": "nope"})
    with pytest.raises(alt.ComputeError, match="names node 'ghost', which is not in graph"):
        Plan(g, {"ghost": "NHWC"})
    with pytest.raises(alt.ComputeError, match="'maxpool' \\(max_pool2d\\) has no layout of its own"):
        Plan(g, {"maxpool": "NHWC"})
    m = SMALL["mobilenet_v2"]()
    odd = next(n for n in m.nodes if n.op == "conv2d" and n.output.shape[1] % 16)
    with pytest.raises(alt.ComputeError, match="needs output channels divisible by 16"):
        compile_network(m, {odd.name: "NCHW16c"})
    net = compile_network(SMALL["bert_layer"]())
    with pytest.raises(alt.ArgumentError, match=r"input 'x': expected a float32 array of shape \[16, 64\]"):
        net(np.zeros((16, 64)))
    with pytest.raises(alt.ComputeError, match="must have the same shape"):
        x = g.inputs[0]
        alt.graph.add(x, alt.graph.global_avg_pool2d(x))


def test_graph_building_errors_name_the_bad_value():
    from alt.graph import Graph, conv2d, relu
    g = Graph("t")
    for shape in ((1, 0, 4, 4), (1, -3, 4, 4), (1, 3.5, 4, 4), ()):
        with pytest.raises(alt.ComputeError, match=r"graph 't': input 'x' has shape .*positive whole numbers"):
            g.input(shape)
    with pytest.raises(alt.ComputeError, match=r"parameter 'w' has shape \[0, 3\]"):
        g.param(np.zeros((0, 3)))
    with pytest.raises(alt.ComputeError, match="parameter 'w' is list .* not an array of numbers"):
        g.param([[1, "a"]])
    x = g.input((1, 3, 4, 4))
    with pytest.raises(alt.ComputeError, match=r"input 1 of conv2d is a numpy array float32\[4, 3, 1, 1\], not a value "
                                               r"of this graph; wrap a weight with graph.param"):
        conv2d(x, np.zeros((4, 3, 1, 1), "f4"))
    w = g.param(np.ones((4, 3, 1, 1)))
    y = relu(conv2d(x, w))
    with pytest.raises(alt.ComputeError, match="graph 't' has no outputs; mark what it returns with graph.output"):
        compile_network(g)
    with pytest.raises(alt.ComputeError, match="output str 'y' is not a value of this graph"):
        g.output("y")
    with pytest.raises(alt.ComputeError, match="needs at least one value"):
        g.output()
    # an input or a parameter returned as an output would be a buffer no kernel writes: refused
    for v, what in ((x, "an input"), (w, "a parameter")):
        with pytest.raises(alt.ComputeError, match=f"output '{v.name}' is {what} of the graph, which no node computes"):
            g.output(y, v)
        g.outputs = [y, v]  # set around output(): compiling checks again
        with pytest.raises(alt.ComputeError, match=f"output '{v.name}' is {what}"):
            compile_network(g)
    g.output(y)
    a = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype("f4")
    np.testing.assert_allclose(compile_network(g)(a), np.maximum(np.einsum("oc,nchw->nohw", w.data[:, :, 0, 0], a), 0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "NCHW16c"])
def test_a_value_returned_twice_is_written_once_and_returned_twice(layout):
    from alt.graph import Graph, conv2d, relu
    g = Graph("twice")
    x = g.input((1, 16, 6, 6))
    w = g.param(np.random.default_rng(1).standard_normal((16, 16, 1, 1)))
    y = conv2d(x, w)
    z = relu(y)
    g.output(z, y, z)  # before, the first z was an array no kernel wrote
    a = np.random.default_rng(0).standard_normal((1, 16, 6, 6)).astype("f4")
    ref = np.einsum("oc,nchw->nohw", w.data[:, :, 0, 0], a)
    outs = compile_network(g, {y.producer.name: layout})(a)
    for got, want in zip(outs, (np.maximum(ref, 0), ref, np.maximum(ref, 0))):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert len(outs) == 3 and outs[0] is outs[2]
