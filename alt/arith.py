"""Integer index arithmetic: simplification, linear forms and bounds.

Lowering builds index expressions such as `(i.outer*8 + i.inner) - i.outer*8`; these helpers
fold them to `i.inner` so that generated code and the printed loop nest stay readable, and
prove guards redundant where the loop ranges allow.
"""
import contextlib
import threading

import numpy as np

from . import expr as E
from .stmt import Load


def skey(e):
    """A hashable structural key: equal keys mean equal expressions."""
    if isinstance(e, E.Const):
        return ("c", e.value, e.dtype)
    if isinstance(e, E.Var):
        return ("v", id(e))
    memo = getattr(_known, "keys", None)  # in a session: {id(node): (node, key)}
    hit = memo.get(id(e)) if memo is not None else None
    if hit is not None and hit[0] is e:
        return hit[1]
    head = (type(e).__name__, getattr(e, "op", None) or getattr(e, "func", None), e.dtype)
    if isinstance(e, E.Read):
        head += (id(e.tensor),)
    if isinstance(e, Load):
        head += (id(e.buffer),)
    k = head + tuple(skey(c) for c in e.children())
    if memo is not None:
        memo[id(e)] = (e, k)
    return k


# linear forms -------------------------------------------------------------------

_known = threading.local()  # .forms: {id(node): (node, terms, const)} during one simplification


def linear(e):
    """Write an integer expression as ({key: (atom, coef)}, const); non-linear parts are atoms."""
    if isinstance(e, E.Const) and E.dtypes.is_int(e.dtype):
        return {}, e.value
    if isinstance(e, E.Binary) and E.dtypes.is_int(e.dtype) and e.op in "+-*":
        forms = getattr(_known, "forms", None)
        hit = forms.get(id(e)) if forms is not None else None
        if hit is not None and hit[0] is e:
            return dict(hit[1]), hit[2]
        la, ca = linear(e.a)
        lb, cb = linear(e.b)
        if e.op in "+-":
            s = 1 if e.op == "+" else -1
            out = dict(la)
            for k, (atom, c) in lb.items():
                prev = out.get(k, (atom, 0))[1]
                out[k] = (atom, prev + s * c)
            return {k: v for k, v in out.items() if v[1] != 0}, ca + s * cb
        if not la:
            return {k: (a, c * ca) for k, (a, c) in lb.items() if c * ca != 0}, ca * cb
        if not lb:
            return {k: (a, c * cb) for k, (a, c) in la.items() if c * cb != 0}, ca * cb
    return {skey(e): (e, 1)}, 0


def from_linear(terms, c, dtype="int32"):
    pos = [(a, k) for a, k in terms.values() if k > 0]
    neg = [(a, -k) for a, k in terms.values() if k < 0]

    def term(a, k):
        return a if k == 1 else E.Binary("*", a, E.Const(k, dtype), dtype)

    out = None
    for a, k in pos:
        t = term(a, k)
        out = t if out is None else E.Binary("+", out, t, dtype)
    if out is None:
        out = E.Const(0, dtype)
        if not neg:
            return E.Const(c, dtype)
        out = E.Const(c, dtype) if c else out
        c = 0
    for a, k in neg:
        out = E.Binary("-", out, term(a, k), dtype)
    if c > 0:
        out = E.Binary("+", out, E.Const(c, dtype), dtype)
    elif c < 0:
        out = E.Binary("-", out, E.Const(-c, dtype), dtype)
    return out


def const_diff(a, b):
    """a - b as an int if it does not depend on any variable, else None."""
    la, ca = linear(a)
    lb, cb = linear(b)
    if la.keys() != lb.keys() or any(la[k][1] != lb[k][1] for k in la):
        return None
    return ca - cb


# simplification --------------------------------------------------------------------

def _fold(op, a, b, dtype):
    if dtype == "float32":  # fold as the C code would compute: in single precision
        a, b = np.float32(a), np.float32(b)
    if op == "+": return a + b
    if op == "-": return a - b
    if op == "*": return a * b
    if op == "/": return a / b
    if op == "//": return a // b
    if op == "%": return a % b
    if op == "min": return min(a, b)
    if op == "max": return max(a, b)
    raise AssertionError(op)


