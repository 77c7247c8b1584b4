"""ALT's template for 1-d and 3-d convolution (C1D, C3D) and transposed 2-d convolution (T2D, a
convolution in its sub-pixel form, alt.ops.conv): Conv2dSpace's layouts and loops
over any number of spatial axes (2-d convolutions keep Conv2dSpace, which the graph level plans
with).

Layout knobs: activations NC<S><ib>c in, NC<S><ob>c out (channel blocks of whole vectors; S the
spatial axes, W / DHW; the input padded up to whole blocks, the padding never read), weights
O/ob x I/ib x K... x ib x ob, so that a weight vector is one aligned load; or channels last (N<S>C,
weights K... x I x O). Loop knobs: an accumulator tile of tile_y x tile_x output positions over the
last two spatial axes (tile_y only where there are two) by ob channels, held in registers; the
reduction over input-channel blocks outside or inside the kernel taps; the output-channel blocks
outside the spatial tiles or inside them, in cache tiles of cache_o blocks, between the last two
spatial axes or among the column tiles in cache tiles of cache_x (search.conv2d.cache_tiles);
unrolling of the tile; how many outer loops are fused into the parallel one; and at which loop the
accumulator tile is computed. Points whose tile needs more vector registers than the target has,
or whose unrolled accumulator passes alt.lower's limit, are rejected by `check`, before they are
built.
"""
from alt.ops.default import schedule_stage
from alt.ops.hand import conv_inputs, pad_stage, tile_target

from .conv2d import cache_tiles, check_unrolled, model_split, unrolled_accumulator
from .space import Space


