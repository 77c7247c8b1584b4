"""Search spaces: knobs over an operator's layouts and loops, jointly.

A point is a plain dict {knob: value} (JSON). `Space.apply(point)` replays it into a layout plus a
schedule; an invalid point raises Invalid with the reason, and is never built. A space says why a
point is invalid in two parts: `check_layout` (conditions on its layout knobs alone, so that a
layout no point can have is dropped without trying its loops) and `_check` (the rest).

search.conv2d.Conv2dSpace is ALT's template for 2-d convolution (plain, dilated, with bias and
ReLU, or grouped), search.depthwise.DepthwiseSpace the depthwise one and search.convnd.ConvNdSpace
the 1-d, 3-d and transposed ones, search.gemm.GemmSpace the matrix multiplies (GEMM, batched GEMM,
dense); GenericSpace (here) gives any other operator the knobs of alt's default schedule.

Spaces are per target (alt.Target): channel blocks and column tiles are multiples of its vector
width, and an accumulator tile must fit its vector registers; a point is applied with the target
in effect, so the default schedules inside it read the same machine.
"""
import itertools
import json

import numpy as np

import alt
from alt.errors import AltError
from alt.ops.default import rfactor_axis, rfactor_rows, row_fusable, row_fused, row_fused_default, schedule_stage


class Invalid(AltError, ValueError):
    """A point the space cannot build; the message says why."""


