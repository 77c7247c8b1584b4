"""ALT's template for depthwise convolution (DEP): one filter per channel, so the channels are the
vector lanes.

The layout knobs lay the output out as NCHW<cb>c (blocks of `cb` channels, whole vectors) or NHWC,
the input the same or the other way (`in_layout`: channel c reads channel c, so a block of channels
is one vector load either way, and a network's planner can leave the producer's layout alone), and
the weight (C, 1, KH, KW) as C/cb x KH x KW x cb or KH x KW x C/cb x cb (`w_layout`: blocks or taps
outermost), so that a tap of the filter is one vector load. The loop knobs tile the output by tile_y
rows x tile_x columns x cb channels held in registers, the kernel taps outside the tile (unrolled
or not), the channel-block loop outside, between or inside the row and column tiles, fuse 2, 3 or 4
outer loops into the parallel one, and compute the accumulator at the loop outside the tile or one
further out (`attach`). In a network the planner converts the input in the padding stage, as for
any padded convolution.
"""
from alt.ops.hand import depthwise_block, depthwise_conv, depthwise_tile

from .conv2d import check_unrolled, unrolled_accumulator
from .space import Space


class DepthwiseSpace(Space):
    layout_knobs = ("layout", "in_layout", "w_layout", "cb")
    added = {"unroll_taps": 0, "attach": 0}  # and "order", "in_layout", "w_layout": see complete

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
            "tile_y": [1, 2, 4, 7],  # 7 divides every MobileNet feature map (112 ... 7)
            "tile_x": [1, 2, 4, 7, 8, 14, 16, 28],
            "par_depth": [1, 2, 3],
            "unroll": [0, 1],
            # where the channel-block loop runs among the row and column tiles (the weights of a block
            # stay in registers and cache while the tiles inside it pass), and the filter taps unrolled
            "order": ["o-y-x", "y-o-x", "y-x-o"],
            "unroll_taps": [0, 1],
            "attach": [0, 1],
        }

    def complete(self, point):
        """As Space.complete; a point logged before the `order`, `in_layout` and `w_layout` knobs ran
        the channel blocks where its layout put them (outermost blocked, between rows and columns in
        NHWC), read its input in its output's layout and its weights blocks first when blocked."""
        p = super().complete(point)
        if "layout" in p:
            was = {"order": "o-y-x" if p["layout"] == "NCHWc" else "y-o-x", "in_layout": p["layout"],
                   "w_layout": "blocks" if p["layout"] == "NCHWc" else "taps"}
            p = {**was, **p}
        return p

    def default_layout(self):
        """ALT-OL's fixed layout: NHWC in and out, the weights taps first, one vector of channels a tile."""
        return {"layout": "NHWC", "in_layout": "NHWC", "w_layout": "taps", "cb": self.lanes}

    def _seeds(self):
        cb = depthwise_block(self.c, self.target) or self.lanes  # the hand schedule's (alt.ops.hand)
        lays = ({"layout": "NCHWc", "in_layout": "NCHWc", "w_layout": "blocks", "cb": cb}, self.default_layout())
        return [dict(lay, tile_y=1, tile_x=depthwise_tile(self.out_size, lay["cb"], self.target), par_depth=2, unroll=1,
                     order="o-y-x" if lay["layout"] == "NCHWc" else "y-o-x", unroll_taps=0, attach=0)
                for lay in lays]

    def check_layout(self, p):
        if "NCHWc" in (p["layout"], p["in_layout"]) and self.c % p["cb"]:
            return f"cb={p['cb']} does not divide the {self.c} channels (a blocked input or output)"
        return None

    def _check(self, p):
        if p["tile_x"] > self.out_size or p["tile_y"] > self.out_size:
            return f"tile {p['tile_y']}x{p['tile_x']} is larger than the {self.out_size}x{self.out_size} output"
        regs = p["tile_y"] * p["tile_x"] * p["cb"] // self.lanes
        if regs > self.target.registers - 2:  # and a register for the input, one for the weight
            return f"the accumulator tile needs {regs} vector registers; the target has {self.target.registers}"
        return check_unrolled(*self.unrolled_tile(p), self.target)  # alt.lower's limit, before building

    def unrolled_tile(self, p):
        """(elements, updates) of the accumulator that the unrolled copies of point `p`'s tile write
        (search.conv2d.unrolled_accumulator): the rows and columns are unrolled, the channel blocks
        are not, and unrolled taps copy a tile of one position and update the tile once each."""
        sizes = {"o": -(-self.c // p["cb"]), "y": -(-self.out_size // p["tile_y"]),
                 "x": -(-self.out_size // p["tile_x"])}
        outer = [("n", 1)] + [(a, sizes[a]) for a in p["order"].split("-")]
        elements = unrolled_accumulator(p, {"o": p["cb"], "y": p["tile_y"], "x": p["tile_x"]},
                                        {"o": self.c, "y": self.out_size, "x": self.out_size}, outer, {"y", "x"})
        if p["unroll_taps"] and self.k > 1:  # the taps' copies make copies of the block's vector too
            return max(elements, min(p["cb"], self.c)), self.k * self.k
        return elements, 1

    def layouts(self, p):
        p = self.complete(p)
        return tuple(f"NCHW{p['cb']}c" if p[k] == "NCHWc" else "NHWC" for k in ("in_layout", "layout"))

    def _schedule_into(self, s, anchor, end, p):
        self._schedule(s, anchor, end, p, relayout_input=False)  # the planner laid the input out

    def _apply(self, s, out, p):
        return self._schedule(s, out, None, p)

    def _schedule(self, s, conv, epilogue, p, relayout_input=True):
        return depthwise_conv(s, conv, p["cb"], p["layout"] == "NCHWc", p["tile_y"], p["tile_x"], p["par_depth"],
                              p["unroll"], out=epilogue, relayout_input=relayout_input, order=p["order"],
                              unroll_taps=p["unroll_taps"], in_blocked=p["in_layout"] == "NCHWc",
                              taps_first=p["w_layout"] == "taps", attach=p["attach"])
