"""Lowering: a schedule becomes one loop nest over buffers (alt.stmt).

Per stage: extents of every loop follow from the root extents through the split/fuse
relations; root indices are rebuilt from the loop counters; inlined stages are substituted;
stages computed at a loop get the region their consumer reads there (bound inference by
symbolic intervals) in a stack buffer; reductions get an init nest before their first
reduction loop.
"""

from . import arith
from . import expr as E
from .errors import BuildError, ScheduleError
from .expr import Read, Reduce, position, substitute, transform, uses, walk
from .cuda_target import THREAD_TAGS
from .stmt import Allocate, Barrier, Block, Buffer, For, If, Load, LoweredFunc, Store
from .tensor import PlaceholderOp, Tensor
from .lower_checks import check_lowered

STACK_LIMIT = 512 * 1024  # bytes of one local tile; larger ones belong on an inner loop


def lower(sch, args, name="main"):
    """Lower schedule `sch` to a loop nest whose arguments are the tensors `args`, in order."""
    with arith.session():
        return _Lowerer(sch, args, name).run()


class _Lowerer:
    def __init__(self, sch, args, name):
        self.sch, self.name = sch, name
        self.args = _check_args(sch, args)
        self.buffers = {}  # id(tensor) -> Buffer
        self.region = {}  # id(tensor) -> [lo expr per dim] for stack tiles
        self.ranges = {}  # loop Var -> (0, extent - 1)
        self.temps = []
        self.enclosing = set()  # names of the loop variables around the stage being lowered
        self.threads = {}  # loop Var -> extent, of the thread-bound loops around the stage being lowered

    def run(self):
        for t in self.args:
            self.buffers[id(t)] = Buffer(t.name, self.sch.layout_of(t).shape, t.dtype, "arg")
        body = []
        for st in self.sch.stages:
            if st.attach is None and st.scope == "shared":
                raise BuildError(f"stage {st.name!r} is a shared-memory copy computed at root; compute it at a loop "
                                 "of its reader inside the block (compute_at)")
            if st.attach is None:
                shape = self.sch.layout_of(st.tensor).shape
                if id(st.tensor) not in self.buffers:
                    buf = Buffer(st.name, shape, st.tensor.dtype, "heap")
                    self.buffers[id(st.tensor)] = buf
                    self.temps.append(buf)
                body.append(self._stage(st, [E.Const(0, "int32")] * len(shape), list(shape)))
        func = LoweredFunc(self.name, [self.buffers[id(t)] for t in self.args],
                           _merge_barriers(_unswitch(Block(body))), self.temps)
        check_lowered(func.body)
        return func

    # one stage -----------------------------------------------------------------------------
    def _stage(self, st, offsets, extents):
        ext = {}
        for v, e in zip(st.axis, extents):
            ext[v] = e
        for v in st.op.reduce_axis:
            ext[v] = v.extent
        for rel in st.relations:
            if rel[0] == "split":
                _, parent, outer, inner, factor, nparts = rel
                p = ext[parent]
                if factor is not None:
                    ext[inner] = min(factor, p)
                    ext[outer] = arith.ceil_div(p, ext[inner])
                else:
                    ext[outer] = min(nparts, p)
                    ext[inner] = arith.ceil_div(p, ext[outer])
            else:
                _, parts, fused = rel
                n = 1
                for v in parts:
                    n *= ext[v]
                ext[fused] = n
        leaves = st.leaves
        loopvar = {}
        for v in leaves:
            name, n = v.name, 1
            while name in self.enclosing:  # a stage computed inside another: keep printed names unambiguous
                name, n = f"{v.name}.{n}", n + 1
            lv = E.Var(name)
            loopvar[v] = lv
            self.ranges[lv] = (0, ext[v] - 1)
        rel_val = _root_values(st, {v: loopvar[v] for v in leaves}, ext)

        # guards: (lhs, upper) meaning lhs < upper
        guards = []
        # every derived index must stay inside its own extent, not only the roots: a split of a
        # split's inner loop can otherwise visit one root index twice
        for v in [x for x in rel_val if x not in loopvar]:
            b = arith.bounds(rel_val[v], self.ranges)
            if b is None or b[1] >= ext[v]:
                guards.append((rel_val[v], ext[v]))
        phys = []
        for d, v in enumerate(st.axis):
            at_zero = isinstance(offsets[d], E.Const) and offsets[d].value == 0
            g = arith.simplify(rel_val[v] if at_zero else offsets[d] + rel_val[v])
            phys.append(g)
            if not at_zero:
                b = arith.bounds(g, self.ranges)
                if b is None or b[1] >= st.tensor.shape[d]:
                    guards.append((g, st.tensor.shape[d]))
                if b is None or b[0] < 0:
                    guards.append((arith.simplify(0 - g), 1))
        # the loops follow the physical layout; the compute definition sees logical indices
        logical, valid = self.sch.layout_of(st.tensor).inverse(phys)
        coord = dict(zip(st.op.axis, logical))
        for v in st.op.reduce_axis:
            coord[v] = rel_val[v]
        valid = arith.simplify(E.all_(*valid)) if valid else None

        # loops, each with its bounds, ifs and the stages computed at it
        loops = []
        for pos, v in enumerate(leaves):
            kind = st.annotations.get(v, "serial")
            loops.append({"leaf": v, "var": loopvar[v], "ext": ext[v], "kind": kind, "bounds": [],
                          "ifs": [], "attached": [], "pragmas": st.pragmas.get(v, [])})
        outer_ifs = []
        for lhs, upper in guards:
            inside = {id(e) for e in walk(lhs) if isinstance(e, E.Var)}  # the innermost loop the guard reads
            pos = max((i for i, v in enumerate(leaves) if id(loopvar[v]) in inside), default=-1)
            if pos < 0:
                outer_ifs.append(E.Compare("<", lhs, E.Const(upper, "int32")))
                continue
            lv = loopvar[leaves[pos]]
            terms, c = arith.linear(lhs)
            key = ("v", id(lv))
            coef = terms.get(key, (None, 0))[1]
            rest = {k: t for k, t in terms.items() if k != key}
            if coef == 1 and not any(uses(a, lv) for a, _ in rest.values()):
                loops[pos]["bounds"].append(arith.simplify(E.Const(upper, "int32") - arith.from_linear(rest, c)))
            else:
                loops[pos]["ifs"].append(E.Compare("<", lhs, E.Const(upper, "int32")))

        body_expr = self._expand(st.op.body)
        outer_names = set(self.enclosing)
        self.enclosing |= {lv.name for lv in loopvar.values()}
        for other in self.sch.stages:
            if isinstance(other.attach, tuple) and other.attach[0] is st:
                target_leaf = other.attach[1]
                pos = position(leaves, target_leaf)
                if pos is None:
                    raise ScheduleError(f"stage {other.name!r} is computed at {st.name}.{target_leaf.name}, which was "
                                        f"split or fused afterwards; attach it to one of "
                                        f"[{', '.join(v.name for v in leaves)}]")
                loops[pos]["attached"].extend(self._attached(other, st, body_expr, leaves, loops, pos, ext, offsets))
        self.enclosing = outer_names

        out = self.buffers[id(st.tensor)]
        store_idx = [arith.simplify(rel_val[v]) for v in st.axis]
        first_reduce = next((i for i, v in enumerate(leaves) if v.kind == "reduce"), len(leaves))
        self._check_vectorize(st, loops)
        if isinstance(body_expr, Reduce):
            src = self._to_loads(substitute(body_expr.source, coord))
            acc = Load(out, store_idx)
            update = Store(out, store_idx, E.Binary(body_expr.combiner, acc, src, src.dtype)
                           if body_expr.combiner != "sum" else E.Binary("+", acc, src, src.dtype))
            if valid is not None:  # padding of a re-laid output: keep the zero of the init
                update = If(valid, update)
            init_value = E.const(E.identity(body_expr.combiner, out.dtype), out.dtype)
            if valid is not None:
                init_value = E.Select(valid, init_value, E.const(0, out.dtype))
            init = Store(out, store_idx, init_value)
            inner = _nest(loops[first_reduce:], update)
            init_nest = _nest([lp for lp in loops[first_reduce:] if lp["leaf"].kind != "reduce"], init,
                              with_attached=False)
            body = _nest(loops[:first_reduce], Block([init_nest, inner]))
        else:
            value = substitute(body_expr, coord)
            if valid is not None:  # padding of a re-laid output holds zeros
                value = E.Select(valid, value, E.const(0, value.dtype))
            body = _nest(loops, Store(out, store_idx, self._to_loads(value)))
        if outer_ifs:
            body = If(E.Logical("and", outer_ifs) if len(outer_ifs) > 1 else outer_ifs[0], body)
        return body

    def _attached(self, child, st, body_expr, leaves, loops, pos, ext, offsets):
        """Bound inference for `child` computed at loop `pos` of `st`, then its nest."""
        env = {}
        for i, v in enumerate(leaves):
            env[v] = arith.Interval(loops[i]["var"]) if i <= pos else \
                arith.Interval(E.Const(0, "int32"), E.Const(ext[v] - 1, "int32"))
        root_iv = _root_intervals(st, env, ext)
        for d, v in enumerate(st.axis):
            iv = root_iv[v]
            root_iv[v] = arith.Interval(arith.simplify(offsets[d] + iv.lo)) if iv.is_point else \
                arith.Interval(arith.simplify(offsets[d] + iv.lo), arith.simplify(offsets[d] + iv.hi))
        lay = self.sch.layout_of(st.tensor)
        if not lay.is_identity:  # intervals of the logical indices the body is written in
            logical, _ = lay.inverse(st.axis)
            for v, e in zip(st.op.axis, logical):
                root_iv[v] = arith.interval(e, root_iv, self.ranges) or arith.Interval(
                    E.Const(0, "int32"), E.Const(v.extent - 1, "int32"))
        reads = [e for e in walk(body_expr) if isinstance(e, Read) and e.tensor is child.tensor]
        shared = child.scope == "shared"
        threads = dict(self.threads)
        threads.update({loops[i]["var"]: loops[i]["ext"] for i in range(pos + 1) if loops[i]["kind"] in THREAD_TAGS})
        # the other readers of `child`, computed inside this loop too (softmax's sum and output both
        # read the row maximum): the region covers what each of them reads here
        others = [(idx, env) for r in self.sch.readers(child.tensor) if r is not st
                  for idx, env in self._reads_inside(child, r, st, leaves, pos, body_expr, root_iv)]
        if not reads and not others:
            raise ScheduleError(f"stage {child.name!r} is computed at {st.name!r}, which does not read it")
        # shared: one copy for the whole block, the region every thread of it reads
        los, exts = self._region([(r.indices, root_iv) for r in reads] + others, child.tensor.shape,
                                 threads if shared else None)
        buf = Buffer(child.name, exts, child.tensor.dtype, "shared" if shared else "stack")
        nbytes = buf.size * E.dtypes.to_numpy(buf.dtype).itemsize
        if shared:  # the limit is the target's, checked with the launch (codegen.grid)
            self.buffers[id(child.tensor)] = buf
            self.region[id(child.tensor)] = los
            outer, self.threads = self.threads, threads
            nest = self._stage(child, los, exts)
            self.threads = outer
            # before: no thread overwrites what another still reads; after: all of it is there
            return [Allocate(buf), Barrier(), nest, Barrier()]
        if nbytes > STACK_LIMIT:
            raise BuildError(f"stage {child.name!r} computed at {st.name}.{leaves[pos].name} needs a local tile of "
                             f"{exts} ({nbytes // 1024} KiB, limit {STACK_LIMIT // 1024} KiB); "
                             "compute it at an inner loop")
        self.buffers[id(child.tensor)] = buf
        self.region[id(child.tensor)] = los
        outer, self.threads = self.threads, threads
        nest = self._stage(child, los, exts)
        self.threads = outer
        return [Allocate(buf), nest]

    def _reads_inside(self, child, reader, st, leaves, pos, body_expr, root_iv):
        """(indices, intervals of the reader's axes) of each read of `child` by `reader`, a stage
        computed inside loop `pos` of `st` (directly or inside another stage computed there), over
        one iteration of that loop. A reader computed anywhere else is an error: `child` exists
        only inside the loop."""
        if self.sch.stages.index(reader) < self.sch.stages.index(child):
            raise BuildError(f"stage {child.name!r} is computed at {st.name}.{leaves[pos].name} after its reader "
                             f"{reader.name!r}")
        env = self._axes_inside(reader, st, leaves, pos, body_expr, root_iv, child)
        return [(r.indices, env) for r in walk(self._expand(reader.op.body))
                if isinstance(r, Read) and r.tensor is child.tensor]

    def _axes_inside(self, r, st, leaves, pos, body_expr, root_iv, child):
        """Intervals of stage r's axes (its reduce axes whole) over one iteration of loop `pos` of
        `st`: what its readers read of it there (the region its own compute_at computes)."""
        where = r.attach if isinstance(r.attach, tuple) else None
        outside = position(leaves, where[1]) if where is not None and where[0] is st else None
        if where is None or (outside is not None and outside < pos):
            at = "at root" if r.attach is None else "inline" if where is None else f"at {where[0].name}.{where[1].name}"
            raise BuildError(f"stage {child.name!r} is computed at {st.name}.{leaves[pos].name}, but its reader "
                             f"{r.name!r} is computed {at}; compute {r.name!r} inside that loop too, or "
                             f"{child.name!r} at root")
        reads = [(e.indices, root_iv) for e in walk(body_expr) if isinstance(e, Read) and e.tensor is r.tensor]
        for q in self.sch.readers(r.tensor):
            if q is not st:
                reads += self._reads_inside(r, q, st, leaves, pos, body_expr, root_iv)
        out = {}
        for v, lo, n in zip(r.op.axis, *self._region(reads, r.tensor.shape)):
            out[v] = arith.Interval(lo, arith.simplify(lo + E.Const(n - 1, "int32"))) if n > 1 else arith.Interval(lo)
        for v in r.op.reduce_axis:
            out[v] = arith.Interval(E.Const(0, "int32"), E.Const(v.extent - 1, "int32"))
        return out

    def _region(self, reads, shape, threads=None):
        """(offsets, extents) per dimension covering every read: `reads` are (indices, intervals of
        their variables) pairs; with `threads` ({Var: extent}), over every thread of a block too.
        A dimension no read bounds is whole."""
        los, exts = [], []
        for d, full in enumerate(shape):
            ivs = [arith.interval(idx[d], env, self.ranges) for idx, env in reads] or [None]
            if threads is not None:
                ivs = [_relax(iv, threads) for iv in ivs]
            lo, n = _union(ivs, full)
            los.append(lo)
            exts.append(n)
        return los, exts

    # expressions ------------------------------------------------------------------------------
    def _expand(self, e):
        """Substitute inlined stages into `e`."""
        def fn(node):
            if isinstance(node, Read):
                st = self.sch._by_tensor.get(id(node.tensor))
                if st is not None and st.attach == "inline":
                    return self._expand(substitute(st.op.body, dict(zip(st.op.axis, node.indices))))
            return None
        return transform(e, fn, keep=E.LEAVES)

    def _to_loads(self, e):
        def fn(node):
            if isinstance(node, Read):
                buf = self.buffers.get(id(node.tensor))
                if buf is None:
                    raise BuildError(f"tensor {node.tensor.name!r} is read before it is computed; "
                                     "is it computed at a stage that does not enclose its reader?")
                lo = self.region.get(id(node.tensor))
                if lo is not None:
                    idx = [i - l for i, l in zip(node.indices, lo)]
                else:
                    idx = self.sch.layout_of(node.tensor).forward(
                        [arith.simplify_ranges(i, self.ranges) for i in node.indices], self.ranges)
                return Load(buf, [arith.simplify_ranges(i, self.ranges) for i in idx])
            return None
        return arith.simplify(transform(e, fn, keep=E.LEAVES))

    def _check_vectorize(self, st, loops):
        for i, lp in enumerate(loops):
            if lp["kind"] != "vectorize":
                continue
            inner = [x["leaf"].name for x in loops[i + 1:]]
            if inner or lp["attached"]:
                what = f"loops [{', '.join(inner)}] are inside it" if inner else "a stage is computed at it"
                raise ScheduleError(f"vectorize on stage {st.name!r}: loop {lp['leaf'].name!r} must be the innermost "
                                    f"loop, but {what}; reorder it innermost")


