"""Search spaces: knobs over an operator's layouts and loops, jointly.

A point is a plain dict {knob: value} (JSON). `Space.apply(point)` replays it into a layout plus a
schedule; an invalid point raises Invalid with the reason, and is never built.

Conv2dSpace is ALT's template for 2-d convolution, plain, dilated, with bias and ReLU, or grouped
(blocks within a group): the layout of activations and weights (NCHW, NHWC, or NCHW{ob}c with
input blocks of ib channels, weights OIHW{ib}i{ob}o, the output optionally tiled spatially as
NCHW{ht}h{wt}w{ob}c), output tiles ht x wt x ot, the input-channel tile, the order of the reduction
loops, unrolling, how many outer loops are fused for parallel work, and where the accumulator tile
is computed; and for a 3x3 stride-1 convolution, the algorithm: direct, or Winograd's F(2x2, 3x3)
or F(4x4, 3x3) (alt.ops.winograd; weights transformed ahead of time) in the same layouts.
search.depthwise.DepthwiseSpace is the depthwise one. GemmSpace tiles a
matrix multiply and may pack B into column panels (a layout of B).

Spaces are per target (alt.Target): channel blocks and column tiles are multiples of its vector
width, and an accumulator tile must fit its vector registers; a point is applied with the target
in effect, so the default schedules inside it read the same machine.
"""
import itertools
import json

import numpy as np

import alt
from alt.errors import AltError
from alt.ops.hand import nchwc_tile_axes, relayout_conv2d, tile_target
from alt.ops.default import rfactor_axis, rfactor_rows, schedule_stage


class Invalid(AltError, ValueError):
    """A point the space cannot build; the message says why."""