class Space:
    """Knobs with their choices; `layout_knobs` are the ones that change data layouts."""
    knobs = {}
    layout_knobs = ()
    added = {}  # knobs a template gained after logs were written: {knob: what a point without it meant}
    _definition = None  # (inputs, output) of the workload, built on first use (a space of its own, once set)

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
        """A random valid point (knobs in `fixed` keep their values): every knob drawn uniformly,
        then made canonical. The `leading` knobs are drawn once and kept while the others are drawn
        again until the point is valid, so that how often each value comes up does not depend on
        how many points it leaves valid (an algorithm with few valid points is not favoured)."""
        lead = {k: self.knobs[k][rng.integers(len(self.knobs[k]))] for k in self.leading
                if k in self.knobs and k not in (fixed or {})}
        p = self.draw(rng, dict(lead, **(fixed or {})), 20) or self.draw(rng, fixed, 180)  # then any algorithm
        if p is not None:
            return p
        if any(k not in (fixed or {}) for k in self.layout_knobs):
            # part of a layout fixed (loop-only's, which leaves NHWC's channel tiles free) on a shape with
            # few valid points: draw within one whole layout that has them (enumerate_layouts), as the
            # joint search does; enumerating the rest would stop at `_valid_points`' limit short of them
            whole = [lay for lay in self.whole_layouts() if all(lay.get(k, v) == v for k, v in (fixed or {}).items())]
            for i in rng.permutation(len(whole))[:4]:  # (a fixed loop knob may rule one out)
                try:
                    return self.sample(rng, dict(fixed or {}, **whole[i]))
                except Invalid:
                    continue
        valid = self._valid_points(fixed)  # few valid points (a small operator): draw among them all
        if not valid:
            raise Invalid(f"no valid point of {type(self).__name__} found with {fixed}")
        return dict(valid[rng.integers(len(valid))])

    def draw(self, rng, fixed, tries):
        """A valid point with the knobs in `fixed` at their values, from at most `tries` uniform draws
        of the other knobs (made canonical); None if none of them was valid."""
        for _ in range(tries):
            p = self.canonical({**{k: v[rng.integers(len(v))] for k, v in self.knobs.items()}, **(fixed or {})})
            if all(p[k] == v for k, v in (fixed or {}).items()) and self.check(p) is None:
                return p
        return None

    def algorithms(self, rng, fixed=None, tries=20):
        """{(knob, value): a valid point with it} for the values of the `leading` knobs (the
        algorithm) that valid points with the knobs in `fixed` can have: a value counts once one of
        `tries` draws with it (as sample() draws) was valid, and that draw is its point. R18-4's
        Winograd tiles exist only in a sixth of its layouts."""
        out = {}
        for k in self.leading:
            for v in self.knobs.get(k, ()) if k not in (fixed or {}) else ():
                p = self.draw(rng, {**(fixed or {}), k: v}, tries)
                if p is not None:
                    out[(k, v)] = p
        return out

    def whole_layouts(self):
        """enumerate_layouts(self), made once per space (the strategies and sample share it; read only)."""
        if "_whole_layouts" not in self.__dict__:
            self._whole_layouts = enumerate_layouts(self)
        return self._whole_layouts

    def memory_layout(self, point):
        """The layout knobs of `point` (a point or a layout) that lay some tensor out under its other
        values. A knob that lays nothing out there (an NHWC convolution's channel tiles: they tile
        loops over channels that are contiguous anyway) is left out: the search takes layouts that
        differ only in such knobs for one memory layout and tunes those knobs with the loops.
        Here: every layout knob."""
        return {k: point[k] for k in self.layout_knobs if k in point}

    def memory_order(self, layout):
        """The part of `layout` that orders dimensions in memory (NCHWc, NHWC; a packed B), without
        its block sizes: its knobs whose choices are names, not numbers. Layouts that differ only in
        block sizes are one memory order (C1D-0: 15 NCc layouts and channels last)."""
        return {k: v for k, v in layout.items() if k in self.knobs and all(isinstance(c, str) for c in self.knobs[k])}

    def memory_layouts(self):
        """The distinct memory layouts (memory_layout) of whole_layouts(), in their order: the
        layouts the joint search chooses among (made once per space; read only)."""
        if "_memory_layouts" not in self.__dict__:
            distinct = {json.dumps(m, sort_keys=True): m for m in map(self.memory_layout, self.whole_layouts())}
            self._memory_layouts = list(distinct.values())
        return self._memory_layouts

    def free_knobs(self, layout):
        """The knobs a search tunes under the fixed `layout`: every knob it does not fix."""
        return tuple(k for k in self.knobs if k not in layout)

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

    leading = ()  # knobs sample() draws first and keeps (see sample)

    def canonical(self, point):
        """`point` with the knobs its other knobs make irrelevant at the values a valid point has
        there (a Winograd convolution's direct loop knobs, search.conv2d): so that random draws and
        single-knob moves reach such points at all. Here: every knob counts."""
        return point

    def neighbor(self, point, rng, knobs=None):
        """Change one knob (among `knobs`, default all) to another value, and make the point
        canonical (knobs outside `knobs` keep their values); None if no such point is valid."""
        point = self.complete(point)
        names = list(knobs or self.knobs)
        for _ in range(50):
            k = names[rng.integers(len(names))]
            choices = [c for c in self.knobs[k] if c != point[k]]
            if not choices:
                continue
            q = self.canonical(dict(point, **{k: choices[rng.integers(len(choices))]}))
            if q == point or any(q[x] != point[x] for x in q if x not in names):
                continue
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
        return self.check_layout({k: point[k] for k in self.layout_knobs}) or self._check(point)

    def check_layout(self, layout):
        """None when some point may have these layout knobs, else the reason no point can: the
        conditions of `check` that read only layout knobs, so that a layout is rejected without
        trying its loop points (enumerate_layouts)."""
        return None

    def _check(self, point):
        """The conditions on a whole point (after `check_layout`)."""
        return None

    def build(self):
        """(input placeholders, output) of the workload's compute definition, built once a space:
        tensors and operations do not change once made (a schedule changes its own stages, and
        lowering keeps what it makes to itself), so every point's schedule starts from the same one;
        building it anew took a fifth of applying a point."""
        if self._definition is None:
            self._definition = self.workload.build()
        inputs, out = self._definition
        return list(inputs), out

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

    def relayouts(self, point):
        """The operator's inputs (indices) that `point` lays out itself, beyond what the graph
        planner gives them: fine for a weight (packed once when a network is built), wrong for an
        activation, which its producer writes in the planned layout."""
        return ()

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


