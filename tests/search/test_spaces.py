"""Search spaces: their points build and match the interpreter, invalid points say why, layouts
are enumerated without missing a valid one, and each operator family's template knobs."""
import itertools
import json
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import alt
from alt.ops import Workload
from alt.testing import check_schedule
from search import records as R
from search.measure import Measurer
from search.space import Invalid, enumerate_layouts, space_for

CONV = Workload("C2D", "test-conv", (1, 16, 10, 32, 3, 1, 1))
GEMM = Workload("GMM", "test-gemm", (24, 40, 36))


@pytest.mark.parametrize("w", [CONV, GEMM, Workload("CBR", "t", (1, 3, 12, 16, 3, 2, 1)),
                               Workload("GRP", "t", (1, 32, 9, 64, 3, 2, 1, 1, 2))], ids=lambda w: w.op)
def test_random_points_build_and_match_the_interpreter(w):
    space = space_for(w)
    rng = np.random.default_rng(1)
    for _ in range(6):
        sch, args = space.apply(space.sample(rng))
        check_schedule(sch, args)


@pytest.mark.parametrize("w", [CONV, GEMM], ids=lambda w: w.op)
def test_a_spaces_points_share_one_compute_definition_that_scheduling_leaves_as_it_was(w):
    from alt.lower import lower
    from codegen import CRenderer
    space = space_for(w)
    points = [space.sample(np.random.default_rng(s)) for s in range(4)]

    def source(sp, p):
        sch, args = sp.apply(p)
        with sp.target:
            return CRenderer(sp.target).render(lower(sch, args), temps_as_args=True)[0]
    shared = [source(space, p) for p in points]
    assert space.build()[1] is space.build()[1]
    alone = [source(type(space)(w, space.target), p) for p in points]  # each from a definition of its own
    assert shared == alone and len(set(shared)) > 1
    for p in points[::-1]:
        check_schedule(*space.apply(p))  # runs, and matches the interpreter, after the others were scheduled


def test_points_are_json_and_invalid_points_say_why():
    space = space_for(CONV)
    p = space.sample(np.random.default_rng(0), {"winograd": 0})
    assert json.loads(json.dumps(p)) == p
    narrow = space_for(Workload("C2D", "test-conv-24", (1, 16, 10, 24, 3, 1, 1)))  # 16 (a knob on AVX2 and
    bad = dict(narrow.sample(np.random.default_rng(0), {"winograd": 0}), layout="NCHWc", ob=16, tile_y=1,
               tile_x=1)  # AVX-512)
    with pytest.raises(Invalid, match="ob=16 does not divide the 24 output channels"):
        narrow.apply(bad)
    assert "is not one of" in space.check(dict(p, tile_x=3))
    q = space.neighbor(p, np.random.default_rng(0), [k for k in space.knobs if k != "winograd"])
    assert sum(p[k] != q[k] for k in p) == 1  # the algorithm's moves: test_random_draws_and_single_moves_...
    layouts = enumerate_layouts(space)
    assert {"layout": "NHWC", "ob": 16, "ib": 8, "spatial": 0} in layouts and len(layouts) > 10
    assert {"layout": "NCHWc", "ob": 16, "ib": 16, "spatial": 1} in layouts
    with pytest.raises(alt.WorkloadError, match="no operator .XYZ."):
        space_for(Workload("XYZ", "s", (8, 8)))


@pytest.mark.parametrize("params", [(1, 16, 10, 24, 3, 1, 1), (1, 3, 9, 16, 3, 2, 1), (1, 8, 7, 8, 1, 1, 0)])
def test_enumerated_layouts_skip_rejected_layouts_and_miss_no_valid_one(params):
    """enumerate_layouts skips the layouts check_layout rejects without trying their loop points; it
    must still find exactly the layouts that an exhaustive search over all points finds."""
    space = space_for(Workload("C2D", "test-conv-layouts", params))
    space.knobs.update(cache_o=[1, 2], cache_x=[1])  # (cache tiles never decide a layout; both sides see these)
    names = space.layout_knobs
    rest = [k for k in space.knobs if k not in names]
    exhaustive, rejected, combos = [], 0, list(itertools.product(*(space.knobs[k] for k in names)))
    for values in combos:
        fixed = dict(zip(names, values))
        if any(space.check(dict(fixed, **dict(zip(rest, combo)))) is None
               for combo in itertools.product(*(space.knobs[k] for k in rest))):
            exhaustive.append(fixed)
        rejected += space.check_layout(fixed) is not None
    assert enumerate_layouts(space) == exhaustive
    assert 0 < rejected <= len(combos) - len(exhaustive)  # some pruned, and only invalid ones


SMALL_OTHERS = [("SFM", (6, 37)), ("LN", (6, 37)), ("MXP", (1, 16, 11, 3, 2, 1)),
                ("NRM", (2, 5, 9)), ("ADD", (2, 16, 5, 7))]