_CMP = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def _simplify_node(e):
    if isinstance(e, E.LEAVES):  # most nodes a simplification visits: nothing to do
        return None
    if isinstance(e, E.Binary):
        a, b = e.a, e.b
        if isinstance(a, E.Const) and isinstance(b, E.Const):
            if e.op in ("/", "//", "%") and b.value == 0:
                return None
            return E.const(_fold(e.op, a.value, b.value, e.dtype), e.dtype)
        if E.dtypes.is_int(e.dtype):
            if e.op in "+-*":
                terms, c = linear(e)
                n = len(terms)
                out = from_linear(_merge_div_mod(terms), c, e.dtype)
                forms = getattr(_known, "forms", None)
                if forms is not None and len(terms) == n and isinstance(out, E.Binary):
                    # nothing merged: out's linear form is (terms, c), in from_linear's order (positive
                    # terms, then negative); a parent's linear() reads it instead of walking out again
                    order = {k: t for k, t in terms.items() if t[1] > 0}
                    order.update((k, t) for k, t in terms.items() if t[1] < 0)
                    forms[id(out)] = (out, order, c)
                return out
            if e.op in ("//", "%") and isinstance(b, E.Const) and b.value == 1:
                return a if e.op == "//" else E.Const(0, e.dtype)
            if e.op in ("min", "max"):
                d = const_diff(a, b)
                if d is not None:
                    return (a if d <= 0 else b) if e.op == "min" else (a if d >= 0 else b)
        return None
    if isinstance(e, E.Compare) and isinstance(e.a, E.Const) and isinstance(e.b, E.Const):
        return E.Const(_CMP[e.op](e.a.value, e.b.value), "bool")
    if isinstance(e, E.Logical):
        if e.op == "not":
            return E.Const(not e.args[0].value, "bool") if isinstance(e.args[0], E.Const) else None
        absorb = e.op == "or"  # True absorbs 'or', False absorbs 'and'
        rest = []
        for x in e.args:
            if isinstance(x, E.Const):
                if x.value == absorb:
                    return E.Const(absorb, "bool")
                continue
            rest.append(x)
        if len(rest) == len(e.args):
            return None
        return E.Const(not absorb, "bool") if not rest else rest[0] if len(rest) == 1 else E.Logical(e.op, rest)
    if isinstance(e, E.Select) and isinstance(e.cond, E.Const):
        return e.t if e.cond.value else e.f
    if isinstance(e, E.Cast) and isinstance(e.value, E.Const):
        return E.const(e.value.value, e.dtype)
    return None


def _merge_div_mod(terms):
    """Terms (x // f) * (k * f) + (x % f) * k of a linear form merged into x * k: the identity holds
    for floor and for C's truncating division alike. A fused loop whose parts index one contiguous
    run (a convolution's rx * 16 + rc.inner) then indexes it directly, without a division."""
    for key, (atom, k) in list(terms.items()):
        if key not in terms or not (isinstance(atom, E.Binary) and atom.op == "%" and isinstance(atom.b, E.Const)
                                    and atom.b.value > 0):
            continue
        f = atom.b.value
        div = skey(E.Binary("//", atom.a, atom.b, atom.dtype))
        if div in terms and terms[div][1] == k * f:
            del terms[key], terms[div]
            x = skey(atom.a)
            coef = terms.get(x, (atom.a, 0))[1] + k
            if coef:
                terms[x] = (atom.a, coef)
            else:
                terms.pop(x, None)
    return terms


def _remembering(fn):
    """Run fn() with the linear forms of the nodes it builds remembered (per thread, for this call
    only, or for the enclosing `session`): simplifying bottom-up otherwise walks every sum again at
    each enclosing node."""
    if getattr(_known, "forms", None) is not None:
        return fn()
    _known.forms = {}
    try:
        return fn()
    finally:
        _known.forms = None


@contextlib.contextmanager
def session():
    """Within the block (per thread), what simplify and simplify_ranges made of each node is kept
    and reused, with the linear forms: lowering one function simplifies the same index nodes many
    times (every read of an input shares its axes' expressions, a layout's forward map is
    simplified again after its indices were), and a result counts as its own simplification
    (were simplify not idempotent on what it returns, an expression would be left less simplified
    there, never changed in value). Valid while no variable's range changes: lowering gives each
    loop variable its range once, when it makes it."""
    if getattr(_known, "memo", None) is not None:
        yield
        return
    _known.memo, _known.forms, _known.keys = {}, {}, {}
    try:
        yield
    finally:
        _known.memo = _known.forms = _known.keys = None


def _done(kind, ranges=None):
    """The session's {id(node): (node, result)} for simplify (kind "s") or simplify_ranges over
    `ranges` (kept alive with it, so that its id stays its own); None outside a session."""
    memo = getattr(_known, "memo", None)
    if memo is None:
        return None
    k = (kind, id(ranges))
    if k not in memo:
        memo[k] = (ranges, {})
    return memo[k][1]


