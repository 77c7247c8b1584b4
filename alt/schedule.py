"""Schedules: loop primitives on the stages of a compute graph, recorded as replayable steps.

Every public primitive builds a step (alt.steps) and applies it through `Schedule.apply`, the
same path that `Schedule.from_json` replays, so a schedule and its JSON cannot drift apart.

Non-dividing splits are handled by guards: the loop of a split keeps ceil(extent / factor)
iterations and lowering bounds the innermost loop that determines the original index with
min(factor, remaining) (an `if` where the index is not of that simple form).
"""
import json
import numbers

from . import steps as S
from .errors import ScheduleError
from .layout import Layout
from .expr import IterVar, Read, Reduce, all_, identity, position, select, substitute, transform
from .tensor import ComputeOp, PlaceholderOp, Tensor

JSON_VERSION = 1
ANNOTATIONS = ("vectorize", "unroll", "parallel")
PRAGMAS = {"unroll": "an unroll count >= 1", "ivdep": "no value", "simd": "no value"}
MAX_UNROLL = 65534  # gcc's limit for `#pragma GCC unroll`


def _not_bound(st, v, verb):
    from .cuda_target import BLOCK_TAGS, THREAD_TAGS
    if st.annotations.get(v) in BLOCK_TAGS + THREAD_TAGS:
        raise ScheduleError(f"{verb} on stage {st.name!r}: loop {v.name!r} is bound to {st.annotations[v]}; "
                            f"{verb} it before binding")


def loop_marks(kind, pragmas):
    """(OpenMP marks, gcc pragmas, unroll counts) of a loop with annotation `kind` and `pragmas`."""
    keys = [k for k, _ in pragmas]
    omp = ([kind] if kind in ("parallel", "vectorize") else []) + [k for k in keys if k == "simd"]
    gcc = (["unroll"] if kind == "unroll" else []) + [k for k in keys if k in ("unroll", "ivdep")]
    return omp, gcc, [v for k, v in pragmas if k == "unroll"]


def check_loop_marks(where, name, kind, pragmas, extent):
    """Refuse marks on one loop that gcc would reject: an OpenMP loop (parallel, vectorize, simd)
    takes no second OpenMP mark and no gcc pragma ('for statement expected'), and gcc unrolls at
    most MAX_UNROLL iterations. `where` names the step for the message."""
    omp, gcc, counts = loop_marks(kind, pragmas)
    if len(omp) > 1 or (omp and gcc):
        marks = " and ".join(omp + gcc)
        raise ScheduleError(f"{where}: loop {name!r} would be marked {marks}; a parallel, vectorized or simd loop "
                            "takes no other mark (gcc rejects the pragmas together); drop one")
    if kind == "unroll":
        counts = counts + [extent]
    if len(counts) > 1:
        raise ScheduleError(f"{where}: loop {name!r} would get two unroll counts {counts}; give one")
    if counts and counts[0] > MAX_UNROLL:
        raise ScheduleError(f"{where}: unrolling loop {name!r} {counts[0]} times; gcc unrolls at most {MAX_UNROLL}; "
                            "split the loop and unroll the inner part")