@pytest.mark.parametrize("op,params", SMALL_OTHERS, ids=[o for o, _ in SMALL_OTHERS])
def test_generic_space_covers_every_other_operator(op, params):
    space = space_for(Workload(op, f"{op}-t", params))
    assert type(space).__name__ == "GenericSpace"
    rng = np.random.default_rng(2)
    for _ in range(3):
        sch, args = space.apply(space.sample(rng))
        check_schedule(sch, args)


@pytest.mark.parametrize("op,params", [("ADD", (2, 16, 5, 7)), ("MXP", (1, 16, 11, 3, 2, 1)), ("BN", (1, 3, 6, 6))])
def test_generic_space_lays_activation_inputs_out_like_the_output(op, params):
    """Loop-only's "NHWC everywhere" reads the activations in NHWC too: an elementwise op that
    reads NCHW and writes NHWC is a transpose, which no network in NHWC would run."""
    space = space_for(Workload(op, f"{op}-t", params))
    assert space.default_layout() == {"out_layout": "NHWC", "inputs": "as_output"}
    assert "give inputs=default" in space.check_layout({"out_layout": "default", "inputs": "as_output"})
    rng = np.random.default_rng(0)
    for lay in enumerate_layouts(space):
        p = space.sample(rng, lay)
        sch, args = space.apply(p)
        check_schedule(sch, args)
        for a in [a for a in args[:-1] if len(a.shape) == 4]:  # BN's scale and shift are 1-d
            laid = list(sch.layout_of(a).shape)
            assert (laid != list(a.shape)) == (lay["inputs"] == "as_output")
            if lay["inputs"] == "as_output" and op != "MXP":  # a pooling input has more rows and columns
                assert laid == list(sch.layout_of(args[-1]).shape)
        assert space.layouts(p)[0] == (space.layouts(p)[1] if lay["inputs"] == "as_output" else None)
    old = {k: v for k, v in space.sample(rng, {"out_layout": "NHWC", "inputs": "default"}).items() if k != "inputs"}
    assert space.complete(old)["inputs"] == "default"  # a point logged before the knob read NCHW inputs


@pytest.mark.parametrize("op,params", [("C1D", (1, 6, 20, 8, 3, 2, 1)), ("C1D", (1, 40, 33, 48, 5, 1, 2)),
                                       ("C3D", (1, 3, 7, 4, 3, 2, 1)), ("C3D", (1, 20, 9, 32, 3, 1, 1, 5)),
                                       ("T2D", (1, 6, 5, 16, 4, 2, 1)), ("T2D", (1, 20, 4, 32, 4, 2, 1))])
def test_nd_conv_space_blocks_channels_or_puts_them_last_in_any_dimension(op, params):
    space = space_for(Workload(op, f"{op}-t", params))
    assert type(space).__name__ == "ConvNdSpace" and space.seeds()
    rng = np.random.default_rng(5)
    S, nd = {"C1D": ("W", 1), "C3D": ("DHW", 3), "T2D": ("HW", 2)}[op]
    points = space.seeds() + [space.sample(rng, {"layout": lay}) for lay in ("NCc", "NSC") for _ in range(2)
                              if params[3] % space.lanes == 0 or lay == "NSC"]
    for p in points:
        sch, args = space.apply(p)
        lay = space.layouts(p)
        assert lay == ((f"NC{S}{p['ib']}c", f"NC{S}{p['ob']}c") if p["layout"] == "NCc" else (f"N{S}C",) * 2)
        assert len(sch.layout_of(args[-1]).shape) == (nd + 3 if p["layout"] == "NCc" else nd + 2)
        check_schedule(sch, args)
    big = space.sample(rng, {"layout": "NSC", "ob": space.lanes * 4})
    tile = dict(big, tile_x=28, tile_y=1 if op == "C1D" else 4)
    if space.out_size >= 28:
        assert "vector registers" in space.check(tile)  # 4 x 28 x 4 or 28 x 4 vectors: more than any target has
    if params[3] % space.lanes:
        assert "does not divide the" in space.check(dict(big, layout="NCc"))


@pytest.mark.parametrize("op,params", [("SFM", (5, 300)), ("LN", (3, 200)), ("NRM", (1, 17, 70))])
def test_generic_space_rfactors_reductions_whose_output_cannot_vectorize(op, params):
    space = space_for(Workload(op, f"{op}-rf", params))
    assert space.knobs["rfactor"] == [0, 1]
    rng = np.random.default_rng(6)
    for vectors in (1, 2):
        sch, args = space.apply(space.sample(rng, {"rfactor": 1, "vectors": vectors}))
        assert any(st.name.endswith(".rf") for st in sch.stages)
        check_schedule(sch, args)
    old = {k: v for k, v in space.sample(rng, {"rfactor": 0}).items() if k != "rfactor"}  # logged before the knob
    assert space.check(old) is None and not any(st.name.endswith(".rf") for st in space.apply(old)[0].stages)
    assert "rfactor" not in space_for(Workload("ADD", "ADD-t", (2, 16, 5, 7))).knobs  # nothing to split