class ConvNdSpace(Space):
    layout_knobs = ("layout", "ob", "ib")
    added = {"cache_o": 1, "cache_x": 0}

    def __init__(self, workload, target=None):
        super().__init__(workload, target)
        n, c, size, o, k, s, p = workload.params[:7]
        self.c, self.o, self.k = c, o, k
        self.transposed = workload.op == "T2D"  # its weight is (I, O, K, K), like PyTorch's
        self.out_size = (size - 1) * s - 2 * p + k if self.transposed else (size + 2 * p - (k - 1) - 1) // s + 1
        self.nd = {"C1D": 1, "C3D": 3}.get(workload.op, 2)
        self.knobs = {
            "layout": ["NCc", "NSC"],  # channel blocks, or channels last
            "ob": [self.lanes * m for m in (1, 2, 4)],
            "ib": sorted({1, 4, 8, 16, self.lanes, self.lanes * 2}),
            "tile_y": [1, 2, 4] if self.nd > 1 else [1],
            "tile_x": [1, 2, 3, 4, 6, 7, 8, 12, 14, 16, 28],
            "reduce_order": ["c-s", "s-c"],  # input-channel blocks outside the kernel taps, or inside
            "order": ["o-s", "s-o"],  # output-channel blocks outside the spatial tiles (weights stay in
            # cache while the tiles pass), or inside (the input window stays while the blocks pass), in
            # cache tiles of cache_o blocks (whose weights stay while the tiles pass)
            "cache_o": [1, 2, 4, 8],
            "cache_x": [0, 1, 2, 4, 8],  # 0: the blocks between the last two spatial axes
            "unroll": [0, 1],
            "par_depth": [1, 2, 3],
            "attach": [0, 1],
        }

    def default_layout(self):
        """ALT-OL's fixed layout: channels last (NWC, NDHWC), weights K...IO. The channel tiles ob
        and ib lay nothing out there (loop tiles over contiguous channels): loop-only tunes them."""
        return {"layout": "NSC"}

    def memory_layout(self, point):
        """As Space.memory_layout: channels last (weights K...IO), the channel tiles lay nothing out."""
        m = super().memory_layout(point)
        return m if m["layout"] == "NCc" else {"layout": m["layout"]}

    def _seeds(self):
        from alt.ops.hand import conv_tile
        vectors, rows = conv_tile(self.out_size, self.o, self.target)
        tile_x = max([x for x in self.knobs["tile_x"] if x <= rows and self.out_size % x == 0] or [1])
        blocked = {"layout": "NCc", "ob": vectors * self.lanes,
                   "ib": max(i for i in self.knobs["ib"] if i <= min(vectors * self.lanes, self.c) or i == 1)}
        rest = dict(tile_y=1, tile_x=tile_x, reduce_order="c-s", order="o-s", cache_o=1, cache_x=0, unroll=1,
                    par_depth=2, attach=0)
        last = {"ob": self.lanes, "ib": max(i for i in self.knobs["ib"] if i <= min(8, self.c) or i == 1)}
        return [dict(blocked, **rest), dict(self.default_layout(), **last, **rest)]

    def canonical(self, point):
        """The blocks outside the spatial tiles (o-s) make one cache tile of them all (cache_o 1, cache_x
        0), and a cache tile of all the column tiles is the whole row (cache_x 0)."""
        if point.get("order") == "o-s":
            return dict(point, cache_o=1, cache_x=0)
        if point.get("cache_x", 0) > 1 and point["cache_x"] == self.column_tiles(point):
            return dict(point, cache_x=0)
        return point

    def column_tiles(self, p):
        """How many column tiles the last spatial axis has under point `p`."""
        return -(-self.out_size // p["tile_x"]) if "tile_x" in p else 0

    def _check(self, p):
        if self.o % p["ob"] and p["layout"] == "NCc":
            return f"ob={p['ob']} does not divide the {self.o} output channels"
        if p["cache_o"] > -(-self.o // p["ob"]):
            return (f"a cache tile of cache_o={p['cache_o']} output-channel blocks is more than the "
                    f"{-(-self.o // p['ob'])} there are")
        if p["cache_x"] > self.column_tiles(p):
            return (f"a cache tile of cache_x={p['cache_x']} column tiles is more than the "
                    f"{self.column_tiles(p)} there are")
        if p["ib"] > max(self.c, 1) * 2:
            return f"ib={p['ib']} is far larger than the {self.c} input channels"
        if p["tile_x"] > self.out_size or p["tile_y"] > self.out_size:
            return f"tile {p['tile_y']}x{p['tile_x']} is larger than the output ({self.out_size} a side)"
        regs = p["tile_y"] * p["tile_x"] * p["ob"] // self.lanes
        if regs + 1 > self.target.registers:  # and one for the broadcast input
            return (f"the accumulator tile needs {regs} vector registers and one for the input; the target "
                    f"has {self.target.registers}")
        return check_unrolled(*self.unrolled_tile(p), self.target)  # alt.lower's limit, before building

    def unrolled_tile(self, p):
        """(elements, updates) of the accumulator that the unrolled copies of point `p`'s tile write
        (search.conv2d.unrolled_accumulator): the rows and columns are unrolled, the output-channel
        blocks and the reduction are not."""
        sizes = [-(-self.out_size // p["tile_y"])] if self.nd > 1 else []
        spatial = [("d", self.out_size)] * (self.nd - 2) + [("y", n) for n in sizes] + [("x", self.column_tiles(p))]
        outer = [("n", 1), ("o", -(-self.o // p["ob"])), *spatial]
        if p["order"] == "s-o":
            outer = cache_tiles(model_split, outer[0], outer[1], spatial, p)
        return unrolled_accumulator(p, {"o": p["ob"], "y": p["tile_y"], "x": p["tile_x"]},
                                    {"o": self.o, "y": self.out_size, "x": self.out_size}, outer, {"y", "x"}), 1

    def layouts(self, p):
        """Activation layouts in the planner's style of names (C1D and C3D are not graph operators)."""
        S = {1: "W", 2: "HW", 3: "DHW"}[self.nd]
        if p["layout"] == "NCc":
            return f"NC{S}{p['ib']}c", f"NC{S}{p['ob']}c"
        return f"N{S}C", f"N{S}C"

    def _apply(self, s, out, p):
        nd = self.nd
        X, W = conv_inputs(out)
        pad = pad_stage(s, out)
        acts = [X] + ([pad.tensor] if pad else [])
        if p["layout"] == "NCc":
            ob, ib = p["ob"], p["ib"]
            c_pad = -X.shape[1] % ib
            for t in acts:
                _blocked(s.layout(t), nd, ib, c_pad)
            _blocked(s.layout(out), nd, ob, 0)
            w = s.layout(W)  # O I K... (T2D: I O K...) -> O/ob I/ib K... ib ob
            if c_pad:
                w.pad(int(not self.transposed), 0, c_pad)
            if self.transposed:  # I O -> I O/ob ob -> I/ib ib O/ob ob
                w.split(1, ob).split(0, ib).reorder(2, 0, *range(4, 4 + nd), 1, 3)
            else:  # O I -> O/ob ob I -> O/ob ob I/ib ib
                w.split(0, ob).split(2, ib).reorder(0, 2, *range(4, 4 + nd), 3, 1)
        else:
            for t in acts + [out]:
                s.layout(t).reorder(0, *range(2, 2 + nd), 1)
            s.layout(W).reorder(*range(2, 2 + nd), *((0, 1) if self.transposed else (1, 0)))  # K... I O
        if pad is not None:
            schedule_stage(s, pad)
        T, CC = tile_target(s, out, None)
        if p["layout"] == "NCc":
            n, oo, *sp, oi = T.axis
        else:
            n, *sp, o = T.axis
            oo, oi = T.split(o, factor=p["ob"])
        xo, xi = T.split(sp[-1], factor=p["tile_x"])
        if nd > 1:
            yo, yi = T.split(sp[-2], factor=p["tile_y"])
            spatial, tile = [*sp[:-2], yo, xo], [yi, xi, oi]
        else:
            spatial, tile = [xo], [xi, oi]
        outer = [n, oo, *spatial] if p["order"] == "o-s" else cache_tiles(T.split, n, oo, spatial, p)
        T.reorder(*outer, *tile)
        T.vectorize(oi)
        depth = min(p["par_depth"], len(outer) - 1)
        T.parallel(T.fuse(*outer[:depth + 1]))
        at = T.leaves[max(0, T.leaves.index(tile[0]) - 1 - p["attach"])]
        s[CC].compute_at(T, at)
        L = s[CC]
        rc, *rs = L.reduce_axis
        rco, rci = L.split(rc, factor=p["ib"])
        red = [rco, *rs, rci] if p["reduce_order"] == "c-s" else [*rs, rco, rci]
        if p["layout"] == "NCc":
            cn, coo, *cs, coi = L.axis
            head = [cn, coo, *cs[:-2]] if nd > 1 else [cn, coo]
        else:
            cn, *cs, co = L.axis
            coo, coi = L.split(co, factor=p["ob"])
            head = [cn, coo, *cs[:-2]] if nd > 1 else [cn, coo]
        inner = cs[-2:] if nd > 1 else cs[-1:]
        L.reorder(*head, *red, *inner, coi)
        L.vectorize(coi)
        if p["unroll"]:
            for u in inner:
                L.unroll(u)
        return s


def _blocked(view, nd, block, pad_channels):
    """N C S... -> N C/block S... block (the channels padded up to whole blocks)."""
    if pad_channels:
        view.pad(1, 0, pad_channels)
    view.split(1, block).reorder(0, 1, *range(3, 3 + nd), 2)
