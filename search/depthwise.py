"""ALT's template for depthwise convolution (DEP): one filter per channel, so the channels are the
vector lanes.

The layout knobs lay the output out as NCHW<cb>c (blocks of `cb` channels, whole vectors) or NHWC,
the input the same or the other way (`in_layout`: channel c reads channel c, so a block of channels
is one vector load either way, and a network's planner can leave the producer's layout alone), and
the weight (C, 1, KH, KW) as C/cb x KH x KW x cb or KH x KW x C/cb x cb (`w_layout`: blocks or taps
outermost), so that a tap of the filter is one vector load. The loop knobs tile the output by tile_y
rows x tile_x columns x cb channels held in registers (a blocked output may be tiled so in memory
too, `spatial`: NCHW{h}h{w}w{cb}c), unroll the tile's columns and rows or not, put the kernel taps
outside the tile (unrolled or not), the channel-block loop outside, between or inside the row and
column tiles (inside: in bands of `cache_x` column tiles, so that a band of every channel stays in
cache), fuse 2, 3 or 4 outer loops into the parallel one, and compute the accumulator at the loop
outside the tile or one further out (`attach`). In a network the planner converts the input in the
padding stage, as for any padded convolution.
"""
from alt.ops.hand import depthwise_block, depthwise_conv, depthwise_tile

from .conv2d import check_unrolled, model_split, unrolled_accumulator
from .space import Space


