"""ALT's template for 2-d convolution (C2D, DIL, CBR, GRP): plain, dilated, with bias and ReLU, or
grouped (blocks within a group).

The layout knobs lay out activations and weights (NCHW, NHWC, or NCHW{ob}c with input blocks of ib
channels, weights OIHW{ib}i{ob}o, the output optionally tiled spatially as NCHW{ht}h{wt}w{ob}c);
the loop knobs choose output tiles ht x wt x ot, the input-channel tile, the order of the reduction
loops, whether the output-channel blocks run outside the spatial tiles or inside them (in cache
tiles of cache_o blocks, between the rows and the column tiles or among cache tiles of cache_x
column tiles), unrolling, how many outer loops are fused for parallel work, and where the
accumulator tile is computed; and for a 3x3 stride-1 convolution, the algorithm: direct, or
Winograd's F(2x2, 3x3) or F(4x4, 3x3) (alt.ops.winograd; weights transformed ahead of time) in the
same layouts.
"""
import math

import numpy as np

import alt
from alt.ops.hand import nchwc_tile_axes, relayout_conv2d, tile_target

from .space import Invalid, Space


def cache_tiles(split, n, oo, spatial, p):
    """The outer loops of order s-o: [n, o-blocks / cache_o, the spatial tiles, with the cache_o
    blocks of a cache tile among them]: between the rows and the column tiles (cache_x 0: a row's
    input stays while the blocks pass), or inside cache tiles of cache_x column tiles (a block's
    weights stay while those tiles pass). A knob at 1 splits no loop. `split(loop, factor)` gives
    (outer, inner): a stage's `split` when scheduling, `model_split` when a check counts loops."""
    head = [n]
    if p["cache_o"] > 1:
        ooo, oo = split(oo, p["cache_o"])
        head.append(ooo)
    if p["cache_x"] == 0:
        return [*head, *spatial[:-1], oo, spatial[-1]]
    if p["cache_x"] == 1:
        return [*head, *spatial, oo]
    xoo, xoi = split(spatial[-1], p["cache_x"])
    return [*head, *spatial[:-1], xoo, oo, xoi]