def _root_values(st, val, ext):
    """Express every root axis (relative to its region) through the leaf loop variables."""
    val = dict(val)
    for rel in reversed(st.relations):
        if rel[0] == "split":
            _, parent, outer, inner = rel[:4]
            val[parent] = arith.simplify(val[outer] * ext[inner] + val[inner])
        else:
            _, parts, fused = rel
            val.update(_root_values_fuse(parts, val[fused], ext))
    return val


def _root_intervals(st, env, ext):
    env = dict(env)
    for rel in reversed(st.relations):
        if rel[0] == "split":
            _, parent, outer, inner = rel[:4]
            o, i = env[outer], env[inner]
            k = E.Const(ext[inner], "int32")
            if o.is_point and i.is_point:
                env[parent] = arith.Interval(arith.simplify(o.lo * k + i.lo))
            else:
                env[parent] = arith.Interval(arith.simplify(o.lo * k + i.lo), arith.simplify(o.hi * k + i.hi))
        else:
            _, parts, fused = rel
            if env[fused].is_point:
                vals = _root_values_fuse(parts, env[fused].lo, ext)
                for v in parts:
                    env[v] = arith.Interval(vals[v])
            else:
                for v in parts:
                    env[v] = arith.Interval(E.Const(0, "int32"), E.Const(ext[v] - 1, "int32"))
    return env