@pytest.mark.parametrize("op,params", [("SFM", (6, 37)), ("SFM", (16, 64)), ("LN", (8, 40)), ("LN", (3, 200))])
def test_generic_space_row_fuses_softmax_and_layer_norm(op, params):
    """row_fused: every stage in the output's parallel row tile. Every such point matches the
    interpreter, the hand seeds are row-fused, and the knobs it ignores are held fixed."""
    space = space_for(Workload(op, f"{op}-rows", params))
    assert space.knobs["row_fused"] == [0, 1]
    points = space._valid_points({"row_fused": 1})
    assert points and all(space.canonical(p) == p for p in points)
    for p in points:
        sch, args = space.apply(p)
        check_schedule(sch, args)
    assert space.seeds() and all(p["row_fused"] == 1 for p in space.seeds())
    bad = dict(points[0], fuse=2)
    assert "row-fused point ignores ['fuse']" in space.check(bad)
    assert space.canonical(bad) == points[0]
    old = {k: v for k, v in space.sample(np.random.default_rng(1), {"row_fused": 0}).items() if k != "row_fused"}
    assert space.check(old) is None and space.complete(old)["row_fused"] == 0  # logged before the knob
    for w in (Workload("NRM", "t", (1, 17, 70)), Workload("ADD", "t", (2, 16, 5, 7))):
        assert "row_fused" not in space_for(w).knobs  # a total reduction; no reduction


@pytest.mark.parametrize("params", [(1, 32, 12, 3, 1, 1), (1, 64, 9, 3, 2, 1), (2, 48, 7, 3, 1, 0)])
def test_depthwise_space_puts_channels_in_the_vector_lanes(params):
    """Channels in the lanes in every layout knob's value: output and input blocked or channels
    last, each its own (a conversion the kernel makes itself), weights blocks or taps first; the
    accumulator computed at either loop, any parallel fusion; points logged before a knob keep
    their meaning."""
    space = space_for(Workload("DEP", "DEP-t", params))
    assert type(space).__name__ == "DepthwiseSpace" and len(space.seeds()) == 2
    rng = np.random.default_rng(8)
    for p in space.seeds() + [space.sample(rng) for _ in range(3)]:
        sch, args = space.apply(p)
        check_schedule(sch, args)
    for p in space.seeds():
        lay = space.layouts(p)
        assert lay[0] == lay[1] and (lay[1] == "NHWC" or lay[1] == f"NCHW{p['cb']}c")
    if params[1] % 32:
        assert "does not divide the 48 channels" in space.check(dict(space.seeds()[0], layout="NCHWc", cb=32))
        assert "does not divide the 48 channels" in space.check(dict(space.seeds()[1], in_layout="NCHWc", cb=32))
    for layout, order in itertools.product(("NCHWc", "NHWC"), space.knobs["order"]):  # the channel blocks anywhere
        sch, args = space.apply(space.sample(rng, {"layout": layout, "order": order, "unroll_taps": 1}))
        check_schedule(sch, args)
    for out, inp, w in [("NCHWc", "NCHWc", "taps"), ("NCHWc", "NHWC", "blocks"), ("NHWC", "NCHWc", "taps"),
                        ("NHWC", "NHWC", "blocks")]:  # every pair of activation layouts, both weight layouts
        p = space.sample(rng, {"layout": out, "in_layout": inp, "w_layout": w, "attach": int(out == inp),
                               "par_depth": 3 if w == "taps" else 1})
        sch, args = space.apply(p)
        check_schedule(sch, args)
        named = {"NHWC": "NHWC", "NCHWc": f"NCHW{p['cb']}c"}
        assert space.layouts(p) == (named[inp], named[out])
    old = {k: v for k, v in space.seeds()[1].items() if k not in ("order", "unroll_taps", "in_layout", "w_layout",
                                                                  "attach", "spatial", "cache_x", "unroll_rows")}
    assert space.complete(old) == space.seeds()[1]  # logged before those knobs: as it ran then
    assert space.complete(dict(old, unroll=0))["unroll_rows"] == 0
    blocked = {k: v for k, v in space.seeds()[0].items() if k not in ("order", "in_layout", "w_layout")}
    assert space.complete(blocked) == space.seeds()[0]


