"""ALT's template for depthwise convolution (DEP): one filter per channel, so the channels are the
vector lanes.

The layout knobs lay activations out as NCHW<cb>c (blocks of `cb` channels, whole vectors, the
input in the same blocks as the output: channel c reads channel c) or NHWC, and the weight
(C, 1, KH, KW) as C/cb x KH x KW x cb (or KH x KW x C), so that a tap of the filter is one vector
load. The loop knobs tile the output by tile_y rows x tile_x columns x cb channels held in
registers, the kernel taps outside the tile (unrolled or not), and fuse 2 or 3 outer loops into
the parallel one. In a network the planner converts the input in the padding stage, as for any
padded convolution.
"""
from alt.ops.hand import pad_stage, tile_target

from .space import Space


class DepthwiseSpace(Space):
    layout_knobs = ("layout", "cb")

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
        }

    def default_layout(self):
        """ALT-OL's fixed layout: NHWC, one vector of channels a tile."""
        return {"layout": "NHWC", "cb": self.lanes}

    def _seeds(self):
        cb = max([b for b in self.knobs["cb"] if self.c % b == 0 and b <= 2 * self.lanes] or [self.lanes])
        out = []
        for lay in ({"layout": "NCHWc", "cb": cb}, self.default_layout()):
            vectors = lay["cb"] // self.lanes  # the widest row tile up to 8 that divides the output and fits
            tile_x = max(x for x in self.knobs["tile_x"] if x <= 8 and self.out_size % x == 0 and
                         x * vectors <= self.target.registers - 2)
            out.append(dict(lay, tile_y=1, tile_x=tile_x, par_depth=2, unroll=1))
        return out

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
        from alt.ops.hand import conv_inputs, relayout_blocked
        cb = p["cb"]
        X, W = conv_inputs(conv)
        pad = pad_stage(s, conv)
        acts = ([X] if relayout_input else []) + ([pad.tensor] if pad else [])
        outs = [conv] + ([epilogue] if epilogue is not None and epilogue is not conv else [])
        if p["layout"] == "NCHWc":
            for t in acts + outs:
                relayout_blocked(s, t, cb, 0)
            s.layout(W).split(0, cb).reorder(0, 2, 3, 4, 1)  # C/cb, 1, KH, KW, cb
        else:
            for t in acts + outs:
                s.layout(t).reorder(0, 2, 3, 1)
            s.layout(W).reorder(1, 2, 3, 0)  # 1, KH, KW, C
        if pad is not None:
            from alt.ops import schedule_stage
            schedule_stage(s, pad)
        T, CC = tile_target(s, conv, epilogue)
        if p["layout"] == "NCHWc":
            n, oo, y, x, oi = T.axis
            yo, yi = T.split(y, factor=p["tile_y"])
            xo, xi = T.split(x, factor=p["tile_x"])
            outer = [n, oo, yo, xo]
        else:
            n, y, x, o = T.axis
            yo, yi = T.split(y, factor=p["tile_y"])
            xo, xi = T.split(x, factor=p["tile_x"])
            oo, oi = T.split(o, factor=cb)
            outer = [n, yo, oo, xo]
        T.reorder(*outer, yi, xi, oi)
        T.vectorize(oi)
        T.parallel(T.fuse(*outer[:p["par_depth"] + 1]))
        s[CC].compute_at(T, xo)
        L = s[CC]
        rc, ry, rx = L.reduce_axis
        if p["layout"] == "NCHWc":
            cn, coo, cy, cx, coi = L.axis
            L.reorder(cn, coo, rc, ry, rx, cy, cx, coi)
        else:
            cn, cy, cx, co = L.axis
            coo, coi = L.split(co, factor=cb)
            L.reorder(cn, coo, rc, ry, rx, cy, cx, coi)
        L.vectorize(coi)
        if p["unroll"]:
            L.unroll(cy)
            L.unroll(cx)
        return s
