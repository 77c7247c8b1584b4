"""ALT's template for depthwise convolution (DEP): one filter per channel, so the channels are the
vector lanes.

The layout knobs lay activations out as NCHW<cb>c (blocks of `cb` channels, whole vectors, the
input in the same blocks as the output: channel c reads channel c) or NHWC, and the weight
(C, 1, KH, KW) as C/cb x KH x KW x cb (or KH x KW x C), so that a tap of the filter is one vector
load. The loop knobs tile the output by tile_y rows x tile_x columns x cb channels held in
registers, the kernel taps outside the tile (unrolled or not), the channel-block loop outside,
between or inside the row and column tiles, and fuse 2 or 3 outer loops into the parallel one. In
a network the planner converts the input in the padding stage, as for any padded convolution.
"""
from alt.ops.hand import depthwise_block, depthwise_conv, depthwise_tile

from .space import Space


class DepthwiseSpace(Space):
    layout_knobs = ("layout", "cb")
    added = {"unroll_taps": 0}  # and "order": see complete

    def __init__(self, workload, target=None):
        super().__init__(workload, target)
        n, self.c, size, k, s, p = workload.params[:6]
        self.k = k
        self.out_size = (size + 2 * p - k) // s + 1
        self.knobs = {
            "layout": ["NCHWc", "NHWC"],
            "cb": [self.lanes * m for m in (1, 2, 4)],
            "tile_y": [1, 2, 4],
            "tile_x": [1, 2, 4, 7, 8, 14, 16, 28],
            "par_depth": [1, 2],
            "unroll": [0, 1],
            # where the channel-block loop runs among the row and column tiles (the weights of a block
            # stay in registers and cache while the tiles inside it pass), and the filter taps unrolled
            "order": ["o-y-x", "y-o-x", "y-x-o"],
            "unroll_taps": [0, 1],
        }

    def complete(self, point):
        """As Space.complete; a point logged before the `order` knob ran the channel blocks where its
        layout put them (outermost blocked, between rows and columns in NHWC)."""
        p = super().complete(point)
        if "order" not in p and "layout" in p:
            p["order"] = "o-y-x" if p["layout"] == "NCHWc" else "y-o-x"
        return p

    def default_layout(self):
        """ALT-OL's fixed layout: NHWC, one vector of channels a tile."""
        return {"layout": "NHWC", "cb": self.lanes}

    def _seeds(self):
        cb = depthwise_block(self.c, self.target) or self.lanes  # the hand schedule's (alt.ops.hand)
        return [dict(lay, tile_y=1, tile_x=depthwise_tile(self.out_size, lay["cb"], self.target), par_depth=2, unroll=1,
                     order="o-y-x" if lay["layout"] == "NCHWc" else "y-o-x", unroll_taps=0)
                for lay in ({"layout": "NCHWc", "cb": cb}, self.default_layout())]

    def _check(self, p):
        if p["layout"] == "NCHWc" and self.c % p["cb"]:
            return f"cb={p['cb']} does not divide the {self.c} channels"
        if p["tile_x"] > self.out_size or p["tile_y"] > self.out_size:
            return f"tile {p['tile_y']}x{p['tile_x']} is larger than the {self.out_size}x{self.out_size} output"
        regs = p["tile_y"] * p["tile_x"] * p["cb"] // self.lanes
        if regs > self.target.registers - 2:  # and a register for the input, one for the weight
            return f"the accumulator tile needs {regs} vector registers; the target has {self.target.registers}"
        return None

    def layouts(self, p):
        if p["layout"] == "NCHWc":
            return f"NCHW{p['cb']}c", f"NCHW{p['cb']}c"
        return "NHWC", "NHWC"

    def _schedule_into(self, s, anchor, end, p):
        self._schedule(s, anchor, end, p, relayout_input=False)  # the planner laid the input out

    def _apply(self, s, out, p):
        return self._schedule(s, out, None, p)

    def _schedule(self, s, conv, epilogue, p, relayout_input=True):
        return depthwise_conv(s, conv, p["cb"], p["layout"] == "NCHWc", p["tile_y"], p["tile_x"], p["par_depth"],
                              p["unroll"], out=epilogue, relayout_input=relayout_input, order=p["order"],
                              unroll_taps=p["unroll_taps"])