def test_depthwise_space_tiles_its_output_in_memory_and_bands_its_columns():
    """A blocked depthwise output may be tiled spatially as its register tile is (the layout named
    so, for the graph planner); in order y-x-o the channel blocks may run inside bands of column
    tiles; rows and columns unroll separately. Each matches the interpreter; knobs a point does not
    read are canonical, and a bad combination is refused with its reason."""
    space = space_for(Workload("DEP", "DEP-t", (1, 32, 12, 3, 1, 1)))
    rng = np.random.default_rng(5)
    for fixed in ({"spatial": 1, "tile_y": 2, "tile_x": 3, "order": "y-x-o", "cache_x": 2},
                  {"spatial": 1, "tile_y": 2, "tile_x": 6, "order": "o-y-x", "unroll_rows": 0},
                  {"spatial": 0, "layout": "NHWC", "tile_x": 2, "order": "y-x-o", "cache_x": 4, "unroll": 0,
                   "unroll_rows": 1, "tile_y": 2}):
        p = space.sample(rng, fixed)
        sch, args = space.apply(p)
        check_schedule(sch, args)
        if p["spatial"]:
            assert space.layouts(p)[1] == f"NCHW{p['tile_y']}h{p['tile_x']}w{p['cb']}c"
    p = space.sample(rng, {"order": "o-y-x", "tile_y": 1, "cb": space.lanes})
    assert space.canonical(dict(p, cache_x=4))["cache_x"] == 1  # no band outside y-x-o
    assert space.canonical(dict(p, unroll_rows=1 - p["unroll"]))["unroll_rows"] == p["unroll"]  # a row of one
    assert "order y-x-o only" in space.check(dict(p, cache_x=2))
    assert "needs layout NCHWc" in space.check(dict(p, layout="NHWC", spatial=1))
    assert "must have more than one row" in space.check(dict(p, layout="NCHWc", spatial=1, tile_y=1))
    assert "no band of the 3 there" in space.check(dict(p, order="y-x-o", tile_x=4, cache_x=4))
    from alt.ops.hand import depthwise_conv
    _, conv = space.build()
    for bad, msg in (({"blocked": False, "spatial": True}, "needs blocked=True"),
                     ({"order": "o-y-x", "cache_x": 2}, "needs order 'y-x-o', not 'o-y-x'")):
        with pytest.raises(alt.ScheduleError, match=msg):  # the hand function a user may call says so too
            depthwise_conv(alt.create_schedule(conv), conv, space.lanes, **bad)


@pytest.mark.parametrize("op,params", [("GMM", (24, 40, 36)), ("GMM", (5, 70, 300)), ("BMM", (3, 7, 9, 5)),
                                       ("BMM", (2, 33, 50, 70))])
def test_gemm_space_tiles_in_two_levels_and_packs_either_operand(op, params):
    """GEMM and batched GEMM share one template: register tiles inside cache tiles, A and B each in
    its own layout or packed into panels. Points of every layout and cache shape match the
    interpreter; the ones that pack an operand say so (a network may not use them on activations)."""
    space = space_for(Workload(op, f"{op}-t", params))
    assert type(space).__name__ == "GemmSpace"
    rng = np.random.default_rng(4)
    laid = {}
    m, n, k = params[-3:]
    for a, b in itertools.product(("MK", "packed"), ("KN", "packed")):
        for cache in ((1, 1), (2, 2), (1, 4)):
            fixed = {"a_layout": a, "b_layout": b, "nb": space.lanes, "cache_i": cache[0], "cache_j": cache[1],
                     "unroll_k": 1 if cache == (1, 1) else max(u for u in (1, 2, 4) if k % u == 0)}
            try:
                p = space.sample(rng, fixed)
            except Invalid:
                assert cache != (1, 1)  # a tiny output has too few register tiles for a cache tile
                continue
            sch, args = space.apply(p)
            check_schedule(sch, args)
            assert space.relayouts(p) == tuple(i for i, x in enumerate((a, b)) if x == "packed")
            laid[a, b] = [list(sch.layout_of(t).shape) for t in args[:2]]
    assert len(laid) == 4
    batch = list(params[:-3])
    assert laid["MK", "KN"] == [batch + [m, k], batch + [k, n]]
    assert laid["packed", "packed"][0][-2:] == [k, laid["packed", "packed"][0][-1]]  # [.., m // ti, k, ti]
    assert laid["packed", "packed"][1][-2:] == [k, space.lanes]  # [.., n // nb, k, nb]
    p = space.sample(rng, {"cache_i": 1, "cache_j": 1})
    assert "par_depth=3 fuses more than the 2 loops" in space.check(dict(p, par_depth=3)) if not batch else True
    assert "cache tile of 8x8 register tiles is larger" in space.check(dict(p, cache_i=8, cache_j=8, tile_i=1))
    assert space.canonical(dict(p, b_layout="KN", nb=3 * space.lanes))["nb"] == 4 * space.lanes  # unread
    wide = {"a_layout": "MK", "b_layout": "packed", "nb": space.knobs["nb"][-1]}  # 8 vectors: wider than most n
    if wide["nb"] > max(space.lanes, n):  # no point has it: refused before its loop points are tried
        assert f"panels of nb={wide['nb']} columns are wider than the output's {n} columns" in space.check_layout(wide)
    else:
        assert space.check_layout(wide) is None
    bad = next(u for u in (2, 4, 8) if k % u)
    assert f"unroll_k={bad} does not divide the {k} steps of k" in space.check(dict(p, unroll_k=bad))
    old = {k: v for k, v in p.items() if k not in ("a_layout", "cache_i", "cache_j", "inner", "unroll_k")}
    assert space.check(old) is None and space.complete(old)["cache_i"] == 1  # logged before the cache level
    assert space.complete(old)["unroll_k"] == 1