def _fixed(out, *memos):
    """Remember `out` (a simplification's result) as simplifying to itself."""
    for done in memos:
        if done is not None:
            done.setdefault(id(out), (out, out))
    return out


def simplify(e):
    done = _done("s")
    return _fixed(_remembering(lambda: E.transform(e, _simplify_node, done, E.LEAVES)), done)


# constant bounds -------------------------------------------------------------------

def bounds(e, ranges):
    """(lo, hi) integer bounds of `e` given {var: (lo, hi)}, or None when unknown."""
    if isinstance(e, E.Const):
        return (e.value, e.value) if E.dtypes.is_int(e.dtype) else None
    if isinstance(e, E.Var):
        return ranges.get(e)
    if isinstance(e, E.Cast) and E.dtypes.is_int(e.dtype):
        return bounds(e.value, ranges)
    if not isinstance(e, E.Binary) or not E.dtypes.is_int(e.dtype):
        return None
    a = bounds(e.a, ranges)
    b = bounds(e.b, ranges)
    if e.op == "%" and b and b[0] == b[1] and b[0] > 0:
        if a and a[0] >= 0 and a[1] < b[0]:
            return a
        return (0, b[0] - 1)
    if a is None or b is None:
        return None
    if e.op == "+": return (a[0] + b[0], a[1] + b[1])
    if e.op == "-": return (a[0] - b[1], a[1] - b[0])
    if e.op == "*":
        p = [x * y for x in a for y in b]
        return (min(p), max(p))
    if e.op == "//" and b[0] == b[1] and b[0] > 0:
        return (a[0] // b[0], a[1] // b[0])
    if e.op == "min": return (min(a[0], b[0]), min(a[1], b[1]))
    if e.op == "max": return (max(a[0], b[0]), max(a[1], b[1]))
    return None


# symbolic intervals (bound inference of compute_at) ---------------------------------

class Interval:
    """[lo, hi] with symbolic ends; `lo is hi` marks a single point."""
    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi=None):
        self.lo, self.hi = lo, lo if hi is None else hi

    @property
    def is_point(self):
        return self.lo is self.hi


def _c(v):
    return E.Const(v, "int32")


def interval(e, env, ranges=None):
    """Symbolic interval of an integer expression given {var: Interval}; None when unknown.

    `ranges` ({var: (lo, hi)} of the loop variables in the ends) lets divisions simplify.
    """
    ranges = ranges or {}
    if isinstance(e, E.Const):
        return Interval(e) if E.dtypes.is_int(e.dtype) else None
    if isinstance(e, E.Var):
        return env.get(e, Interval(e))
    if isinstance(e, E.Cast) and E.dtypes.is_int(e.dtype):
        return interval(e.value, env, ranges)
    if not isinstance(e, E.Binary) or not E.dtypes.is_int(e.dtype):
        return None
    a, b = interval(e.a, env, ranges), interval(e.b, env, ranges)
    if a is None or b is None:
        return None
    if a.is_point and b.is_point:
        return Interval(simplify_ranges(E.Binary(e.op, a.lo, b.lo, e.dtype), ranges))
    s = lambda op, x, y: simplify_ranges(E.Binary(op, x, y, e.dtype), ranges)  # noqa: E731
    if e.op == "+":
        return Interval(s("+", a.lo, b.lo), s("+", a.hi, b.hi))
    if e.op == "-":
        return Interval(s("-", a.lo, b.hi), s("-", a.hi, b.lo))
    if e.op in ("min", "max"):
        return Interval(s(e.op, a.lo, b.lo), s(e.op, a.hi, b.hi))
    if e.op in ("*", "//", "%") and b.is_point and isinstance(b.lo, E.Const):
        k = b.lo.value
        if e.op == "*":
            lo, hi = s("*", a.lo, b.lo), s("*", a.hi, b.lo)
            return Interval(lo, hi) if k >= 0 else Interval(hi, lo)
        if k > 0 and e.op == "//":
            return Interval(s("//", a.lo, b.lo), s("//", a.hi, b.lo))
        if k > 0 and e.op == "%":
            return Interval(_c(0), _c(k - 1))
    if e.op == "*" and a.is_point and isinstance(a.lo, E.Const):
        return interval(E.Binary("*", e.b, e.a, e.dtype), env, ranges)
    return None