def _root_values_fuse(parts, f, ext):
    vals = {}
    for v in reversed(parts[1:]):
        vals[v] = arith.simplify(f % ext[v])
        f = f // ext[v]
    vals[parts[0]] = arith.simplify(f)
    return vals


def _merge_barriers(s):
    """Drop a barrier that follows another with nothing but allocations between (two shared copies
    computed at one loop meet once between them, not twice)."""
    if isinstance(s, Block):
        out, last = [], None
        for x in s.stmts:
            x = _merge_barriers(x)
            if isinstance(x, Barrier) and isinstance(last, Barrier):
                continue
            out.append(x)
            if not isinstance(x, Allocate):
                last = x
        return Block(out)
    if isinstance(s, For):
        return For(s.var, s.extent, s.kind, _merge_barriers(s.body), s.bounds, s.pragmas)
    if isinstance(s, If):
        return If(s.cond, _merge_barriers(s.body))
    return s


def _relax(iv, threads):
    """Interval `iv` over every value of the thread loop variables in `threads` {Var: extent}."""
    if iv is None:
        return None
    env = {v: arith.Interval(E.Const(0, "int32"), E.Const(n - 1, "int32")) for v, n in threads.items()}
    lo, hi = arith.interval(iv.lo, env), arith.interval(iv.hi, env)
    return None if lo is None or hi is None else arith.Interval(lo.lo, hi.hi)