@pytest.mark.parametrize("params", [(5, 7, 9), (1, 40, 300), (12, 33, 70)])
def test_dense_space_tiles_a_gemm_with_its_weight_transposed_or_packed(params):
    space = space_for(Workload("DEN", "DEN-t", params))
    assert type(space).__name__ == "DenseSpace"
    assert space.layouts(space.sample(np.random.default_rng(0))) == (None, None)
    rng = np.random.default_rng(3)
    for lay in ({"b_layout": "KN"}, {"b_layout": "packed"}):
        sch, args = space.apply(space.sample(rng, dict(lay, nb=space.lanes) if lay["b_layout"] == "packed" else lay))
        check_schedule(sch, args)


def test_conv_space_names_the_knobs_of_a_planner_layout():
    space = space_for(Workload("C2D", "C2D-t", (1, 32, 14, 64, 1, 1, 0)))
    lanes = space.lanes
    assert space.knobs_for(f"NCHW{lanes}c") == {"layout": "NCHWc", "ob": lanes, "ib": lanes, "spatial": 0}
    assert space.knobs_for("NHWC")["layout"] == "NHWC" and space.knobs_for("NCHW")["layout"] == "NCHW"
    assert space.knobs_for("NCHW128c") is None and space.knobs_for("NCHW3c") is None  # no such block in the template
    p = space.sample(np.random.default_rng(0), space.knobs_for(f"NCHW{lanes}c"))
    assert space.layouts(p) == (f"NCHW{lanes}c", f"NCHW{lanes}c")
    tiled = space.knobs_for(f"NCHW2h7w{lanes}c")
    assert tiled == {"layout": "NCHWc", "ob": lanes, "ib": lanes, "spatial": 1, "tile_y": 2, "tile_x": 7}
    assert space.layouts(space.sample(np.random.default_rng(0), tiled))[1] == f"NCHW2h7w{lanes}c"
    assert space.knobs_for(f"NCHW3h{lanes}c") is None  # 3 rows do not tile 14


def test_conv_space_tiles_outputs_spatially_and_reads_points_logged_before_the_knob():
    space = space_for(Workload("C2D", "C2D-8", (1, 16, 8, 32, 3, 1, 1)))  # 8 x 8 output, 32 channels
    rng = np.random.default_rng(4)
    for tile_y, tile_x in ((2, 4), (2, 8), (2, 1), (4, 2)):  # rows and columns, whole rows, a one-column tile
        # (at most 16 accumulator vectors of one vector of channels: they fit AVX2's registers as well)
        p = space.sample(rng, {"layout": "NCHWc", "ob": space.lanes, "spatial": 1, "tile_y": tile_y, "tile_x": tile_x})
        out = space.layouts(p)[1]
        assert out.startswith(f"NCHW{tile_y}h") and out.endswith(f"{space.lanes}c")
        sch, args = space.apply(p)
        check_schedule(sch, args)
        assert len(sch.layout_of(args[-1]).shape) == (7 if "w" in out else 6)
    p = space.sample(rng, {"layout": "NCHWc", "spatial": 1, "tile_y": 2})
    assert "does not divide the 8x8 output" in space.check(dict(p, tile_x=7, ob=space.lanes))
    assert "needs layout NCHWc" in space.check(dict(p, layout="NHWC", ob=space.lanes))
    old = {k: v for k, v in p.items() if k != "spatial"}  # a point from a log written before the knob
    assert space.check(old) is None and space.layouts(old)[1] == f"NCHW{old['ob']}c"
    check_schedule(*space.apply(old))
    inputs, out = space.build()
    sch = space.schedule_into(alt.create_schedule(out), out, None, old)  # as a network kernel replays it
    check_schedule(sch, inputs + [out])