class Space:
    """Knobs with their choices; `layout_knobs` are the ones that change data layouts."""
    knobs = {}
    layout_knobs = ()
    added = {}  # knobs a template gained after logs were written: {knob: what a point without it meant}

    def __init__(self, workload, target=None):
        from alt.target import resolve
        self.workload = workload
        self.target = resolve(target)
        self.lanes = self.target.lanes("float32")

    @property
    def loop_knobs(self):
        return tuple(k for k in self.knobs if k not in self.layout_knobs)

    def size(self):
        n = 1
        for v in self.knobs.values():
            n *= len(v)
        return n

    def sample(self, rng, fixed=None):
        """A random valid point (knobs in `fixed` keep their values)."""
        for _ in range(200):
            p = {k: v[rng.integers(len(v))] for k, v in self.knobs.items()}
            p.update(fixed or {})
            if self.check(p) is None:
                return p
        valid = self._valid_points(fixed)  # few valid points (a small operator): draw among them all
        if not valid:
            raise Invalid(f"no valid point of {type(self).__name__} found with {fixed}")
        return dict(valid[rng.integers(len(valid))])

    def _valid_points(self, fixed, limit=500000):
        k = json.dumps(fixed or {}, sort_keys=True)
        cache = self.__dict__.setdefault("_valid", {})
        if k not in cache:
            free = {n: v for n, v in self.knobs.items() if n not in (fixed or {})}
            out = []
            for combo in itertools.islice(itertools.product(*free.values()), limit):
                p = dict(zip(free, combo), **(fixed or {}))
                if self.check(p) is None:
                    out.append(p)
            cache[k] = out
        return cache[k]

    def complete(self, point):
        """`point` with the knobs it predates (`added`) at the values it meant: a logged point keeps
        its meaning when a template gains a knob."""
        return {**{k: v for k, v in self.added.items() if k in self.knobs and k not in point}, **point}

    def neighbor(self, point, rng, knobs=None):
        """Change one knob (among `knobs`, default all) to another value; None if none is valid."""
        point = self.complete(point)
        names = list(knobs or self.knobs)
        for _ in range(50):
            k = names[rng.integers(len(names))]
            choices = [c for c in self.knobs[k] if c != point[k]]
            if not choices:
                continue
            q = dict(point, **{k: choices[rng.integers(len(choices))]})
            if self.check(q) is None:
                return q
        return None

    def check(self, point):
        """None when `point` is valid, else the reason."""
        point = self.complete(point)
        missing = set(self.knobs) - set(point)
        if missing:
            return f"missing knobs {sorted(missing)}"
        for k, v in point.items():
            if k not in self.knobs or v not in self.knobs[k]:
                return f"knob {k}={v!r} is not one of {self.knobs.get(k)}"
        return self._check(point)

    def _check(self, point):
        return None

    def build(self):
        """(input placeholders, output) of a fresh compute definition."""
        return self.workload.build()

    def apply(self, point):
        """(schedule, args) for `point`; raises Invalid."""
        point = self.complete(point)
        why = self.check(point)
        if why:
            raise Invalid(why)
        inputs, out = self.build_point(point)
        with self.target:
            return self._apply(alt.create_schedule(out), out, point), inputs + [out]

    def default_layout(self):
        """The layout knobs of the fixed layout that loop-only tuning keeps."""
        return {}

    def layouts(self, point):
        """(input layout, output layout) of the activations under `point`, in the graph planner's
        names (alt.graph.plan): the layout the operator reads its first input in (None: any, read
        through the access maps or converted by its padding stage) and the one it writes. Both None
        for operators whose layouts are their weights' only (packed once when a network is built)."""
        return None, None

    def schedule_into(self, s, anchor, end, point):
        """Schedule `point` onto a network kernel: `anchor` is this operator's output tensor, `end`
        the end of an elementwise epilogue fused after it (or None); the inputs already have the
        layouts the graph planner gave them."""
        point = self.complete(point)
        why = self.check(point)
        if why:
            raise Invalid(why)
        with self.target:
            self._schedule_into(s, anchor, end, point)
        return s

    def _schedule_into(self, s, anchor, end, p):
        """schedule_into for a checked, completed point: by default, as `apply` schedules it."""
        self._apply(s, end if end is not None else anchor, p)

    def seeds(self):
        """Points the target's hand schedules suggest (valid ones only): model-guided strategies
        measure those matching their fixed knobs first, as TVM starts from a default config."""
        return [p for p in self._seeds() if self.check(p) is None]

    def _seeds(self):
        return []

    def build_point(self, point):
        """(input placeholders, output) of the compute definition `point` schedules (the workload's
        own, unless the point chooses another algorithm for it)."""
        return self.build()

    def prepare(self, point):
        """Per argument of `apply(point)`'s kernel: None, or how the workload's logical input becomes
        the kernel's ([name, *params] for alt.ops.prepare_input: a Winograd kernel reads transformed
        weights)."""
        return None


def _divisors(n, limit=None):
    return [d for d in range(1, (limit or n) + 1) if n % d == 0]