class GenericSpace(Space):
    """Any operator: the knobs of alt's default schedule (register tile of reductions, parallel
    fusion, unrolling, padding inlined or not), for 4-d outputs the output's layout (and whether
    the activation inputs are read in it too: `inputs`), and for
    reductions whose output cannot be vectorized `rfactor` (TVM's): the last reduce axis split so
    that `vectors` vectors of partial results accumulate side by side (times the cores where the
    output has fewer elements than cores, so that the partials also run in parallel), then reduced;
    and for softmax, layer norm and the like (alt.ops.default.row_fusable) `row_fused`: every stage
    computed inside the output's parallel tile of `row_tile` rows (alt.ops.default.row_fused)."""
    layout_knobs = ("out_layout",)
    added = {"rfactor": 0, "inputs": "default", "row_fused": 0}
    ROW_FUSED_FIXED = {"rfactor": 0, "fuse": 1, "unroll": 0, "inline_pad": 0}  # knobs a row-fused point ignores

    def __init__(self, workload, target=None):
        super().__init__(workload, target)
        inputs, out = workload.build()
        self.out_shape = out.shape
        layouts = ["default"]
        if len(out.shape) == 4:
            layouts.append("NHWC")
            if out.shape[1] % self.lanes == 0:
                layouts.append(f"NCHW{self.lanes}c")
        self.rank = len(out.shape)
        self.knobs = {"out_layout": layouts, "row_tile": [1, 2, 4, 8], "vectors": [1, 2, 4],
                      "fuse": [1, 2, 3], "unroll": [0, 1], "inline_pad": [0, 1]}
        if len(layouts) > 1 and any(self._activation(t, out) for t in inputs):
            # the activations read in the output's layout too, as a network in that layout has them
            # ("NHWC everywhere" for loop-only); else a 4-d elementwise op in NHWC is a transpose
            self.knobs["inputs"] = ["default", "as_output"]
            self.layout_knobs = ("out_layout", "inputs")
        base = alt.create_schedule(out)
        if any(rfactor_axis(base, st, self.lanes) is not None for st in base.stages):
            self.knobs["rfactor"] = [0, 1]
        if row_fusable(base, out):
            self.knobs["row_fused"] = [0, 1]
            with self.target:
                self.default_row_tile = row_fused_default(out)  # (row_tile, vectors) of alt's default schedule

    def canonical(self, p):
        """A row-fused point with the knobs row_fused ignores at fixed values."""
        if p.get("row_fused"):
            return {**p, **{k: v for k, v in self.ROW_FUSED_FIXED.items() if k in self.knobs}}
        return p

    def _seeds(self):
        """Where the output can be row-fused: alt's default schedule (row_fused_default's tile) and
        tiles of 4 rows (softmax's and layer norm's hand schedule)."""
        if "row_fused" not in self.knobs:
            return []
        first = {k: v[0] for k, v in self.knobs.items()}
        tiles = dict.fromkeys([self.default_row_tile, (4, 1), (4, 2)])
        return [self.canonical(dict(first, row_fused=1, row_tile=t, vectors=v)) for t, v in tiles]

    @staticmethod
    def _activation(t, out):
        """Is input `t` an activation of 4-d output `out` (N and C the output's), laid out with it?"""
        return len(t.shape) == 4 and len(out.shape) == 4 and tuple(t.shape[:2]) == tuple(out.shape[:2])

    def default_layout(self):
        """ALT-OL's fixed layout: NHWC for 4-d outputs, as for convolutions, and for their
        activation inputs."""
        if "NHWC" not in self.knobs["out_layout"]:
            return {"out_layout": "default"}
        return {"out_layout": "NHWC", **({"inputs": "as_output"} if "inputs" in self.knobs else {})}

    def layouts(self, p):
        if self.rank != 4:
            return None, None
        lay = "NCHW" if p["out_layout"] == "default" else p["out_layout"]
        return (lay if self.complete(p).get("inputs") == "as_output" else None), lay

    def check_layout(self, p):
        if p.get("inputs") == "as_output" and p["out_layout"] == "default":
            return "inputs=as_output lays the inputs out like the output; with out_layout=default, give inputs=default"
        return None

    def _check(self, p):
        if p.get("row_fused"):
            fixed = {k: v for k, v in self.ROW_FUSED_FIXED.items() if k in self.knobs and p[k] != v}
            if fixed or p["out_layout"] != "default":
                return (f"a row-fused point ignores {sorted(fixed)}; give them {self.ROW_FUSED_FIXED}" if fixed else
                        "row_fused computes in the output's default layout; give out_layout=default")
            return None
        if p["row_tile"] * p["vectors"] > self.target.registers:
            return (f"a register tile of {p['row_tile']} x {p['vectors']} vectors needs more than the target's "
                    f"{self.target.registers} registers")
        return None

    def _apply(self, s, out, p):
        if p.get("inputs") == "as_output":  # standalone: the inputs are the placeholders
            from alt.graph.plan import lay_out
            for t in s.inputs:
                if self._activation(t, out):
                    lay_out(s.layout(t), p["out_layout"], t.shape)
        return self._schedule(s, out, p)

    def _schedule_into(self, s, anchor, end, p):
        return self._schedule(s, end if end is not None else anchor, p)  # the planner laid the inputs out

    def _schedule(self, s, out, p):
        if p.get("row_fused") and row_fusable(s, out):  # in a network kernel with other stages: the plain way
            return row_fused(s, out, p["row_tile"], p["vectors"])
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
        from alt.graph.plan import lay_out
        if p["out_layout"] != "default":
            lay_out(s.layout(out), p["out_layout"], out.shape)
        for st in list(s.stages):
            if st.op.tag == "injective" and st.tensor is not out:
                st.compute_inline()
            elif st.op.tag == "pad" and p["inline_pad"]:
                st.compute_inline()