class DepthwiseSpace(Space):
    layout_knobs = ("layout", "in_layout", "w_layout", "cb", "spatial")
    added = {"unroll_taps": 0, "attach": 0, "spatial": 0, "cache_x": 1}  # and more: see complete

    def __init__(self, workload, target=None):
        super().__init__(workload, target)
        n, self.c, size, k, s, p = workload.params[:6]
        self.k = k
        self.out_size = (size + 2 * p - k) // s + 1
        self.knobs = {
            "layout": ["NCHWc", "NHWC"],
            "in_layout": ["NCHWc", "NHWC"],
            "w_layout": ["blocks", "taps"],
            "cb": [self.lanes * m for m in (1, 2, 4)],
            "tile_y": [1, 2, 3, 4, 6, 7],  # 7 divides every MobileNet feature map (112 ... 7)
            "tile_x": [1, 2, 3, 4, 5, 6, 7, 8, 14, 16, 28],
            "spatial": [0, 1],  # NCHWc: the output tiled by the register tile in memory too
            "par_depth": [1, 2, 3],
            "unroll": [0, 1],  # the tile's columns
            "unroll_rows": [0, 1],
            # where the channel-block loop runs among the row and column tiles (the weights of a block
            # stay in registers and cache while the tiles inside it pass), and the filter taps unrolled
            "order": ["o-y-x", "y-o-x", "y-x-o"],
            "cache_x": [1, 2, 4, 8],  # y-x-o: the channel blocks inside bands of this many column tiles
            "unroll_taps": [0, 1],
            "attach": [0, 1],
        }

    def complete(self, point):
        """As Space.complete; a point logged before the `order`, `in_layout` and `w_layout` knobs ran
        the channel blocks where its layout put them (outermost blocked, between rows and columns in
        NHWC), read its input in its output's layout and its weights blocks first when blocked; one
        logged before `unroll_rows` unrolled its rows as it did its columns."""
        p = super().complete(point)
        if "layout" in p:
            was = {"order": "o-y-x" if p["layout"] == "NCHWc" else "y-o-x", "in_layout": p["layout"],
                   "w_layout": "blocks" if p["layout"] == "NCHWc" else "taps"}
            p = {**was, **p}
        if "unroll" in p and "unroll_rows" not in p:
            p["unroll_rows"] = p["unroll"]
        return p

    def canonical(self, p):
        """Bands of column tiles only in order y-x-o (elsewhere the channel blocks are not inside the
        column tiles); a tile of one row unrolls its rows as its columns (a loop of one either way)."""
        p = dict(p)
        if p.get("order") != "y-x-o" and "cache_x" in p:
            p["cache_x"] = 1
        if p.get("tile_y") == 1 and "unroll" in p:
            p["unroll_rows"] = p["unroll"]
        return p

    def default_layout(self):
        """ALT-OL's fixed layout: NHWC in and out, the weights taps first (KH x KW x C: the same memory
        for every channel tile cb, which loop-only therefore tunes as the loop knob it is there)."""
        return {"layout": "NHWC", "in_layout": "NHWC", "w_layout": "taps", "spatial": 0}

    def memory_layout(self, point):
        """As Space.memory_layout: the channel tile cb lays nothing out when neither activation is
        blocked and the weights are taps first (KH x KW x C)."""
        m = super().memory_layout(point)
        blocked = "NCHWc" in (m["layout"], m["in_layout"]) or m["w_layout"] != "taps"
        return m if blocked else {k: v for k, v in m.items() if k != "cb"}

    def _seeds(self):
        cb = depthwise_block(self.c, self.target) or self.lanes  # the hand schedule's (alt.ops.hand)
        lays = ({"layout": "NCHWc", "in_layout": "NCHWc", "w_layout": "blocks", "cb": cb, "spatial": 0},
                dict(self.default_layout(), cb=self.lanes))
        return [dict(lay, tile_y=1, tile_x=depthwise_tile(self.out_size, lay["cb"], self.target), par_depth=2, unroll=1,
                     unroll_rows=1, order="o-y-x" if lay["layout"] == "NCHWc" else "y-o-x", cache_x=1, unroll_taps=0,
                     attach=0)
                for lay in lays]

    def check_layout(self, p):
        if "NCHWc" in (p["layout"], p["in_layout"]) and self.c % p["cb"]:
            return f"cb={p['cb']} does not divide the {self.c} channels (a blocked input or output)"
        if p["spatial"] and p["layout"] != "NCHWc":
            return "a spatially tiled output needs layout NCHWc"
        if p["spatial"] and not any(t > 1 and self.out_size % t == 0 for t in self.knobs["tile_y"]):
            return f"no tile of more than one row divides the {self.out_size}x{self.out_size} output (spatial)"
        return None

    def _check(self, p):
        if p["tile_x"] > self.out_size or p["tile_y"] > self.out_size:
            return f"tile {p['tile_y']}x{p['tile_x']} is larger than the {self.out_size}x{self.out_size} output"
        if p["spatial"] and (p["tile_y"] == 1 or self.out_size % p["tile_y"] or self.out_size % p["tile_x"]):
            return (f"a spatial tile {p['tile_y']}x{p['tile_x']} must have more than one row and divide the "
                    f"{self.out_size}x{self.out_size} output")
        if p["cache_x"] > 1 and p["order"] != "y-x-o":
            return f"cache_x={p['cache_x']} bands column tiles around the channel blocks: order y-x-o only"
        if p["cache_x"] > 1 and p["cache_x"] >= self.column_tiles(p):
            return (f"a band of cache_x={p['cache_x']} column tiles is no band of the {self.column_tiles(p)} there "
                    "are (a band of the whole row is order y-o-x)")
        regs = p["tile_y"] * p["tile_x"] * p["cb"] // self.lanes
        if regs > self.target.registers - 2:  # and a register for the input, one for the weight
            return f"the accumulator tile needs {regs} vector registers; the target has {self.target.registers}"
        return check_unrolled(*self.unrolled_tile(p), self.target)  # alt.lower's limit, before building

    def unrolled_tile(self, p):
        """(elements, updates) of the accumulator that the unrolled copies of point `p`'s tile write
        (search.conv2d.unrolled_accumulator): the columns (`unroll`) and rows (`unroll_rows`) are
        unrolled, the channel blocks are not, and unrolled taps copy a tile of one position and
        update the tile once each."""
        p = self.complete(p)
        sizes = {"o": -(-self.c // p["cb"]), "y": -(-self.out_size // p["tile_y"]), "x": self.column_tiles(p)}
        outer = [("n", 1)] + [(a, sizes[a]) for a in p["order"].split("-")]
        if p["cache_x"] > 1 and p["order"] == "y-x-o":
            xoo, xoi = model_split(outer[2], p["cache_x"])
            outer = [outer[0], outer[1], xoo, outer[3], xoi]
        axes = [a for a, on in (("y", p["unroll_rows"]), ("x", p["unroll"])) if on]
        tile = {"o": p["cb"], "y": p["tile_y"] if "y" in axes else 1, "x": p["tile_x"] if "x" in axes else 1}
        grows = set() if p["spatial"] else set(axes)  # a tiled accumulator keeps its tile loops (not unrolled)
        full = {"o": self.c, "y": self.out_size, "x": self.out_size}
        elements = unrolled_accumulator(dict(p, unroll=bool(axes)), tile, full, outer, grows, tuple(axes))
        if p["unroll_taps"] and self.k > 1:  # the taps' copies make copies of the block's vector too
            return max(elements, min(p["cb"], self.c)), self.k * self.k
        return elements, 1

    def column_tiles(self, p):
        """How many column tiles a row of the output has under point `p`."""
        return -(-self.out_size // p["tile_x"])

    def layouts(self, p):
        from alt.graph.plan import tiled_name
        p = self.complete(p)
        tile = (p["tile_y"], p["tile_x"]) if p["spatial"] else (1, 1)
        out = tiled_name(*tile, p["cb"], self.out_size, self.out_size) if p["layout"] == "NCHWc" else "NHWC"
        return f"NCHW{p['cb']}c" if p["in_layout"] == "NCHWc" else "NHWC", out

    def _schedule_into(self, s, anchor, end, p):
        self._schedule(s, anchor, end, p, relayout_input=False)  # the planner laid the input out

    def _apply(self, s, out, p):
        return self._schedule(s, out, None, p)

    def _schedule(self, s, conv, epilogue, p, relayout_input=True):
        return depthwise_conv(s, conv, p["cb"], p["layout"] == "NCHWc", p["tile_y"], p["tile_x"], p["par_depth"],
                              p["unroll"], out=epilogue, relayout_input=relayout_input, order=p["order"],
                              unroll_taps=p["unroll_taps"], in_blocked=p["in_layout"] == "NCHWc",
                              taps_first=p["w_layout"] == "taps", attach=p["attach"], spatial=p["spatial"],
                              unroll_rows=p["unroll_rows"], cache_x=p["cache_x"])