def test_conv_space_fuses_kernel_columns_with_channels():
    """fuse_rx: the kernel's columns and the channels read after them are one loop (one contiguous
    run of input and weights) in NCHWc (order c-y-x) and NHWC (y-x-c), in whole input blocks only;
    the seeds use it; a point logged before the knob replays unfused. Results stay right."""
    space = space_for(Workload("C2D", "C2D-f", (1, 16, 8, 32, 3, 1, 1)))
    seeds = [p for p in space.seeds() if not p.get("winograd")]
    assert seeds and all(p["fuse_rx"] == 1 for p in seeds)
    for p in seeds:
        sch, args = space.apply(p)
        check_schedule(sch, args)
        cc = next(st for st in sch.stages if st.name.endswith(".local"))
        assert any(a.name.startswith("rx.") and a.name.endswith(".fused") for a in cc.leaves)
    p = seeds[0]
    assert "c-y-x" in space.check(dict(p, reduce_order="y-x-c"))
    assert "whole input blocks" in space.check(dict(p, ib=32))
    old = {k: v for k, v in p.items() if k != "fuse_rx"}
    sch, args = space.apply(old)
    assert not any(a.name.endswith(".fused") and a.name.startswith("rx")
                   for a in next(st for st in sch.stages if st.name.endswith(".local")).leaves)
    first = space_for(Workload("C2D", "C2D-rgb", (1, 3, 16, 16, 3, 1, 1)))  # 3 colour channels: one block
    assert 3 in first.knobs["ib"] and all(p["ib"] == 3 and p["fuse_rx"] == 1 for p in first.seeds())
    check_schedule(*first.apply(first.seeds()[0]))


def test_conv_space_chooses_winograd_for_3x3_stride_1_convolutions(monkeypatch):
    """The winograd knob: offered for 3x3 stride-1 C2D only; a Winograd point keeps the direct loop
    knobs fixed and reads NHWC or NCHWc; the seeds add one per layout; it is measured against the
    direct convolution's reference (its weights transformed on the way in) and replays from a
    record into a kernel whose `pack` transforms the weights."""
    from search.tune import kernel_of
    space = space_for(CONV)
    assert space.knobs["winograd"] == [0, 2, 4]
    for w in (Workload("C2D", "s2", (1, 16, 10, 32, 3, 2, 1)), Workload("C2D", "k1", (1, 16, 10, 32, 1, 1, 0)),
              Workload("CBR", "cbr", (1, 16, 10, 32, 3, 1, 1))):
        assert space_for(w).knobs["winograd"] == [0]
    wino = [p for p in space.seeds() if p.get("winograd")]
    assert {p["layout"] for p in wino} == {"NCHWc", "NHWC"} and all(p["winograd"] == 2 for p in wino)
    p = wino[0]
    assert "direct loop knobs" in space.check(dict(p, tile_x=2))
    assert "NHWC or NCHWc" in space.check(dict(p, layout="NCHW", ob=8, ib=8))
    assert space.complete({k: v for k, v in p.items() if k != "winograd"})["winograd"] == 0  # logged before
    sch, args = space.apply(dict(p, winograd=4))
    assert args[1].shape == (36, 32, 16) and space.prepare(dict(p, winograd=4)) == [None, ["winograd", 4], None]
    with ThreadPoolExecutor(2) as ex, Measurer(CONV, executor=ex, repeat=2, min_time=0.001) as m:
        ok = m.measure([p, dict(p, winograd=4)])
        monkeypatch.setattr(type(space), "prepare", lambda self, point: None)  # weights not transformed
        (bad,) = m.measure([p])
    assert [r["error"] for r in ok] == [R.OK, R.OK]
    assert bad["error"] != R.OK
    monkeypatch.undo()
    rec = {"point": dict(p, winograd=4), "schedule": None}
    k = kernel_of(rec, CONV)
    assert k.prepare == {"W": ["winograd", 4]}
    x = np.random.default_rng(0).standard_normal((1, 16, 10, 10)).astype("f4")
    w = np.random.default_rng(1).standard_normal((32, 16, 3, 3)).astype("f4")
    y = np.empty(k.pack(k.args[2], np.zeros((1, 32, 10, 10), "f4")).shape, "f4")
    k(k.pack(k.args[0], x), k.pack("W", w), y)
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    np.testing.assert_allclose(k.unpack(k.args[2], y), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_random_draws_and_single_moves_reach_winograd_points():
    """A Winograd point fixes the direct loop knobs, so drawing every knob at random or changing one
    knob at a time never reached one (only the hand seeds did, and a search without them never found
    the algorithm). Points are made canonical: the algorithm is drawn first (about a third direct,
    whatever share of direct draws is invalid), a move onto it or off it from a layout that allows
    it lands on a valid point, and a move under fixed layout knobs never changes them."""
    space = space_for(Workload("C2D", "w", (1, 64, 28, 64, 3, 1, 1)))
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(300)]
    assert all(space.check(p) is None for p in draws)
    share = np.mean([p["winograd"] != 0 for p in draws])
    assert 0.55 < share < 0.8  # 2 of the knob's 3 values
    lay = {"layout": "NCHWc", "ob": space.lanes * 2, "ib": space.lanes * 2, "spatial": 0}
    direct = space.sample(rng, dict(lay, winograd=0))
    moves = [space.neighbor(direct, rng, space.loop_knobs) for _ in range(200)]
    assert all(q is not None and space.check(q) is None and all(q[k] == v for k, v in lay.items()) for q in moves)
    wino = [q for q in moves if q["winograd"]]
    assert wino and all(q == space.canonical(q) for q in wino)
    back = [space.neighbor(wino[0], rng, space.loop_knobs) for _ in range(100)]
    assert any(q["winograd"] == 0 and space.check(q) is None for q in back)
    nhwc = dict(space.default_layout(), ob=space.lanes * 2)  # NHWC with a tile Winograd cannot keep
    start = space.sample(rng, dict(nhwc, winograd=0))
    assert not any((q := space.neighbor(start, rng, space.loop_knobs)) and q["winograd"] for _ in range(100))
    assert space.sample(rng, nhwc)["winograd"] == 0  # no Winograd point there: a direct one