SPACES = {}


def space_for(workload, target=None):
    """The search space of a suite workload (alt.ops.Workload) on `target` (default: the current
    one): ALT's template of its operator family where it has one, else the generic space of alt's
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
    """Every combination of the layout knobs that some valid canonical point has (in the knobs'
    order): a layout that only points `canonical` rewrites have (an unpacked B's panel width) is no
    layout of its own, and random draws could never reach it."""
    names = space.layout_knobs
    rng = np.random.default_rng(0)  # a few draws find most layouts' points long before a scan would

    def has(fixed, combo):
        p = space.canonical(dict(fixed, **combo))
        return all(p[k] == v for k, v in fixed.items()) and space.check(p) is None

    out = []
    for values in itertools.product(*(space.knobs[k] for k in names)):
        fixed = dict(zip(names, values))
        if space.check_layout(fixed) is not None:
            continue  # no point has it: rejected without trying its loop points
        rest = {k: v for k, v in space.knobs.items() if k not in fixed}
        draws = ({k: v[rng.integers(len(v))] for k, v in rest.items()} for _ in range(64))
        if any(has(fixed, combo) for combo in draws) or \
                any(has(fixed, dict(zip(rest, combo))) for combo in itertools.product(*rest.values())):
            out.append(fixed)
    return out


from .conv2d import Conv2dSpace  # noqa: E402 - they build on Space, defined above
from .gemm import DenseSpace, GemmSpace  # noqa: E402
from .convnd import ConvNdSpace  # noqa: E402
from .depthwise import DepthwiseSpace  # noqa: E402

SPACES.update(GMM=GemmSpace, BMM=GemmSpace, DEN=DenseSpace, C2D=Conv2dSpace, DIL=Conv2dSpace, CBR=Conv2dSpace,
              GRP=Conv2dSpace, DEP=DepthwiseSpace, C1D=ConvNdSpace, C3D=ConvNdSpace, T2D=ConvNdSpace)