class Stage:
    """The loop nest that computes one tensor, and what the schedule did to it."""

    def __init__(self, schedule, tensor, op):
        self.schedule, self.tensor, self.op, self.name = schedule, tensor, op, op.name
        self.scope = "global"
        self.attach = None  # None (root), "inline", or (target Stage, IterVar)
        self.cache = self.cache_of = None  # cache_write: the local stage of this one / the stage it caches
        self.axis = list(op.axis)  # spatial root loops: the physical dimensions of the output
        self._reset_axes()

    @property
    def reduce_axis(self):
        return list(self.op.reduce_axis)

    def _reset_axes(self):
        self.root_vars = list(self.axis) + list(self.op.reduce_axis)
        self.leaves = list(self.root_vars)
        self.vars = {v.name: v for v in self.root_vars}
        self.relations = []  # ("split", parent, outer, inner, factor, nparts) | ("fuse", parts, fused)
        self.annotations = {}  # IterVar -> kind
        self.pragmas = {}  # IterVar -> [(key, value)]

    def __repr__(self):
        return f"Stage({self.name!r}, leaves=[{', '.join(v.name for v in self.leaves)}])"

    @property
    def is_reduction(self):
        return isinstance(self.op.body, Reduce)

    @property
    def is_scheduled(self):
        return bool(self.relations or self.annotations or self.pragmas or self.leaves != self.root_vars)

    # primitives (public API) ---------------------------------------------------------
    def split(self, axis, factor=None, nparts=None):
        """Split `axis` into (outer, inner) loops named `<axis>.outer`, `<axis>.inner`."""
        self.schedule.apply(S.Split(self.name, self._name(axis), factor, nparts))
        return self.relations[-1][2:4]

    def tile(self, x, y, x_factor, y_factor):
        """Split x and y and order the loops x.outer, y.outer, x.inner, y.inner."""
        xo, xi = self.split(x, factor=x_factor)
        yo, yi = self.split(y, factor=y_factor)
        self.reorder(xo, yo, xi, yi)
        return xo, yo, xi, yi

    def reorder(self, *axes):
        """Put the given leaf loops in this order, in the positions they occupy now."""
        self.schedule.apply(S.Reorder(self.name, tuple(self._name(a) for a in axes)))

    def fuse(self, *axes):
        """Fuse adjacent leaf loops (outer first) into one loop named `a.b.fused`."""
        self.schedule.apply(S.Fuse(self.name, tuple(self._name(a) for a in axes)))
        return self.relations[-1][2]

    def vectorize(self, axis):
        self.schedule.apply(S.Annotate(self.name, self._name(axis), "vectorize"))

    def unroll(self, axis):
        self.schedule.apply(S.Annotate(self.name, self._name(axis), "unroll"))

    def parallel(self, axis):
        self.schedule.apply(S.Annotate(self.name, self._name(axis), "parallel"))

    def bind(self, axis, tag):
        """Run loop `axis` as the GPU's block or thread index `tag` ('blockIdx.x', 'threadIdx.y',
        ...): one block or thread per iteration (a CUDA target's kernels need every root stage bound)."""
        self.schedule.apply(S.Bind(self.name, self._name(axis), tag))

    def pragma(self, axis, key, value=None):
        """Loop pragmas: 'unroll' n (partial unroll), 'ivdep', 'simd'."""
        self.schedule.apply(S.Pragma(self.name, self._name(axis), key, value))

    def compute_at(self, target, axis):
        """Compute this stage inside loop `axis` of `target`, only the region that loop needs.
        `target` reads this stage, or every stage that reads it is computed inside `target` first
        (softmax's row maximum, read by its exponentials and its sum, computed in the output's row
        tile); the region is what all of them read in one iteration of the loop."""
        if isinstance(target, Tensor):
            target = self.schedule[target]
        if not isinstance(target, Stage):
            raise ScheduleError(f"compute_at of stage {self.name!r}: target {target!r} is not a stage; pass s[T]")
        self.schedule.apply(S.ComputeAt(self.name, target.name, target._name(axis)))

    def compute_inline(self):
        """Substitute this stage's expression into every consumer; it gets no loops or buffer."""
        self.schedule.apply(S.ComputeInline(self.name))

    def compute_root(self):
        """Undo compute_at / compute_inline: compute the whole tensor at the top level."""
        self.schedule.apply(S.ComputeRoot(self.name))

    # helpers --------------------------------------------------------------------------
    def _name(self, axis):
        """Check that `axis` is one of this stage's loops and return its name."""
        if not isinstance(axis, IterVar):
            raise ScheduleError(f"stage {self.name!r}: {axis!r} is not an axis; pass an IterVar such as "
                                f"{self.name}.axis[0] or one returned by split/fuse")
        if self.vars.get(axis.name) is not axis:
            owner = self.schedule._owner(axis)
            where = f"belongs to stage {owner.name!r}" if owner else "belongs to no stage of this schedule"
            raise ScheduleError(f"stage {self.name!r}: axis {axis.name!r} {where}, not to {self.name!r}; "
                                f"its axes are [{', '.join(self.vars)}]")
        return axis.name

    def _leaf(self, name, verb):
        v = self.vars.get(name)
        if v is None:
            raise ScheduleError(f"{verb} on stage {self.name!r}: no axis named {name!r}; "
                                f"its axes are [{', '.join(self.vars)}]")
        if position(self.leaves, v) is None:
            raise ScheduleError(f"{verb} on stage {self.name!r}: axis {name!r} was already split or fused; "
                                f"use one of the current loops [{', '.join(x.name for x in self.leaves)}]")
        return v

    def _new_var(self, name, extent, kind):
        while name in self.vars:
            name += "_"
        v = IterVar(name, extent, kind)
        self.vars[name] = v
        return v