@pytest.mark.parametrize("op,params", [("GMM", (64, 80, 96)), ("BMM", (2, 33, 50, 70)), ("DEN", (12, 96, 70)),
                                       ("C2D", (1, 16, 10, 32, 3, 1, 1)), ("C1D", (1, 40, 33, 48, 5, 1, 2)),
                                       ("DEP", (1, 32, 12, 3, 1, 1))])
def test_every_enumerated_layout_is_one_random_draws_reach(op, params):
    """A layout the joint search is offered must be one `sample` reaches, by drawing where its
    points are not rare (the exhaustive fallback is meant for those): with GEMM's unpacked B, every panel width was
    offered as a layout of its own though `canonical` rewrites it, and each draw of such a layout
    enumerated half a million points (proposing took 3x longer)."""
    space = space_for(Workload(op, f"{op}-t", params))
    rng = np.random.default_rng(0)
    layouts = enumerate_layouts(space)
    for lay in layouts:
        p = space.sample(rng, lay)
        assert {k: p[k] for k in lay} == lay and space.canonical(p) == p
    if op in ("GMM", "BMM", "DEN"):  # (a convolution's spatially tiled layouts are rare enough to need it)
        assert "_valid" not in space.__dict__  # no draw fell back to enumerating the space
        assert sum(lay["b_layout"] == "KN" for lay in layouts) == (2 if op != "DEN" else 1)  # one per a_layout
        assert "is read only with B packed" in space.check_layout(dict(layouts[0], b_layout="KN", nb=space.lanes))


@pytest.mark.parametrize("op,params", [("C2D", (1, 16, 10, 64, 3, 1, 1)), ("GRP", (1, 32, 9, 64, 3, 2, 1, 1, 2)),
                                       ("C1D", (1, 40, 33, 64, 5, 1, 2)), ("T2D", (1, 20, 4, 64, 4, 2, 1))])
def test_conv_spaces_run_output_channel_blocks_in_cache_tiles(op, params):
    """The output-channel blocks outside the spatial tiles (o-s) or inside them in cache tiles of
    cache_o blocks (s-o), between the rows and the column tiles (cache_x 0) or among cache tiles of
    cache_x column tiles: each layout's points in both orders match the interpreter; a point logged
    before the knobs ran the blocks where its layout put them."""
    space = space_for(Workload(op, f"{op}-t", params))
    rng = np.random.default_rng(9)
    direct = {"winograd": 0} if "winograd" in space.knobs else {}
    layouts = {lay["layout"] for lay in enumerate_layouts(space)}
    for layout in layouts:
        for order, cache, columns in (("o-s", 1, 1), ("s-o", 1, 0), ("s-o", 1, 1), ("s-o", 2, 2), ("s-o", 2, 0)):
            fixed = {"layout": layout, "order": order, "cache_o": cache, **direct}
            try:
                p = space.sample(rng, dict(fixed, cache_x=columns) if order == "s-o" else fixed)
            except Invalid:
                assert space.o // space.lanes < 2 * cache or columns == 2  # too few blocks or column tiles
                continue
            sch, args = space.apply(p)
            check_schedule(sch, args)
    p = space.sample(rng, {"order": "o-s", **space.default_layout(), **direct})
    assert p["cache_o"] == 1 and space.canonical(dict(p, cache_o=4))["cache_o"] == 1
    assert space.canonical(dict(p, cache_x=4))["cache_x"] == space.added["cache_x"]  # unread under o-s
    assert "cache tile of cache_o=8 output-channel blocks is more than" in space.check(
        dict(p, order="s-o", cache_o=8, ob=space.knobs["ob"][-1]))
    one_row = dict(p, order="s-o", tile_x=max(t for t in space.knobs["tile_x"] if t <= space.out_size), cache_x=8)
    assert "cache tile of cache_x=8 column tiles is more than the" in space.check(one_row)
    old = {k: v for k, v in p.items() if k != "cache_x"}
    assert space.complete(old)["cache_x"] == (1 if op in ("C2D", "GRP") else 0)  # where the blocks ran before
    if op in ("C2D", "GRP"):
        nhwc = space.sample(rng, {"layout": "NHWC", **direct})
        nhwc = {k: v for k, v in nhwc.items() if k not in ("order", "cache_o")}
        assert space.complete(nhwc)["order"] == "s-o" and space.complete(dict(nhwc, layout="NCHWc"))["order"] == "o-s"