def _union(ivs, full):
    """(lo, extent) covering all intervals, or the whole dimension when that is tighter or unknown."""
    whole = (E.Const(0, "int32"), full)
    if any(iv is None for iv in ivs):
        return whole
    lo, hi = ivs[0].lo, ivs[0].hi
    for iv in ivs[1:]:
        dl, dh = arith.const_diff(iv.lo, lo), arith.const_diff(iv.hi, hi)
        if dl is None or dh is None:
            return whole
        lo = iv.lo if dl < 0 else lo
        hi = iv.hi if dh > 0 else hi
    n = arith.const_diff(hi, lo)
    if n is None or n + 1 >= full:
        return whole
    return lo, n + 1


def _nest(loops, body, with_attached=True):
    for lp in reversed(loops):
        inner = [body] if not with_attached else lp["attached"] + [body]
        body = Block(inner) if len(inner) > 1 else inner[0]
        if lp["ifs"]:
            body = If(E.Logical("and", lp["ifs"]) if len(lp["ifs"]) > 1 else lp["ifs"][0], body)
        body = For(lp["var"], lp["ext"], lp["kind"], body, lp["bounds"], lp["pragmas"])
    return body


def _invariant_select(value, var):
    """The one outermost select of `value` whose condition does not change with `var` (a select
    chain counts once), or None where there is none or several side by side (unswitching those
    would multiply the loops)."""
    found, stack = [], [value]
    while stack:
        e = stack.pop()
        if isinstance(e, E.Select) and not uses(e.cond, var):
            found.append(e)
            continue
        stack.extend(e.children())
    return found[0] if len(found) == 1 else None