class Schedule:
    """The stages of a compute graph in producer-before-consumer order, and the steps applied."""

    def __init__(self, outputs):
        if isinstance(outputs, Tensor):
            outputs = [outputs]
        outputs = list(outputs)
        for t in outputs:
            if not isinstance(t, Tensor) or not isinstance(t.op, ComputeOp):
                raise ScheduleError(f"create_schedule: {t!r} is not a computed tensor; pass outputs of alt.compute")
        self.outputs = outputs
        self.steps = []
        self.stages = []
        self.layouts = {}  # id(tensor) -> Layout, where not the identity
        self._by_tensor = {}
        self.inputs = []
        names = {}
        for t in topo_order(outputs):
            other = names.setdefault(t.name, t)
            if other is not t:
                raise ScheduleError(f"create_schedule: two different tensors are named {t.name!r}; "
                                    "give every tensor of the graph its own name")
            if isinstance(t.op, PlaceholderOp):
                self.inputs.append(t)
            else:
                stage = Stage(self, t, t.op)
                self.stages.append(stage)
                self._by_tensor[id(t)] = stage

    def __getitem__(self, t):
        if isinstance(t, Stage):
            return t
        if isinstance(t, Tensor):
            st = self._by_tensor.get(id(t))
            if st is not None:
                return st
            if isinstance(t.op, PlaceholderOp):
                raise ScheduleError(f"tensor {t.name!r} is a placeholder (an input); it has no stage to schedule")
        raise ScheduleError(f"{t!r} is not a tensor of this schedule; its stages are "
                            f"[{', '.join(s.name for s in self.stages)}]")

    def stage(self, name):
        for st in self.stages:
            if st.name == name:
                return st
        raise ScheduleError(f"schedule has no stage named {name!r}; its stages are "
                            f"[{', '.join(s.name for s in self.stages)}]")

    def _owner(self, var):
        for st in self.stages:
            if st.vars.get(var.name) is var:
                return st
        return None

    def cache_write(self, tensor, scope="local"):
        """Compute `tensor` into a new local buffer `<name>.local`; the old stage copies it out."""
        st = self[tensor]
        self.apply(S.CacheWrite(st.name, scope))
        return self.stage(f"{st.name}.{scope}").tensor

    def rfactor(self, tensor, axis, factor):
        """TVM's rfactor: reduce axis `axis` (a name or an IterVar of the reduction computing
        `tensor`) becomes k = outer * factor + inner; a new stage `<name>.rf` computes, for every
        inner index, the partial result over the outer part (inner is its last, spatial axis: it
        vectorizes or parallelizes, which a reduction axis cannot), and `tensor`'s stage then
        reduces those `factor` partials. A factor that does not divide the extent pads the last
        partials with the reduction's identity. Returns the .rf tensor. Comes before any other
        primitive on the stage."""
        st = self[tensor]
        name = axis.name if isinstance(axis, IterVar) else axis
        self.apply(S.RFactor(st.name, name, factor))
        return self.stage(f"{st.name}.rf").tensor

    def cache_read(self, tensor, scope, readers):
        """A copy of `tensor` in `scope` ('shared') that the stages `readers` read instead; returns
        the copy's tensor. Compute it at a loop of a reader (compute_at) and bind its loops to the
        block's threads to fetch it together; barriers go around it (TVM's cache_read)."""
        if not isinstance(tensor, Tensor):
            raise ScheduleError(f"cache_read: {tensor!r} is not a tensor of this schedule")
        names = [self[r].name for r in (readers if isinstance(readers, (list, tuple)) else [readers])]
        self.apply(S.CacheRead(tensor.name, scope, tuple(names)))
        return self.stage(f"{tensor.name}.{scope}").tensor

    # the single path for every step ----------------------------------------------------------
    def apply(self, step):
        st = self.stage(step.stage) if hasattr(step, "stage") else None
        getattr(self, "_apply_" + type(step).__name__)(st, step)
        self.steps.append(step)

    def layout(self, tensor):
        """The layout primitives of `tensor` (a placeholder or a computed tensor), chainable:
        s.layout(Y).split(1, 16).reorder(0, 1, 3, 4, 2)."""
        if not isinstance(tensor, Tensor) or not (id(tensor) in self._by_tensor or
                                                  any(tensor is t for t in self.inputs)):
            raise ScheduleError(f"layout: {tensor!r} is not a tensor of this schedule")
        return LayoutView(self, tensor)

    def layout_of(self, tensor):
        """The current Layout of `tensor` (the identity unless layout primitives were applied)."""
        return self.layouts.get(id(tensor)) or Layout(tensor.shape, _dim_names(tensor), what=repr(tensor.name))

    def _tensor(self, name):
        for t in self.inputs + [st.tensor for st in self.stages]:
            if t.name == name:
                return t
        raise ScheduleError(f"layout: schedule has no tensor named {name!r}")

    def _apply_Layout(self, _, step):
        t = self._tensor(step.tensor)
        st = self._by_tensor.get(id(t))
        if st is not None:
            if st.is_scheduled:
                raise ScheduleError(f"layout {step.verb} of {t.name!r} must come before loop primitives on its stage "
                                    "(the loops follow the layout)")
            if st.attach is not None:
                raise ScheduleError(f"layout {step.verb} of {t.name!r}: the stage is computed "
                                    f"{'inline' if st.attach == 'inline' else 'at another stage'}; only tensors "
                                    "computed at root have a layout of their own")
        new = self.layout_of(t)._with(step.verb, *step.args)
        self.layouts[id(t)] = new
        if st is not None:
            st.axis = [IterVar(n, e, "spatial") for n, e in zip(new.names, new.shape)]
            st._reset_axes()

    def _apply_Split(self, st, step):
        v = st._leaf(step.axis, "split")
        _not_bound(st, v, "split")
        if (step.factor is None) == (step.nparts is None):
            raise ScheduleError(f"split of {st.name}.{v.name}: give exactly one of factor= or nparts=")
        n = step.factor if step.factor is not None else step.nparts
        which = "factor" if step.factor is not None else "nparts"
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ScheduleError(f"split of {st.name}.{v.name}: {which}={n!r} must be an integer >= 1")
        if step.factor is not None:
            outer_ext, inner_ext = -(-v.extent // n), n
        else:
            outer_ext, inner_ext = n, -(-v.extent // n)
        outer = st._new_var(f"{v.name}.outer", outer_ext, v.kind)
        inner = st._new_var(f"{v.name}.inner", inner_ext, v.kind)
        i = position(st.leaves, v)
        st.leaves[i:i + 1] = [outer, inner]
        st.relations.append(("split", v, outer, inner, step.factor, step.nparts))

    def _check_marks(self, st, step, leaves=None, annotations=None, pragmas=None):
        """The loop marks of stage `st` as they would be after `step` (proposed leaves, annotations
        or pragmas), checked before the step changes anything."""
        leaves = st.leaves if leaves is None else leaves
        annotations = st.annotations if annotations is None else annotations
        pragmas = st.pragmas if pragmas is None else pragmas
        where = f"{type(step).__name__.lower()} on stage {st.name!r}"
        simd = None
        for v in leaves:
            kind, prs = annotations.get(v), pragmas.get(v, [])
            if kind is None and not prs:  # an unmarked loop: nothing to check
                continue
            check_loop_marks(where, v.name, kind, prs, v.extent)
            omp = loop_marks(kind, prs)[0]
            if "parallel" in omp and simd is not None:
                raise ScheduleError(f"{where}: parallel loop {v.name!r} would be inside the simd loop "
                                    f"{simd.name!r}; an OpenMP parallel loop cannot be nested in a simd loop")
            if simd is None and omp and "parallel" not in omp:
                simd = v

    def _apply_Reorder(self, st, step):
        vs = [st._leaf(n, "reorder") for n in step.axes]
        if len(set(step.axes)) != len(step.axes):
            dup = sorted({n for n in step.axes if step.axes.count(n) > 1})
            raise ScheduleError(f"reorder of stage {st.name!r}: axis {dup[0]!r} is given twice in {list(step.axes)}")
        pos = sorted(position(st.leaves, v) for v in vs)
        leaves = list(st.leaves)
        for p, v in zip(pos, vs):
            leaves[p] = v
        self._check_marks(st, step, leaves=leaves)
        st.leaves[:] = leaves

    def _apply_Fuse(self, st, step):
        if len(step.axes) < 2:
            raise ScheduleError(f"fuse on stage {st.name!r} needs at least two axes, got {list(step.axes)}")
        vs = [st._leaf(n, "fuse") for n in step.axes]
        for v in vs:
            _not_bound(st, v, "fuse")
        pos = [position(st.leaves, v) for v in vs]
        if pos != list(range(pos[0], pos[0] + len(vs))):
            raise ScheduleError(f"fuse on stage {st.name!r}: axes {list(step.axes)} must be adjacent loops "
                                f"given outer to inner; the loop order is [{', '.join(v.name for v in st.leaves)}]")
        kinds = {v.kind for v in vs}
        if len(kinds) > 1:
            raise ScheduleError(f"fuse on stage {st.name!r}: cannot fuse reduction and spatial axes {list(step.axes)}")
        ext = 1
        for v in vs:
            ext *= v.extent
        fused = st._new_var(".".join(step.axes) + ".fused", ext, vs[0].kind)
        st.leaves[pos[0]:pos[-1] + 1] = [fused]
        st.relations.append(("fuse", tuple(vs), fused))

    def _apply_Annotate(self, st, step):
        v = st._leaf(step.axis, step.kind)
        if step.kind not in ANNOTATIONS:
            raise ScheduleError(f"annotation {step.kind!r} on {st.name}.{v.name} is not one of {ANNOTATIONS}")
        if v.kind == "reduce" and step.kind in ("vectorize", "parallel"):
            raise ScheduleError(f"{step.kind} on stage {st.name!r}: axis {v.name!r} is a reduction axis; "
                                f"{step.kind} a spatial axis instead (or rfactor the reduction)")
        old = st.annotations.get(v)
        if old is not None and old != step.kind:
            raise ScheduleError(f"{step.kind} on {st.name}.{v.name}: the loop is already marked {old}")
        self._check_marks(st, step, annotations={**st.annotations, v: step.kind})
        st.annotations[v] = step.kind

    def _apply_Bind(self, st, step):
        from .cuda_target import BLOCK_TAGS, MAX_BLOCK, MAX_GRID, MAX_THREADS, THREAD_TAGS
        v = st._leaf(step.axis, "bind")
        where = f"bind of {st.name}.{v.name} to {step.tag!r}"
        if step.tag not in BLOCK_TAGS + THREAD_TAGS:
            raise ScheduleError(f"{where}: the tag is not one of {', '.join(BLOCK_TAGS + THREAD_TAGS)}")
        if v.kind == "reduce":
            raise ScheduleError(f"{where}: {v.name!r} is a reduction axis; threads over a reduction need a plan "
                                "to combine their partial results (rfactor), which bind does not make; bind a "
                                "spatial axis and keep the reduction inside each thread")
        cooperative = st.scope == "shared" and step.tag in THREAD_TAGS  # the block's threads fetch it together
        if st.attach is not None and not cooperative:
            raise ScheduleError(f"{where}: the stage is computed {'inline' if st.attach == 'inline' else 'at another'}"
                                "; only stages computed at root are launched on the grid (a shared copy's loops "
                                "may be bound to the block's threads)")
        if st.annotations.get(v) is not None or st.pragmas.get(v):
            raise ScheduleError(f"{where}: the loop is already marked "
                                f"{st.annotations.get(v) or st.pragmas[v][0][0]}; a bound loop takes no other mark")
        bound = {t: x for x, t in st.annotations.items() if t in BLOCK_TAGS + THREAD_TAGS and x in st.leaves}
        if step.tag in bound:
            raise ScheduleError(f"{where}: loop {bound[step.tag].name!r} of the stage is already bound to it; "
                                "use another tag (x, y, z)")
        limit = {**MAX_GRID, **MAX_BLOCK}[step.tag]
        if v.extent > limit:
            raise ScheduleError(f"{where}: the loop has {v.extent} iterations; CUDA allows at most {limit} along "
                                f"{step.tag}; split it first")
        threads = v.extent if step.tag in THREAD_TAGS else 1
        for t, x in bound.items():
            threads *= x.extent if t in THREAD_TAGS else 1
        if threads > MAX_THREADS:
            raise ScheduleError(f"{where}: the block would have {threads} threads; CUDA allows at most {MAX_THREADS}; "
                                "split the thread loops smaller")
        st.annotations[v] = step.tag

    def _apply_Pragma(self, st, step):
        v = st._leaf(step.axis, "pragma")
        _not_bound(st, v, "pragma")
        if step.key not in PRAGMAS:
            raise ScheduleError(f"pragma on {st.name}.{v.name}: key {step.key!r} is not one of {sorted(PRAGMAS)}")
        want_int = step.key == "unroll"
        ok = (isinstance(step.value, numbers.Integral) and not isinstance(step.value, bool) and step.value >= 1) \
            if want_int else step.value is None
        if not ok:
            raise ScheduleError(f"pragma {step.key!r} on {st.name}.{v.name}: value {step.value!r} is wrong; "
                                f"expected {PRAGMAS[step.key]}")
        self._check_marks(st, step, pragmas={**st.pragmas, v: st.pragmas.get(v, []) + [(step.key, step.value)]})
        st.pragmas.setdefault(v, []).append((step.key, step.value))

    def _apply_ComputeAt(self, st, step):
        target = self.stage(step.target)
        v = target._leaf(step.axis, "compute_at")
        self._check_movable(st, "compute_at")
        if target is st:
            raise ScheduleError(f"compute_at: stage {st.name!r} cannot be computed inside itself")
        readers = self.readers(st.tensor)
        stray = [r for r in readers if r is not target and not self._inside(r, target)]
        if target not in readers and (stray or not readers):
            names = [r.name for r in readers] or ["(none)"]
            raise ScheduleError(f"compute_at of {st.name!r} to stage {target.name!r}: {target.name!r} does not "
                                f"read {st.name!r}, and its readers [{', '.join(names)}] are not all computed "
                                f"inside {target.name!r}")
        if stray:  # a tile computed inside target's loop exists only there: every reader must be inside too
            raise ScheduleError(f"compute_at of {st.name!r} to stage {target.name!r}: it is also read by "
                                f"[{', '.join(r.name for r in stray)}], which {'is' if len(stray) == 1 else 'are'} "
                                f"not computed inside {target.name!r}; compute_at those inside {target.name!r} "
                                f"first, or compute {st.name!r} at root")
        t = target
        while isinstance(t.attach, tuple):
            if t.attach[0] is st:
                raise ScheduleError(f"compute_at of {st.name!r} to {target.name!r} makes a cycle: "
                                    f"{target.name!r} is already computed inside {st.name!r}")
            t = t.attach[0]
        st.attach = (target, v)

    @staticmethod
    def _inside(st, target):
        """Is stage `st` computed inside `target` (at one of its loops, or inside a stage that is)?"""
        while isinstance(st.attach, tuple):
            st = st.attach[0]
            if st is target:
                return True
        return False

    def _apply_ComputeInline(self, st, step):
        self._check_movable(st, "compute_inline")
        if st.is_reduction:
            raise ScheduleError(f"compute_inline of {st.name!r}: it is a reduction; only elementwise stages "
                                "can be inlined (use compute_at instead)")
        for other in self.stages:
            if isinstance(other.attach, tuple) and other.attach[0] is st:
                raise ScheduleError(f"compute_inline of {st.name!r}: stage {other.name!r} is computed at it; "
                                    "move that stage first")
        st.attach = "inline"

    def _apply_ComputeRoot(self, st, step):
        st.attach = None

    def _apply_CacheWrite(self, st, step):
        if step.scope != "local":
            raise ScheduleError(f"cache_write of {st.name!r}: scope {step.scope!r} is not supported; use 'local'")
        if st.is_scheduled or st.attach is not None:
            raise ScheduleError(f"cache_write of {st.name!r} must come before any other primitive on it")
        if st.cache is not None:
            raise ScheduleError(f"cache_write of {st.name!r}: it already writes through the cache stage "
                                f"{st.cache.name!r}; schedule that stage instead of caching twice")
        if st.cache_of is not None:
            raise ScheduleError(f"cache_write of {st.name!r}: it is itself the cache stage of {st.cache_of.name!r}")
        new_name = f"{st.name}.{step.scope}"
        clash = [t for t in self.inputs + [x.tensor for x in self.stages] if t.name == new_name]
        if clash:
            raise ScheduleError(f"cache_write of {st.name!r}: the cache stage would be named {new_name!r}, but the "
                                "graph already has a tensor of that name; rename that tensor")
        op = st.op
        lay = self.layouts.get(id(st.tensor))
        if lay is None:
            fresh = [IterVar(f"{a.name}.c", a.extent, "spatial") for a in op.axis]
            body = substitute(op.body, dict(zip(op.axis, fresh)))
        else:
            # a re-laid output: the local tile is laid out like the output's physical dimensions
            fresh = [IterVar(f"{a.name}.c", a.extent, "spatial") for a in st.axis]
            logical, conds = lay.inverse(fresh)
            body = substitute(op.body, dict(zip(op.axis, logical)))
            if conds:
                guard = all_(*conds)
                if isinstance(body, Reduce):
                    body = Reduce(body.combiner, select(guard, body.source, identity(body.combiner, body.dtype)),
                                  body.axes)
                else:
                    body = select(guard, body, 0)
        local_op = ComputeOp(f"{st.name}.{step.scope}", fresh, body, op.tag)
        local = Tensor([a.extent for a in fresh], st.tensor.dtype, local_op.name, local_op)
        cache = Stage(self, local, local_op)
        cache.scope = step.scope
        cache.cache_of, st.cache = st, cache
        index = tuple(op.axis) if lay is None else tuple(lay.forward(op.axis))
        st.op = ComputeOp(op.name, op.axis, local[index], op.tag)
        st._reset_axes()
        self.stages.insert(self.stages.index(st), cache)
        self._by_tensor[id(local)] = cache

    def _apply_RFactor(self, st, step):
        what = f"rfactor of {st.name!r}"
        if not st.is_reduction:
            raise ScheduleError(f"{what}: it is not a reduction; rfactor splits a reduce axis")
        if st.is_scheduled or st.attach is not None or st.cache is not None or st.cache_of is not None:
            raise ScheduleError(f"{what} must come before any other primitive on it (cache_write included)")
        if id(st.tensor) in self.layouts:
            raise ScheduleError(f"{what}: its output has a layout of its own; rfactor before laying it out")
        op, red = st.op, st.op.body
        k = next((a for a in red.axes if a.name == step.axis), None)
        if k is None:
            raise ScheduleError(f"{what}: {step.axis!r} is not one of its reduce axes {[a.name for a in red.axes]}")
        f = step.factor
        if not isinstance(f, numbers.Integral) or isinstance(f, bool) or not 2 <= f <= k.extent:
            raise ScheduleError(f"{what}: factor {f!r} must be a whole number from 2 to the extent {k.extent} of "
                                f"{k.name!r}")
        name = f"{st.name}.rf"
        if any(t.name == name for t in self.inputs + [x.tensor for x in self.stages]):
            raise ScheduleError(f"{what}: the partial stage would be named {name!r}, which the graph already has")
        outer = IterVar(f"{k.name}.outer", -(-k.extent // f), "reduce")
        inner = IterVar(f"{k.name}.inner", f, "spatial")
        axes = [IterVar(a.name, a.extent, "spatial") for a in op.axis]
        others = [IterVar(a.name, a.extent, "reduce") for a in red.axes if a is not k]
        mapping = dict(zip(op.axis, axes))
        mapping.update((a, b) for a, b in zip([a for a in red.axes if a is not k], others))
        index = outer * f + inner
        mapping[k] = index
        source = substitute(red.source, mapping)
        if k.extent % f:
            source = select(index < k.extent, source, identity(red.combiner, red.dtype))
        rf_op = ComputeOp(name, axes + [inner], Reduce(red.combiner, source, [outer] + others), op.tag)
        rf = Tensor([a.extent for a in rf_op.axis], st.tensor.dtype, name, rf_op)
        rf_stage = Stage(self, rf, rf_op)
        last = IterVar(f"{k.name}.inner", f, "reduce")
        st.op = ComputeOp(op.name, op.axis, Reduce(red.combiner, rf[tuple(op.axis) + (last,)], [last]), op.tag)
        st._reset_axes()
        self.stages.insert(self.stages.index(st), rf_stage)
        self._by_tensor[id(rf)] = rf_stage

    def _apply_CacheRead(self, _, step):
        if step.scope != "shared":
            raise ScheduleError(f"cache_read of {step.tensor!r}: scope {step.scope!r} is not supported; use 'shared' "
                                "(a local copy is cache_write's job)")
        t = self._tensor(step.tensor)
        if not step.readers:
            raise ScheduleError(f"cache_read of {t.name!r}: give the stages that read it through the cache")
        readers = [self.stage(n) for n in step.readers]
        for r in readers:
            if not any(x is t for x in r.op.input_tensors):
                raise ScheduleError(f"cache_read of {t.name!r}: stage {r.name!r} does not read it; its inputs are "
                                    f"[{', '.join(x.name for x in r.op.input_tensors)}]")
        name = f"{t.name}.{step.scope}"
        if any(x.name == name for x in self.inputs + [st.tensor for st in self.stages]):
            raise ScheduleError(f"cache_read of {t.name!r}: the copy would be named {name!r}, which the graph "
                                "already has; cache it once and give every reader")
        axes = [IterVar(f"ax{d}", n, "spatial") for d, n in enumerate(t.shape)]
        op = ComputeOp(name, axes, t[tuple(axes)], "cache")
        copy = Tensor(t.shape, t.dtype, name, op)
        st = Stage(self, copy, op)
        st.scope = step.scope
        for r in readers:
            body = transform(r.op.body, lambda e: Read(copy, e.indices) if isinstance(e, Read) and e.tensor is t
                             else None)
            r.op = ComputeOp(r.op.name, r.op.axis, body, r.op.tag)
        self.stages.insert(min(self.stages.index(r) for r in readers), st)
        self._by_tensor[id(copy)] = st

    def _check_movable(self, st, verb):
        if any(st.tensor is t for t in self.outputs):
            raise ScheduleError(f"{verb} of {st.name!r}: it is an output of the schedule and must be "
                                "computed at root")
        if id(st.tensor) in self.layouts and verb != "compute_inline":  # an inlined tensor has no memory
            raise ScheduleError(f"{verb} of {st.name!r}: it has a layout of its own ({self.layouts[id(st.tensor)]}); "
                                "only tensors computed at root can be re-laid")

    # graph queries ----------------------------------------------------------------------------
    def readers(self, tensor):
        """Stages that read `tensor`, looking through inlined stages."""
        out = []
        for st in self.stages:
            if st.attach == "inline":
                continue
            if _reads(self, st.op, tensor, set()):
                out.append(st)
        return out

    # JSON -------------------------------------------------------------------------------------
    def to_json(self):
        return json.dumps({"version": JSON_VERSION, "steps": [S.to_dict(s) for s in self.steps]})

    @classmethod
    def from_json(cls, text, outputs):
        """Replay a schedule saved by to_json onto (a fresh copy of) its compute definition."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as e:
            raise ScheduleError(f"Schedule.from_json: not valid JSON ({e})") from None
        if not isinstance(data, dict) or data.get("version") != JSON_VERSION or not isinstance(data.get("steps"), list):
            raise ScheduleError(f"Schedule.from_json: expected {{'version': {JSON_VERSION}, 'steps': [...]}}, "
                                f"got {str(data)[:80]!r}")
        s = cls(outputs)
        for d in data["steps"]:
            s.apply(S.from_dict(d))
        return s


class LayoutView:
    """Layout primitives of one tensor, recorded as schedule steps; each returns the view."""

    def __init__(self, schedule, tensor):
        self.schedule, self.tensor = schedule, tensor

    def _do(self, verb, *args):
        self.schedule.apply(S.Layout(self.tensor.name, verb, tuple(args)))
        return self

    def split(self, dim, factor):
        return self._do("split", dim, factor)

    def reorder(self, *dims):
        return self._do("reorder", *dims)

    def fuse(self, d0, d1):
        return self._do("fuse", d0, d1)

    def unfold(self, dim, size, stride):
        return self._do("unfold", dim, size, stride)

    def pad(self, dim, before, after):
        return self._do("pad", dim, before, after)

    @property
    def current(self):
        return self.schedule.layout_of(self.tensor)

    @property
    def shape(self):
        return self.current.shape

    def __repr__(self):
        return repr(self.current)


def _dim_names(t):
    return [a.name for a in t.op.axis] if isinstance(t.op, ComputeOp) else [f"d{i}" for i in range(t.ndim)]


def _reads(sch, op, tensor, seen):
    for t in op.input_tensors:
        if t is tensor:
            return True
        st = sch._by_tensor.get(id(t))
        if st is not None and st.attach == "inline" and id(t) not in seen:
            seen.add(id(t))
            if _reads(sch, st.op, tensor, seen):
                return True
    return False


def topo_order(outputs):
    """Tensors reachable from `outputs`, producers first."""
    order, seen = [], set()

    def visit(t):
        if id(t) in seen:
            return
        seen.add(id(t))
        for u in t.op.input_tensors:
            visit(u)
        order.append(t)

    for t in outputs:
        visit(t)
    return order


def create_schedule(outputs):
    """A schedule with every stage at root and its loops in definition order."""
    return Schedule(outputs)