@pytest.mark.parametrize("isa", ["avx512", "znver3"])
def test_conv_templates_count_the_unrolled_accumulator_as_lowering_does(isa, monkeypatch):
    """The convolution templates refuse, before a point is built, what lowering refuses: an
    unrolled accumulator past the registers, updated by unrolled reduction loops, beyond
    alt.lower_checks.accumulator_fits. With attach=1 the tile is computed one loop further out, and that
    loop may run along an axis the tile unrolls; depthwise's unrolled taps each update the tile.
    The template's count (unrolled_tile: elements, updates) equals lowering's on random points of
    each template and target (the limit lifted, so that every count is compared); under the limit,
    a point past it is refused with the count."""
    from alt import lower_checks as checks
    target = alt.Target.parse(isa)
    workloads = [Workload("C2D", "R18-4", (1, 128, 28, 128, 3, 1, 1)), Workload("CBR", "t", (1, 3, 30, 32, 3, 2, 1)),
                 Workload("GRP", "t", (1, 32, 9, 64, 3, 2, 1, 1, 2)), Workload("DIL", "t", (1, 16, 20, 32, 3, 1, 2, 2)),
                 Workload("C1D", "t", (1, 40, 60, 48, 5, 1, 2)), Workload("C3D", "t", (1, 8, 10, 32, 3, 1, 1)),
                 Workload("T2D", "t", (1, 32, 12, 3, 4, 2, 1)), Workload("DEP", "t", (1, 64, 30, 3, 1, 1))]
    rng = np.random.default_rng(3)
    with monkeypatch.context() as m:
        m.setattr(checks, "ACCUMULATOR_REGISTERS", 10 ** 9)
        grown = 0
        for w in workloads:
            space = space_for(w, target)
            for _ in range(30):
                p = space.sample(rng, {"unroll": 1, "attach": int(rng.integers(4) > 0)} |
                                 ({"winograd": 0} if "winograd" in space.knobs else {}))
                with target:
                    body = alt.lower(*space.apply(p)).body
                counts = [(math.prod(n for _, n in read), math.prod(n for _, n in again))
                          for _, read, again in checks.unrolled_accumulators(body)]
                assert space.unrolled_tile(p) == max(counts, default=(0, 1)), (w, p)
                grown += space.unrolled_tile(p)[0] > space.target.registers * space.lanes
        assert grown > 10  # points whose accumulators span more than the registers: attach=1 was counted
    space = space_for(workloads[0], target)
    past = {"attach": 1, "cache_o": 1, "cache_x": 1, "fuse_rx": 0, "ib": 16, "layout": "NCHW", "ob": 8, "order": "s-o",
            "par_depth": 1, "reduce_order": "c-y-x", "spatial": 0, "tile_x": 2, "unroll": 1, "winograd": 0,
            "tile_y": min(4, target.registers // 8)}  # a register tile of 8 channels x tile_y rows x one vector
    vectors = space.unrolled_tile(past)[0] // space.lanes  # with all 128 output channels: 16 times the tile
    with pytest.raises(Invalid, match=f"accumulator of {vectors} vectors .*at most "
                                      f"{checks.ACCUMULATOR_REGISTERS * target.registers} vector updates"):
        space.apply(past)
    with target:
        alt.lower(*space.apply(dict(past, attach=0)))  # the register tile alone
    dep = space_for(workloads[-1], target)  # a tile of a few vectors past the registers: fine, but not with 9 taps
    spilled = {"layout": "NHWC", "in_layout": "NHWC", "w_layout": "taps", "cb": 2 * dep.lanes, "tile_y": 1,
               "tile_x": 14 if target.registers > 16 else 7, "par_depth": 1, "unroll": 1, "order": "o-y-x",
               "unroll_taps": 0, "attach": 1}  # a register tile of 28 or 14 vectors; attach=1: two of them
    assert dep.check(spilled) is None and dep.unrolled_tile(spilled)[0] > target.registers * dep.lanes
    assert "updated 9 times over" in dep.check(dict(spilled, unroll_taps=1))