def div_mod(e, f, ranges, q_max=None, size=None):
    """(e // f, e % f) for e >= 0, written without division where the loop ranges allow it:
    e = f*q + r with r's range inside [0, size) (size defaults to f) and q's inside [0, q_max].

    With size > f (an unfolded layout), r may reach size - 1: the halo of an overlapping tile,
    and the generic quotient is clamped to q_max.
    """
    size = size or f
    terms, c = linear(e)
    q_terms = {k: (a, coef // f) for k, (a, coef) in terms.items() if coef % f == 0}
    r_terms = {k: t for k, t in terms.items() if k not in q_terms}
    qc, rc = divmod(c, f)
    q, r = from_linear(q_terms, qc), from_linear(r_terms, rc)
    bq, br = bounds(q, ranges), bounds(r, ranges)
    if bq and br and 0 <= bq[0] and (q_max is None or bq[1] <= q_max) and 0 <= br[0] and br[1] < size:
        return q, r
    if size == f:
        nested = _div_mod_by_part(terms, c, f, ranges)
        if nested is not None:
            return nested
    div = simplify(E.Binary("//", e, E.Const(f, "int32"), "int32"))
    if size == f:
        return div, simplify(E.Binary("%", e, E.Const(f, "int32"), "int32"))
    q = simplify(E.Binary("min", div, E.Const(q_max, "int32"), "int32"))
    return q, simplify(e - q * f)


def _div_mod_by_part(terms, c, f, ranges):
    """(e // f, e % f) of e = g*h + l (the linear form `terms` + c), for a divisor g of f with every
    term of h a multiple of g, h >= 0 and 0 <= l < g: (h // (f/g), (h % (f/g))*g + l). A tile of 16
    columns in a layout of 32-column blocks, (a*16 + r) // 32 with r < 16, becomes a // 2: the
    division leaves the inner (vectorized) loop. None where no such g exists."""
    small = [d for d in range(2, int(f ** 0.5) + 1) if f % d == 0]
    for g in sorted(set(small) | {f // d for d in small}, reverse=True):  # the divisors of f but 1 and f
        high = {k: (a, coef // g) for k, (a, coef) in terms.items() if coef % g == 0}
        if not high:
            continue
        hc, lc = divmod(c, g)
        h = from_linear(high, hc)
        low = from_linear({k: t for k, t in terms.items() if k not in high}, lc)
        bh, bl = bounds(h, ranges), bounds(low, ranges)
        if bh and bl and bh[0] >= 0 and 0 <= bl[0] and bl[1] < g:
            q, r = div_mod(h, f // g, ranges)
            return q, simplify(r * g + low)
    return None


def simplify_ranges(e, ranges):
    """simplify, plus integer // and % by constants rewritten through div_mod where exact."""
    def fn(node):
        if isinstance(node, E.LEAVES):
            return None
        if isinstance(node, E.Binary) and node.op in ("//", "%") and isinstance(node.b, E.Const) \
                and E.dtypes.is_int(node.dtype) and node.b.value > 0:
            b = bounds(node.a, ranges)
            if b and b[0] >= 0:
                q, r = div_mod(node.a, node.b.value, ranges)
                return q if node.op == "//" else r
        return _simplify_node(node)
    done = _done("r", ranges)
    return _fixed(_remembering(lambda: E.transform(e, fn, done, E.LEAVES)), done, _done("s"))


def flat_index(shape, indices):
    """The row-major flat index of `indices` into a buffer of `shape`, simplified."""
    flat, stride = None, 1
    for i, n in reversed(list(zip(indices, shape))):
        term = i * stride if stride != 1 else i
        flat = term if flat is None else term + flat
        stride *= n
    return simplify(flat)


def flat_linear(shape, indices):
    """The linear form ({key: (atom, coef)}, const) of the row-major flat index of `indices` into a
    buffer of `shape`, with div/mod pairs merged (as simplify merges them): flat_index's terms,
    without rebuilding the sum node by node (the cost model reads every access of every candidate)."""
    terms, const, stride = {}, 0, 1
    for i, n in reversed(list(zip(indices, shape))):
        t, c = linear(i)
        for k, (atom, coef) in t.items():
            terms[k] = (atom, terms.get(k, (atom, 0))[1] + coef * stride)
        const += c * stride
        stride *= n
    terms = {k: t for k, t in terms.items() if t[1] != 0}
    n = len(terms) + 1
    while len(terms) < n:  # a merge can make a quotient another pair merges with: f // 13 // 5 and
        n = len(terms)    # f // 13 % 5 make f // 13, which pairs with f % 13 (simplify meets them at successive nodes)
        terms = _merge_div_mod(terms)
    return terms, const


def ceil_div(a, b):
    return -(-a // b)