def _replace_once(value, old, new):
    """`value` with the one occurrence of node `old` (by identity) replaced by `new`: only the nodes
    on the way down to it are rebuilt (a transform would rebuild the whole value, once per arm of a
    long select chain)."""
    parent, stack = {}, [value]
    while stack:
        e = stack.pop()
        if e is old:
            break
        for i, c in enumerate(e.children()):
            if id(c) not in parent:
                parent[id(c)] = (e, i)
                stack.append(c)
    node, out = old, new
    while node is not value:
        up, i = parent[id(node)]
        kids = list(up.children())
        kids[i] = out
        node, out = up, up.rebuild(tuple(kids))
    return out


def _unswitch(s):
    """A vectorized loop storing f(select(c, a, b)) where c does not change inside the loop becomes
    if (c) loop storing f(a); if (!c) loop storing f(b): no branch left in the vector loop (gcc does
    not vectorize one that calls exp or tanh, and evaluates every arm of a select chain it does not
    fold, such as a Winograd transform's positions under a fused batch norm). A chain of selects
    unswitches into one loop per arm; a value with several unrelated such selects stays as it is."""
    if isinstance(s, Block):
        return Block([_unswitch(x) for x in s.stmts])
    if isinstance(s, If):
        return If(s.cond, _unswitch(s.body))
    if not isinstance(s, For):
        return s
    st = s.body
    sel = _invariant_select(st.value, s.var) if s.kind == "vectorize" and isinstance(st, Store) else None
    if sel is not None:
        def arm(side):
            value = _replace_once(st.value, sel, side)
            return _unswitch(For(s.var, s.extent, s.kind, Store(st.buffer, st.indices, value), s.bounds, s.pragmas))
        return Block([If(sel.cond, arm(sel.t)), If(E.logical("not", sel.cond), arm(sel.f))])
    return For(s.var, s.extent, s.kind, _unswitch(s.body), s.bounds, s.pragmas)


