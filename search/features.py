"""Features of a candidate, read off its lowered program (in the spirit of Ansor's).

For every store statement (one per stage update): the loops around it (extent, annotation) for the
innermost LEVELS levels; for up to BUFFERS buffers it touches: the stride of the innermost loop in
elements, the bytes touched inside each of the innermost levels, and their reuse; then the
arithmetic intensity, the parallel work and the size of local tiles. Statements are weighted by
their trip counts and summed, so every candidate gives a vector of the same length.
"""
import math

import numpy as np

from alt import arith
from alt import expr as E
from alt import stmt as S

LEVELS = 6
BUFFERS = 4
KINDS = ("serial", "parallel", "vectorize", "unroll")
# a GPU's blocks are its parallel loop, a warp's threads its vector lanes
GPU_KINDS = {**{f"blockIdx.{a}": "parallel" for a in "xyz"}, **{f"threadIdx.{a}": "vectorize" for a in "xyz"}}
PER_LEVEL = 1 + len(KINDS)
PER_BUFFER = 2 + LEVELS
GLOBAL = 6
LENGTH = LEVELS * PER_LEVEL + BUFFERS * PER_BUFFER + GLOBAL


def _log(x):
    return math.log2(1.0 + max(0.0, x))


def _walk(s, loops, out):
    if isinstance(s, S.For):
        _walk(s.body, loops + [s], out)
    elif isinstance(s, S.Block):
        for x in s.stmts:
            _walk(x, loops, out)
    elif isinstance(s, S.If):
        _walk(s.body, loops, out)
    elif isinstance(s, S.Store):
        out.append((s, loops))


def _tally(value):
    """(operations, loads) of an expression counted as its tree lists them (a node shared by several
    parents, as inlining and Winograd's select chains make them, once per parent), computed once per
    shared node: the operations (Binary and Call nodes) in all, and for each buffer size the first
    BUFFERS loads of buffers of that size in walk order (parents first)."""
    done = {}

    def go(e):
        hit = done.get(id(e))
        if hit is not None:
            return hit[1]
        ops = 1 if isinstance(e, (E.Binary, E.Call)) else 0
        first = {e.buffer.size: [e]} if isinstance(e, S.Load) else {}
        for c in e.children():
            n, theirs = go(c)
            ops += n
            for size, loads in theirs.items():
                mine = first.setdefault(size, [])
                mine.extend(loads[:BUFFERS - len(mine)])
        done[id(e)] = (e, (ops, first))
        return ops, first
    return go(value)


def _accesses(store, loads):
    """The BUFFERS largest accesses of a store: the store first among buffers of its size, then the
    loads in walk order (a stable sort of all of them by size)."""
    out = []
    for size in sorted(set(loads) | {store.buffer.size}, reverse=True):
        if size == store.buffer.size:
            out.append((store.buffer, store.indices, True))
        out += [(ld.buffer, ld.indices, False) for ld in loads.get(size, ())]
    return out[:BUFFERS]


class _Access:
    """The flat index of one access as the features read it: its linear form's coefficients by
    variable, and the variables inside its non-linear parts (divisions, products of variables)."""

    def __init__(self, buf, idx):
        self.buf, self.idx = buf, idx  # kept alive: the ids that key it stay theirs
        terms, _ = arith.flat_linear(buf.shape, idx)
        self.coef = {id(a): c for a, c in terms.values() if isinstance(a, E.Var)}
        self.inside = {id(n) for a, _ in terms.values() if not isinstance(a, E.Var)
                       for n in E.walk(a) if isinstance(n, E.Var)}

    def stride(self, var):
        """The coefficient of `var`, or None where it is also inside a non-linear part."""
        return None if id(var) in self.inside else self.coef.get(id(var), 0)

    def uses(self, var):
        return id(var) in self.inside or id(var) in self.coef


def extract(func, target=None):
    """A fixed-length numpy vector of features of a LoweredFunc, for `target` (default: the current
    one; its cores decide whether the parallel work splits evenly)."""
    from alt.target import resolve
    t = resolve(target)
    cores = t.cores if t.kind == "c" else 1
    stores = []
    _walk(func.body, [], stores)
    total = [0.0] * LENGTH  # Python floats, not numpy's: a candidate sets a few dozen entries one at a time
    weight_sum = 0.0
    access_of = {}  # by its buffer and index nodes (unswitched arms share them)
    for store, loops in stores:
        trips = float(math.prod(lp.extent for lp in loops))
        f = [0.0] * LENGTH
        inner = loops[::-1][:LEVELS]
        for lvl, lp in enumerate(inner):
            base = lvl * PER_LEVEL
            f[base] = _log(lp.extent)
            f[base + 1 + KINDS.index(GPU_KINDS.get(lp.kind, lp.kind))] = 1.0
        ops, loads = _tally(store.value)
        bytes_total = 0.0
        for b, (buf, idx, _) in enumerate(_accesses(store, loads)):
            base = LEVELS * PER_LEVEL + b * PER_BUFFER
            k = (id(buf), *map(id, idx))
            if k not in access_of:
                access_of[k] = _Access(buf, idx)
            acc = access_of[k]
            itemsize = E.dtypes.to_numpy(buf.dtype).itemsize
            if inner:
                c = acc.stride(inner[0].var)
                f[base] = _log(abs(c)) if c is not None else 8.0  # stride of the innermost loop
            f[base + 1] = 1.0 if buf.kind == "stack" else 0.0
            touched = 1.0
            for lvl, lp in enumerate(inner):  # bytes touched inside each level: product of used extents
                if acc.uses(lp.var):
                    touched *= lp.extent
                f[base + 2 + lvl] = _log(touched * itemsize)
            bytes_total += touched * itemsize
        g = LEVELS * PER_LEVEL + BUFFERS * PER_BUFFER
        flops = max(1, ops)
        f[g] = _log(trips)
        f[g + 1] = _log(flops * trips / max(1.0, bytes_total))  # arithmetic intensity (per tile)
        par = [lp.extent for lp in loops if lp.kind == "parallel"]
        f[g + 2] = _log(par[0]) if par else 0.0
        f[g + 3] = float(par[0] % cores == 0) if par else 0.0  # splits evenly over the cores
        f[g + 4] = _log(sum(len(lp.bounds) for lp in loops))  # guarded (non-dividing) loops
        f[g + 5] = _log(len(loops))
        for i, x in enumerate(f):
            if x:
                total[i] += x * trips
        weight_sum += trips
    return np.array(total) / max(1.0, weight_sum)