class Conv2dSpace(Space):
    layout_knobs = ("layout", "ob", "ib", "spatial")
    added = {"spatial": 0, "fuse_rx": 0, "winograd": 0}
    # what the direct loop knobs must be at in a Winograd point (its schedule does not read them)
    WINOGRAD_FIXED = {"tile_y": 1, "tile_x": 1, "reduce_order": "c-y-x", "unroll": 0, "par_depth": 1, "attach": 0,
                      "spatial": 0, "fuse_rx": 0}

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

    def default_layout(self):
        """ALT-OL's fixed layout: activations NHWO (NHWC), channel tiles the template's defaults."""
        ib = max([i for i in self.knobs["ib"] if i <= min(8, self.c)] or [1])
        return {"layout": "NHWC", "ob": self.lanes, "ib": ib, "spatial": 0}

    def knobs_for(self, layout):
        """The layout knobs that make this convolution read and write `layout` (a graph planner
        name: NCHW, NHWC, NCHW<b>c, NCHW<h>h[<w>w]<b>c), or None when the template has no such
        layout (fp and bp propagate one operator's layout to its neighbour with this)."""
        from alt.graph.plan import blocked_parts
        if layout == "NHWC":
            fixed = self.default_layout()
        elif layout == "NCHW":
            fixed = {"layout": "NCHW", "ob": 8, "ib": 8, "spatial": 0}
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
                   "ib": None} if layout == "NCHWc" else self.default_layout()
            vectors = lay["ob"] // self.lanes
            rows = conv_tile(self.out_size, target=self.target, vectors=(vectors,))[1]
            ib = lay["ib"] or max([i for i in self.knobs["ib"] if i <= min(lay["ob"], self.c)] or [1])
            tile_x = max([x for x in self.knobs["tile_x"] if x <= rows and self.out_size % x == 0] or [1])
            seed = dict(lay, ib=ib, tile_y=1, tile_x=tile_x, reduce_order="c-y-x", unroll=1, par_depth=2,
                        attach=0, spatial=0, fuse_rx=1)
            if layout == "NHWC":
                seed["reduce_order"] = "y-x-c"
            out.append(seed if self._check(seed) is None else dict(seed, fuse_rx=0))
        if self.winograd_ok:  # the Winograd convolution in each seed's layout, alt.ops.winograd's tile
            from alt.ops.winograd import default_tile
            m = default_tile(self.out_size, self.out_size)
            out += [dict(s, **self.WINOGRAD_FIXED, winograd=m) for s in out]
        return out

    def _check(self, p):
        if p.get("winograd"):
            return self._check_winograd(p)
        if p["layout"] == "NCHWc" and self.o % p["ob"]:
            return f"ob={p['ob']} does not divide the {self.o} output channels"
        if self.groups > 1 and p["layout"] == "NCHWc" and (p["ob"] != self.o // self.groups or
                                                          (self.c // self.groups) % p["ib"]):
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
        if p["tile_x"] > self.out_size or p["tile_y"] > self.out_size:
            return f"tile {p['tile_y']}x{p['tile_x']} is larger than the {self.out_size}x{self.out_size} output"
        if p["spatial"] and (p["layout"] != "NCHWc" or p["tile_y"] == 1):
            return "a spatially tiled output needs layout NCHWc and tiles of more than one row (tile_y > 1)"
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
        return None

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
        if p["layout"] == "NHWC" and (p["ob"], p["ib"]) != (self.lanes, self.default_layout()["ib"]):
            nhwc = self.default_layout()
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


class GemmSpace(Space):
    layout_knobs = ("b_layout", "nb")

    def __init__(self, workload, target=None):
        super().__init__(workload, target)
        self.m, self.n, self.k = workload.params[-3:]  # GMM, DEN (m, n, k); BMM (b, m, n, k)
        columns = [self.lanes * m for m in (1, 2, 3, 4, 8)]  # whole vectors
        self.knobs = {
            "b_layout": ["KN", "packed"],
            "nb": columns,
            "tile_i": [1, 2, 4, 6, 8, 12, 16],
            "tile_j": columns,
            "tile_k": [0, 64, 128, 256],
            "unroll": [0, 1],
            "par_depth": [1, 2],
            "order": ["ij", "ji"],  # ji: column panels outermost, each reused by every row tile
        }

    def default_layout(self):
        return {"b_layout": "KN", "nb": 4 * self.lanes}

    def _seeds(self):
        from alt.ops.hand import gemm_tile
        rows, cols = gemm_tile(self.target)
        loops = {"tile_i": rows, "tile_j": cols, "tile_k": 256 if self.k > 256 else 0, "unroll": 1, "par_depth": 1,
                 "order": "ji"}
        return [dict(loops, b_layout="packed", nb=cols), dict(loops, **self.default_layout())]

    def _check(self, p):
        if p["b_layout"] == "packed" and p["tile_j"] != p["nb"]:
            return f"with B packed in panels of {p['nb']} columns the column tile must be {p['nb']}"
        if p["tile_j"] > max(self.lanes, self.n) or p["tile_i"] > self.m:
            return f"tile {p['tile_i']}x{p['tile_j']} is larger than the {self.m}x{self.n} output"
        if p["tile_k"] and p["tile_k"] >= self.k:
            return f"tile_k={p['tile_k']} does not split k={self.k}"
        regs = p["tile_i"] * p["tile_j"] // self.lanes
        if regs > self.target.registers:
            return f"the accumulator tile needs {regs} vector registers; the target has {self.target.registers}"
        return None

    def _apply(self, s, C, p):
        A, B = C.op.input_tensors
        if p["b_layout"] == "packed":
            v = s.layout(B)
            if self.n % p["nb"]:
                v.pad(1, 0, -self.n % p["nb"])
            v.split(1, p["nb"]).reorder(1, 0, 2)
        return self._tile(s, C, None, p)

    def _tile(self, s, red, end, p):
        """Register-tile the reduction `red` (its elementwise epilogue ending in `end` inlined into
        the tiled loops, if any)."""
        T, CC = tile_target(s, red, end)
        i, j = T.axis
        io, jo, ii, ji = T.tile(i, j, p["tile_i"], p["tile_j"])
        if p["order"] == "ji":
            T.reorder(jo, io, ii, ji)
            io, jo = jo, io
        T.parallel(T.fuse(io, jo) if p["par_depth"] == 2 else io)
        T.vectorize(ji)
        s[CC].compute_at(T, T.leaves[T.leaves.index(ii) - 1])
        L = s[CC]
        ci, cj = L.axis
        (k,) = L.reduce_axis
        if p["tile_k"]:
            ko, ki = L.split(k, factor=p["tile_k"])
            L.reorder(ko, ki, ci, cj)
        else:
            L.reorder(k, ci, cj)
        if p["unroll"]:
            L.unroll(ci)
        L.vectorize(cj)
        return s


class DenseSpace(GemmSpace):
    """dense (X @ W.T + b, alt.ops.dense) as a tiled GEMM: the weight W (n x k) stored transposed
    (KN) or packed into panels of nb columns of W.T; the bias add is an epilogue of the tile.
    In a network the weight's layout is free (it is converted once when the network is built)."""

    def _apply(self, s, out, p):
        return self._schedule(s, out, None, p)

    def _schedule_into(self, s, anchor, end, p):
        self._schedule(s, anchor, end, p)

    def _schedule(self, s, anchor, end, p):
        red = anchor if anchor.op.reduce_axis else anchor.op.input_tensors[0]
        X, W = red.op.input_tensors
        v = s.layout(W)  # logical (n, k)
        if p["b_layout"] == "packed":
            if self.n % p["nb"]:
                v.pad(0, 0, -self.n % p["nb"])
            v.split(0, p["nb"]).reorder(0, 2, 1)  # [n // nb][k][n % nb]
        else:
            v.reorder(1, 0)  # KN
        end = end if end is not None else (anchor if anchor is not red else None)
        return self._tile(s, red, end, p)


class GenericSpace(Space):
    """Any operator: the knobs of alt's default schedule (register tile of reductions, parallel
    fusion, unrolling, padding inlined or not), for 4-d outputs the output's layout, and for
    reductions whose output cannot be vectorized `rfactor` (TVM's): the last reduce axis split so
    that `vectors` vectors of partial results accumulate side by side (times the cores where the
    output has fewer elements than cores, so that the partials also run in parallel), then reduced."""
    layout_knobs = ("out_layout",)
    added = {"rfactor": 0}

    def __init__(self, workload, target=None):
        super().__init__(workload, target)
        _, out = workload.build()
        self.out_shape = out.shape
        layouts = ["default"]
        if len(out.shape) == 4:
            layouts.append("NHWC")
            if out.shape[1] % self.lanes == 0:
                layouts.append(f"NCHW{self.lanes}c")
        self.rank = len(out.shape)
        self.knobs = {"out_layout": layouts, "row_tile": [1, 2, 4, 8], "vectors": [1, 2, 4],
                      "fuse": [1, 2, 3], "unroll": [0, 1], "inline_pad": [0, 1]}
        base = alt.create_schedule(out)
        if any(rfactor_axis(base, st, self.lanes) is not None for st in base.stages):
            self.knobs["rfactor"] = [0, 1]

    def default_layout(self):
        """ALT-OL's fixed layout: NHWC for 4-d outputs, as for convolutions."""
        return {"out_layout": "NHWC" if "NHWC" in self.knobs["out_layout"] else "default"}

    def layouts(self, p):
        if self.rank != 4:
            return None, None
        return None, "NCHW" if p["out_layout"] == "default" else p["out_layout"]

    def _check(self, p):
        if p["row_tile"] * p["vectors"] > self.target.registers:
            return (f"a register tile of {p['row_tile']} x {p['vectors']} vectors needs more than the target's "
                    f"{self.target.registers} registers")
        return None

    def _apply(self, s, out, p):
        self._prepare(s, out, p)
        if p.get("rfactor"):
            rfactor_rows(s, p["vectors"])
        for st in list(s.stages):
            if st.attach is None:
                schedule_stage(s, st, row_tile=p["row_tile"], vectors=p["vectors"], fuse=p["fuse"],
                               unroll=bool(p["unroll"]))
        return s

    @staticmethod
    def _prepare(s, out, p):
        """The output in its layout knob's layout; elementwise intermediates inlined, and the
        padding stages where `inline_pad`."""
        from alt.graph.plan import layout_steps
        if p["out_layout"] != "default":
            view = s.layout(out)
            for verb, *args in layout_steps(p["out_layout"], out.shape):
                getattr(view, verb)(*args)
        for st in list(s.stages):
            if st.op.tag == "injective" and st.tensor is not out:
                st.compute_inline()
            elif st.op.tag == "pad" and p["inline_pad"]:
                st.compute_inline()


SPACES = {"C2D": Conv2dSpace, "DIL": Conv2dSpace, "CBR": Conv2dSpace, "GRP": Conv2dSpace, "GMM": GemmSpace,
          "DEN": DenseSpace}


def space_for(workload, target=None):
    """The search space of a suite workload (alt.ops.Workload) on `target` (default: the current
    one): ALT's conv2d template or the GEMM space where they apply, else the generic space of alt's
    default schedule. On a CUDA target: the GPU space (search.gpu_space) of any operator."""
    from alt.target import resolve
    if resolve(target).kind == "cuda":
        from .gpu_space import GPUGemmSpace, GPUSpace
        gemm = GPUGemmSpace(workload, target) if workload.op in ("GMM", "BMM") else None
        return gemm if gemm is not None and gemm.has_points() else GPUSpace(workload, target)
    if workload.op in SPACES:
        return SPACES[workload.op](workload, target)
    from alt.ops.suite import operator_codes, user_operator
    if workload.op not in operator_codes():
        user_operator(workload.op)  # a user operator "module:function", or a clear error
    return GenericSpace(workload, target)


def enumerate_layouts(space):
    """Every valid combination of the layout knobs (the others at their first valid values)."""
    names = space.layout_knobs
    out = []
    for values in itertools.product(*(space.knobs[k] for k in names)):
        fixed = dict(zip(names, values))
        rest = {k: v for k, v in space.knobs.items() if k not in fixed}
        for combo in itertools.product(*rest.values()):
            p = dict(fixed, **dict(zip(rest, combo)))
            if space.check(p) is None:
                out.append(fixed)
                break
    return out


from .convnd import ConvNdSpace  # noqa: E402 - they build on Space, defined above
from .depthwise import DepthwiseSpace  # noqa: E402

SPACES.update(DEP=DepthwiseSpace, C1D=ConvNdSpace, C3D=ConvNdSpace, T2D=ConvNdSpace)