def model_split(loop, factor):
    """cache_tiles' split of a modelled loop (axis, extent): both parts keep the axis."""
    axis, extent = loop
    return (axis, -(-extent // factor)), (axis, min(factor, extent))


def unrolled_accumulator(p, tile, full, outer, grows, unrolled=("y", "x")):
    """How many elements of its accumulator the unrolled copies of a point's tile write
    (alt.lower's unrolled-accumulator limit counts the same): the register tile (`tile`: its
    extent along each axis, "o", "y" and "x"), and where `attach` computes the accumulator one loop
    further out and that loop runs along an axis the accumulator unrolls or vectorizes (`grows`),
    the tile times that loop's extent along it, up to the axis's `full` extent. `outer`: the (axis,
    extent) loops outside the tile in the schedule's order, the first min(par_depth, len - 1) + 1 of
    them fused into the parallel loop (which attach never passes). Nothing is copied where the
    `unrolled` axes are all one element long (a vectorized loop alone is one vector op per element)."""
    if not p["unroll"]:
        return 0
    tile = {a: min(n, full[a]) for a, n in tile.items()}  # a block of more channels than there are has them all
    depth = min(p["par_depth"], len(outer) - 1)
    axis, extent = outer[-1]
    if p["attach"] and len(outer) - depth - 1 >= 1 and axis in grows:
        tile[axis] = min(full[axis], tile[axis] * extent)
    if all(tile[a] == 1 for a in unrolled):
        return 0
    return math.prod(tile.values())


def check_unrolled(elements, repeats, target):
    """Why an unrolled accumulator of `elements` floats, updated `repeats` times over by unrolled
    reduction loops, is refused on `target` (alt.lower_checks.accumulator_fits), or None."""
    from alt.lower_checks import ACCUMULATOR_REGISTERS, accumulator_fits
    vectors = -(-elements // target.lanes("float32"))
    if accumulator_fits(vectors, repeats, target.registers):
        return None
    again = f", updated {repeats} times over by unrolled reduction loops" if repeats > 1 else ""
    return (f"unroll=1 with attach=1 unrolls an accumulator of {vectors} vectors (the tile times the loop it is "
            f"computed at){again}; past the target's {target.registers} registers, at most "
            f"{ACCUMULATOR_REGISTERS * target.registers} vector updates, as alt.lower allows: give attach=0 or "
            "unroll=0, or a smaller tile")


class Conv2dSpace(Space):
    layout_knobs = ("layout", "ob", "ib", "spatial")
    added = {"spatial": 0, "fuse_rx": 0, "winograd": 0, "cache_o": 1, "cache_x": 1}  # and "order": see complete
    leading = ("winograd",)  # the algorithm is drawn first: direct has far more invalid draws than Winograd
    # what the direct loop knobs must be at in a Winograd point (its schedule does not read them)
    WINOGRAD_FIXED = {"tile_y": 1, "tile_x": 1, "reduce_order": "c-y-x", "unroll": 0, "par_depth": 1, "attach": 0,
                      "spatial": 0, "fuse_rx": 0, "order": "o-s", "cache_o": 1, "cache_x": 1}

    def __init__(self, workload, target=None):
        super().__init__(workload, target)
        _, c, size, o, k, s, p, *rest = workload.params
        self.c, self.o, self.k, self.pad = c, o, k, p
        self.groups = rest[1] if len(rest) > 1 else 1  # GRP: (..., dilation, groups)
        from alt.ops.winograd import eligible
        self.winograd_ok = workload.op == "C2D" and eligible(s, p, 1, 1, (k, k))
        self.out_size = (size + 2 * p - (rest[0] if rest else 1) * (k - 1) - 1) // s + 1
        self.knobs = {
            "layout": ["NCHWc", "NHWC", "NCHW"],
            # NCHW: rows; else whole vectors (and a grouped conv's whole group, see _check)
            "ob": sorted({4, 8} | {self.lanes * m for m in (1, 2, 4)} |
                         ({o // self.groups} if self.groups > 1 and (o // self.groups) % self.lanes == 0 else set())),
            # an input block may be any output block; a first layer's few channels (3) one block
            "ib": sorted({1, 4, 8, 16, 32, self.lanes * 4} | ({c} if c < self.lanes else set())),
            "tile_y": [1, 2, 4],
            "tile_x": [1, 2, 4, 7, 8, 14, 16, 28],
            "reduce_order": ["c-y-x", "y-x-c"],
            # the output-channel blocks outside the spatial tiles (each block's weights stay in cache
            # while the tiles pass), or inside them in cache tiles of cache_o blocks (the input window
            # stays while a cache tile's blocks pass; its weights stay while the tiles pass), and then the
            # column tiles in cache tiles of cache_x, each block's weights reused by cache_x tiles in turn
            "order": ["o-s", "s-o"],
            "cache_o": [1, 2, 4, 8],
            "cache_x": [0, 1, 2, 4, 8],  # 0: the blocks between the rows and the column tiles
            "unroll": [0, 1],
            "par_depth": [1, 2, 3],
            "attach": [0, 1],
            "spatial": [0, 1],  # NCHWc: the output also tiled spatially, one register tile contiguous
            # the kernel's columns fused with the channels read next to them (NCHWc in order c-y-x, NHWC
            # in y-x-c): in whole input blocks that is one contiguous run of input and of weights
            "fuse_rx": [0, 1],
            # the algorithm: direct (0) or Winograd F(m x m, 3 x 3), m = 2 or 4 (3x3 stride-1 C2D only)
            "winograd": [0, 2, 4] if self.winograd_ok else [0],
        }

    def complete(self, point):
        """As Space.complete; a point logged before the `order` knob ran the output-channel blocks
        where its layout put them: inside the spatial tiles in NHWC, outside in the others."""
        p = super().complete(point)
        if "order" not in p and "layout" in p:
            p["order"] = "s-o" if p["layout"] == "NHWC" and not p.get("winograd") else "o-s"
        return p

    def canonical(self, point):
        """A Winograd point's direct loop knobs at WINOGRAD_FIXED (its schedule does not read them),
        and in NHWC its channel tiles at the default layout's (it has no blocks): a draw or a move that
        picks the algorithm lands on a point that exists, and a move off it on a direct point. The
        blocks outside the tiles (o-s) make one cache tile of them all (cache_o and cache_x 1), and a
        cache tile of all the column tiles is the whole row (cache_x 0)."""
        if not point.get("winograd"):
            if point.get("order") == "o-s":
                return dict(point, cache_o=1, cache_x=1)
            if point.get("cache_x", 0) > 1 and point["cache_x"] == self.column_tiles(point):
                return dict(point, cache_x=0)  # one cache tile of all the column tiles: the whole row
            return point
        nhwc = self.nhwc_tiles() if point.get("layout") == "NHWC" else {}
        return {**point, **self.WINOGRAD_FIXED, **nhwc}

    def default_layout(self):
        """ALT-OL's fixed layout: activations NHWO (NHWC), weights HWIO. Nothing else: in NHWC the
        channel tiles ob and ib lay no tensor out (they tile the loops over channels that are
        contiguous anyway), so loop-only tunes them as the loop knobs they are there."""
        return {"layout": "NHWC", "spatial": 0}

    def memory_layout(self, point):
        """As Space.memory_layout: in NHWC (weights HWIO) and NCHW (weights OIHW) the channel tiles
        ob and ib lay nothing out; in NCHWc they are the activations' and weights' blocks."""
        m = super().memory_layout(point)
        return m if m["layout"] == "NCHWc" else {k: v for k, v in m.items() if k not in ("ob", "ib")}

    def nhwc_tiles(self):
        """The channel tiles of an NHWC point that has no choice of them (Winograd's, and the seed)."""
        return {"ob": self.lanes, "ib": max([i for i in self.knobs["ib"] if i <= min(8, self.c)] or [1])}

    def knobs_for(self, layout):
        """The layout knobs that make this convolution read and write `layout` (a graph planner
        name: NCHW, NHWC, NCHW<b>c, NCHW<h>h[<w>w]<b>c), or None when the template has no such
        layout (fp and bp propagate one operator's layout to its neighbour with this)."""
        from alt.graph.plan import blocked_parts
        if layout == "NHWC":
            fixed = dict(self.default_layout())
        elif layout == "NCHW":  # weights OIHW: the tiles lay nothing out there either
            fixed = {"layout": "NCHW", "spatial": 0}
        elif blocked_parts(layout) is None:
            return None
        else:
            ht, wt, b = blocked_parts(layout)
            fixed = {"layout": "NCHWc", "ob": b, "ib": b, "spatial": 0}
            if ht > 1:  # a tile of whole rows (no w) is the same memory with any tile_x of 1 or the width
                fixed.update(spatial=1, tile_y=ht, tile_x=wt)
        if any(v not in self.knobs[k] for k, v in fixed.items()):
            return None
        try:
            p = self.sample(np.random.default_rng(0), fixed)
        except Invalid:
            return None
        return fixed if self.layouts(p)[1] == layout else None

    def _seeds(self):
        from alt.ops.hand import conv_tile
        out = []
        for layout in ("NCHWc", "NHWC"):
            lay = {"layout": "NCHWc", "ob": conv_tile(self.out_size, self.o, self.target)[0] * self.lanes,
                   "ib": None} if layout == "NCHWc" else dict(self.default_layout(), **self.nhwc_tiles())
            vectors = lay["ob"] // self.lanes
            rows = conv_tile(self.out_size, target=self.target, vectors=(vectors,))[1]
            ib = lay["ib"] or max([i for i in self.knobs["ib"] if i <= min(lay["ob"], self.c)] or [1])
            tile_x = max([x for x in self.knobs["tile_x"] if x <= rows and self.out_size % x == 0] or [1])
            seed = dict(lay, ib=ib, tile_y=1, tile_x=tile_x, reduce_order="c-y-x", order="o-s", cache_o=1, cache_x=1,
                        unroll=1, par_depth=2, attach=0, spatial=0, fuse_rx=1)
            if layout == "NHWC":
                seed.update(reduce_order="y-x-c", order="s-o")
            out.append(seed if self.check(seed) is None else dict(seed, fuse_rx=0))
        if self.winograd_ok:  # the Winograd convolution in each seed's layout, alt.ops.winograd's tile
            from alt.ops.winograd import default_tile
            m = default_tile(self.out_size, self.out_size)
            out += [dict(s, **self.WINOGRAD_FIXED, winograd=m) for s in out]
        return out

    def check_layout(self, p):
        """What no point of these layout knobs can have, direct or Winograd (Winograd's own
        conditions on blocks are stricter still)."""
        if p["layout"] == "NCHWc" and self.o % p["ob"]:
            return f"ob={p['ob']} does not divide the {self.o} output channels"
        whole_group = p["ob"] == self.o // self.groups and (self.c // self.groups) % p["ib"] == 0
        if self.groups > 1 and p["layout"] == "NCHWc" and not whole_group:
            # a block smaller than a group leaves the group of a vector's lanes unproven, and the input
            # read becomes a gather (10x slower on GRP-0)
            return (f"a grouped conv's output block ob={p['ob']} must be a whole group ({self.o // self.groups} "
                    f"channels) and ib={p['ib']} must divide a group's {self.c // self.groups} input channels")
        if p["layout"] != "NCHW" and p["ob"] % self.lanes:
            return f"ob={p['ob']} is not a multiple of the vector width ({self.lanes} floats)"
        if p["layout"] == "NCHW" and p["ob"] > 8:
            return "NCHW keeps at most 8 output channels in a tile (vectors run along x)"
        if p["ib"] > max(self.c, 1) * 2:
            return f"ib={p['ib']} is far larger than the {self.c} input channels"
        if p["spatial"] and p["layout"] != "NCHWc":
            return "a spatially tiled output needs layout NCHWc"
        if p["spatial"] and not any(t > 1 and self.out_size % t == 0 for t in self.knobs["tile_y"]):
            return f"no tile of more than one row divides the {self.out_size}x{self.out_size} output (spatial)"
        return None

    def _check(self, p):
        if p.get("winograd"):
            return self._check_winograd(p)
        if p["tile_x"] > self.out_size or p["tile_y"] > self.out_size:
            return f"tile {p['tile_y']}x{p['tile_x']} is larger than the {self.out_size}x{self.out_size} output"
        blocks = self.o // p["ob"] if p["layout"] == "NCHWc" else -(-self.o // p["ob"])
        if p["cache_o"] > blocks:
            return f"a cache tile of cache_o={p['cache_o']} output-channel blocks is more than the {blocks} there are"
        if p["cache_x"] > self.column_tiles(p):
            return (f"a cache tile of cache_x={p['cache_x']} column tiles is more than the "
                    f"{self.column_tiles(p)} there are")
        if p["spatial"] and p["tile_y"] == 1:
            return "a spatially tiled output needs tiles of more than one row (tile_y > 1)"
        if p["spatial"] and (self.out_size % p["tile_y"] or self.out_size % p["tile_x"]):
            return (f"a spatial tile {p['tile_y']}x{p['tile_x']} does not divide the "
                    f"{self.out_size}x{self.out_size} output")
        if p.get("fuse_rx") and (p["layout"], p["reduce_order"]) not in (("NCHWc", "c-y-x"), ("NHWC", "y-x-c")):
            return ("fuse_rx fuses the kernel's columns with the channels after them: NCHWc in order c-y-x, "
                    "NHWC in y-x-c")
        if p.get("fuse_rx") and (self.c // self.groups) % p["ib"]:
            return f"fuse_rx needs whole input blocks: ib={p['ib']} does not divide {self.c // self.groups} channels"
        lanes = self.lanes
        regs = p["tile_y"] * (p["tile_x"] * p["ob"] // lanes if p["layout"] != "NCHW"
                              else p["ob"] * -(-max(lanes, p["tile_x"]) // lanes))
        if regs > self.target.registers:
            return (f"the accumulator tile needs {regs} vector registers; the target has "
                    f"{self.target.registers}")
        return check_unrolled(*self.unrolled_tile(p), self.target)  # alt.lower's limit, before building

    def unrolled_tile(self, p):
        """(elements, updates) of the accumulator that the unrolled copies of direct point `p`'s tile
        write (unrolled_accumulator; no reduction loop is unrolled, so each is updated once per
        copy): with attach=1 the tile is computed one loop further out, and where that loop runs along
        an unrolled or vectorized axis of the accumulator (rows or columns; output channels in NHWC
        and NCHW), its copies are unrolled too."""
        x = p["tile_x"]
        if p["layout"] == "NCHW":  # vectors run along x: whole vectors, or the whole row where it is shorter
            x = max(self.lanes, x) if self.out_size >= self.lanes else self.out_size
        blocks = self.o // p["ob"] if p["layout"] == "NCHWc" else -(-self.o // p["ob"])
        outer = [("n", 1), ("o", blocks), ("y", -(-self.out_size // p["tile_y"])), ("x", self.column_tiles(p))]
        if p["order"] == "s-o":
            outer = cache_tiles(model_split, outer[0], outer[1], outer[2:], p)
        grows = ({"y", "x"} if not p["spatial"] else set()) if p["layout"] == "NCHWc" else {"o", "y", "x"}
        return unrolled_accumulator(p, {"o": p["ob"], "y": p["tile_y"], "x": x},
                                    {"o": self.o, "y": self.out_size, "x": self.out_size}, outer, grows,
                                    ("o", "y") if p["layout"] == "NCHW" else ("y", "x")), 1

    def column_tiles(self, p):
        """How many column tiles a row of the output has under point `p` (NCHW: tiles of whole vectors)."""
        if "tile_x" not in p:
            return 0
        if p.get("layout") == "NCHW":
            return -(-self.out_size // max(self.lanes, p["tile_x"])) if self.out_size >= self.lanes else 1
        return -(-self.out_size // p["tile_x"])

    def _check_winograd(self, p):
        off = {k: p[k] for k, v in self.WINOGRAD_FIXED.items() if p[k] != v}
        if off:
            return f"a Winograd point keeps the direct loop knobs at {self.WINOGRAD_FIXED}; it has {off}"
        if p["layout"] == "NCHW":
            return "a Winograd convolution reads and writes NHWC or NCHWc (its transforms run along channels)"
        blocks_in = p["layout"] != "NCHWc" or (p["ib"] % self.lanes == 0 and self.c % p["ib"] == 0)
        if p["ob"] % self.lanes or self.o % p["ob"] or not blocks_in:
            return (f"a Winograd convolution needs channel blocks ob={p['ob']}, ib={p['ib']} of whole vectors "
                    f"({self.lanes} floats) dividing its {self.c} input and {self.o} output channels")
        if self.c % self.lanes:
            return f"a Winograd convolution needs whole vectors of input channels, not {self.c}"
        nhwc = self.nhwc_tiles()
        if p["layout"] == "NHWC" and (p["ob"], p["ib"]) != (nhwc["ob"], nhwc["ib"]):
            return f"NHWC has no channel blocks: a Winograd point keeps ob={nhwc['ob']}, ib={nhwc['ib']}"
        return None

    def winograd_tile(self, point):
        """The Winograd output tile m of `point`, 0 for a direct convolution."""
        return self.complete(point).get("winograd", 0)

    def build_point(self, point):
        m = self.winograd_tile(point)
        if not m:
            return self.build()
        from alt.ops.winograd import conv2d_winograd
        (X, W), _ = self.build()
        U = alt.placeholder(((m + 2) ** 2, self.o, self.c), name=W.name)
        return [X, U], conv2d_winograd(X, U, m, self.pad)

    def prepare(self, point):
        m = self.winograd_tile(point)
        return [None, ["winograd", m], None] if m else None

    def layouts(self, p):
        from alt.graph.plan import tiled_name
        p = self.complete(p)
        if p["layout"] == "NCHWc":
            tile = (p["tile_y"], p["tile_x"]) if p["spatial"] else (1, 1)
            return f"NCHW{p['ib']}c", tiled_name(*tile, p["ob"], self.out_size, self.out_size)
        return p["layout"], p["layout"]

    def _schedule_into(self, s, anchor, end, p):
        self._schedule(s, anchor, end, p, relayout_input=False)  # the planner laid the input out

    def _apply(self, s, out, p):
        if p.get("winograd"):
            return self._schedule(s, out, None, p)
        conv = out
        while not conv.op.reduce_axis:  # CBR: the convolution under bias and ReLU
            conv = conv.op.input_tensors[0]
        return self._schedule(s, conv, out if out is not conv else None, p)

    def _schedule(self, s, conv, epilogue, p, relayout_input=True):
        ob, ib = p["ob"], p["ib"]
        if p.get("winograd"):
            from alt.ops.winograd import schedule_winograd
            lay_in, lay_out = self.layouts(p)
            return schedule_winograd(s, conv, layout=lay_out, in_layout=lay_in, out=epilogue,
                                     relayout_input=relayout_input)
        tiles = (p["tile_y"], p["tile_x"]) if p["spatial"] else (1, 1)
        relayout_conv2d(s, conv, p["layout"], ob=ob, ib=ib, out=epilogue, relayout_input=relayout_input, tile=tiles)
        T, CC = tile_target(s, conv, epilogue)
        if p["layout"] == "NCHWc":
            outer, tile = nchwc_tile_axes(T, p["tile_y"], p["tile_x"])
        elif p["layout"] == "NHWC":
            n, y, x, o = T.axis
            yo, yi = T.split(y, factor=p["tile_y"])
            xo, xi = T.split(x, factor=p["tile_x"])
            oo, oi = T.split(o, factor=ob)
            outer, tile = [n, yo, xo, oo], [yi, xi, oi]
        else:
            n, o, y, x = T.axis
            oo, oi = T.split(o, factor=ob)
            yo, yi = T.split(y, factor=p["tile_y"])
            xo, xi = T.split(x, factor=max(self.lanes, p["tile_x"]) if self.out_size >= self.lanes else self.out_size)
            outer, tile = [n, oo, yo, xo], [oi, yi, xi]
        oo = outer[3] if p["layout"] == "NHWC" else outer[1]
        spatial = [x for x in outer[1:] if x is not oo]
        outer = [outer[0], oo, *spatial] if p["order"] == "o-s" else cache_tiles(T.split, outer[0], oo, spatial, p)
        T.reorder(*outer, *tile)
        T.vectorize(tile[-1])
        depth = min(p["par_depth"], len(outer) - 1)
        T.parallel(T.fuse(*outer[:depth + 1]) if depth >= 1 else outer[0])
        at = T.leaves[max(0, T.leaves.index(tile[0]) - 1 - p["attach"])]
        s[CC].compute_at(T, at)
        L = s[CC]
        caxes = L.axis
        rc, ry, rx = L.reduce_axis
        rco, rci = L.split(rc, factor=ib)
        red = [rco, ry, rx, rci] if p["reduce_order"] == "c-y-x" else [ry, rx, rco, rci]
        if p["layout"] == "NCHWc":
            if p["spatial"]:  # the accumulator follows the output's tiled layout
                (cn, coo, *couter), (cy, cx, coi) = nchwc_tile_axes(L, p["tile_y"], p["tile_x"])
            else:
                (cn, coo, cy, cx, coi), couter = caxes, []
            L.reorder(cn, coo, *couter, *red, cy, cx, coi)
            vec, unroll = coi, [cy, cx]
        elif p["layout"] == "NHWC":
            cn, cy, cx, co = caxes
            L.reorder(cn, *red, cy, cx, co)
            vec, unroll = co, [cy, cx]
        else:
            cn, co, cy, cx = caxes
            L.reorder(cn, *red, co, cy, cx)
            vec, unroll = cx, [co, cy]
        if p.get("fuse_rx"):  # checked: the order ends in rx, rci (NCHWc) or rx, rco, rci (NHWC)
            L.fuse(*red[red.index(rx):])
        L.vectorize(vec)
        if p["unroll"]:
            for u in unroll:
                L.unroll(u)
        return s