def _check_args(sch, args):
    if isinstance(args, Tensor):
        args = [args]
    args = list(args)
    seen = set()
    for t in args:
        if not isinstance(t, Tensor):
            raise BuildError(f"build/lower args: {t!r} is not a tensor; pass the placeholders and outputs")
        if id(t) in seen:
            raise BuildError(f"build/lower args: tensor {t.name!r} is listed twice")
        seen.add(id(t))
        if isinstance(t.op, PlaceholderOp):
            if not any(t is x for x in sch.inputs):
                raise BuildError(f"build/lower args: placeholder {t.name!r} is not read by this schedule")
        else:
            st = sch._by_tensor.get(id(t))
            if st is None or st.tensor is not t:
                raise BuildError(f"build/lower args: tensor {t.name!r} is not computed by this schedule")
            if st.attach is not None:
                raise BuildError(f"build/lower args: tensor {t.name!r} is an argument but is computed "
                                 f"{'inline' if st.attach == 'inline' else 'at another stage'}; "
                                 "arguments are computed at root")
    for t in sch.inputs:
        if id(t) not in seen and sch.readers(t):
            raise BuildError(f"build/lower args: placeholder {t.name!r} is read by "
                             f"{sch.readers(t)[0].name!r} but is not in args "
                             f"[{', '.join(x.name for x in args)}]")
    for t in sch.outputs:
        if id(t) not in seen:
            raise BuildError(f"build/lower args: output {t.name!r} is not in args "
                             f"[{', '.join(x.name for x in args)}]")
    return args
