"""Scalar expressions of the tensor-expression language.

Nodes are immutable. `==` builds a comparison node whose truth value is object identity
(as in TVM), so expressions stay usable as dict keys and in `in` tests.
"""
import math
import numbers

from . import dtypes
from .errors import ComputeError

MATH_FUNCS = ("exp", "log", "tanh", "sigmoid", "sqrt")
REDUCERS = ("sum", "max", "min")


class Expr:
    __slots__ = ("dtype",)

    def children(self):
        return ()

    def rebuild(self, children):
        return self

    # arithmetic ---------------------------------------------------------
    def __add__(self, o): return binary("+", self, o)
    def __radd__(self, o): return binary("+", o, self)
    def __sub__(self, o): return binary("-", self, o)
    def __rsub__(self, o): return binary("-", o, self)
    def __mul__(self, o): return binary("*", self, o)
    def __rmul__(self, o): return binary("*", o, self)
    def __truediv__(self, o): return binary("/", self, o)
    def __rtruediv__(self, o): return binary("/", o, self)
    def __floordiv__(self, o): return binary("//", self, o)
    def __rfloordiv__(self, o): return binary("//", o, self)
    def __mod__(self, o): return binary("%", self, o)
    def __rmod__(self, o): return binary("%", o, self)
    def __neg__(self): return binary("-", const(0, self.dtype), self)

    # comparisons and logic ----------------------------------------------
    def __lt__(self, o): return compare("<", self, o)
    def __le__(self, o): return compare("<=", self, o)
    def __gt__(self, o): return compare(">", self, o)
    def __ge__(self, o): return compare(">=", self, o)
    def __eq__(self, o): return compare("==", self, o)
    def __ne__(self, o): return compare("!=", self, o)
    def __and__(self, o): return logical("and", self, o)
    def __or__(self, o): return logical("or", self, o)
    def __invert__(self): return logical("not", self)
    __hash__ = object.__hash__

    def __bool__(self):
        raise ComputeError(f"cannot use the symbolic expression {self} as a Python bool; "
                           "use alt.select for a data-dependent choice")

    def __repr__(self):
        from .printer import format_expr
        return format_expr(self)

    __str__ = __repr__


class Const(Expr):
    __slots__ = ("value",)

    def __init__(self, value, dtype):
        self.value, self.dtype = value, dtype


class Var(Expr):
    """A named integer variable: a loop counter of lowered code."""
    __slots__ = ("name",)

    def __init__(self, name, dtype="int32"):
        self.name, self.dtype = name, dtype


class IterVar(Var):
    """An axis of a compute definition (kind 'spatial' or 'reduce') or a loop derived from one."""
    __slots__ = ("extent", "kind")

    def __init__(self, name, extent, kind):
        super().__init__(name)
        self.extent, self.kind = extent, kind


LEAVES = (Var, Const)  # the nodes without children (IterVar included): what most rewrites keep


class Binary(Expr):
    __slots__ = ("op", "a", "b")

    def __init__(self, op, a, b, dtype):
        self.op, self.a, self.b, self.dtype = op, a, b, dtype

    def children(self): return (self.a, self.b)
    def rebuild(self, c): return Binary(self.op, c[0], c[1], self.dtype)


class Compare(Expr):
    __slots__ = ("op", "a", "b")

    def __init__(self, op, a, b):
        self.op, self.a, self.b, self.dtype = op, a, b, "bool"

    def children(self): return (self.a, self.b)
    def rebuild(self, c): return Compare(self.op, c[0], c[1])

    def __bool__(self):
        # Python uses == for membership and dict lookups: answer by identity, as TVM does.
        if self.op == "==":
            return self.a is self.b
        if self.op == "!=":
            return self.a is not self.b
        return Expr.__bool__(self)


class Logical(Expr):
    __slots__ = ("op", "args")

    def __init__(self, op, args):
        self.op, self.args, self.dtype = op, tuple(args), "bool"

    def children(self): return self.args
    def rebuild(self, c): return Logical(self.op, c)


class Call(Expr):
    """A math function applied elementwise."""
    __slots__ = ("func", "args")

    def __init__(self, func, args, dtype):
        self.func, self.args, self.dtype = func, tuple(args), dtype

    def children(self): return self.args
    def rebuild(self, c): return Call(self.func, c, self.dtype)


class Select(Expr):
    __slots__ = ("cond", "t", "f")

    def __init__(self, cond, t, f):
        self.cond, self.t, self.f, self.dtype = cond, t, f, t.dtype

    def children(self): return (self.cond, self.t, self.f)
    def rebuild(self, c): return Select(*c)


class Cast(Expr):
    __slots__ = ("value",)

    def __init__(self, dtype, value):
        self.dtype, self.value = dtype, value

    def children(self): return (self.value,)
    def rebuild(self, c): return Cast(self.dtype, c[0])


class Read(Expr):
    """tensor[indices] inside a compute definition."""
    __slots__ = ("tensor", "indices")

    def __init__(self, tensor, indices):
        self.tensor, self.indices, self.dtype = tensor, tuple(indices), tensor.dtype

    def children(self): return self.indices
    def rebuild(self, c): return Read(self.tensor, c)


class Reduce(Expr):
    """A commutative reduction ('sum', 'max' or 'min') of `source` over reduce axes."""
    __slots__ = ("combiner", "source", "axes")

    def __init__(self, combiner, source, axes):
        self.combiner, self.source, self.axes, self.dtype = combiner, source, tuple(axes), source.dtype

    def children(self): return (self.source,)
    def rebuild(self, c): return Reduce(self.combiner, c[0], self.axes)


# construction helpers -------------------------------------------------------

def const(value, dtype=None):
    if isinstance(value, bool):
        return Const(bool(value), "bool")
    if dtype is None:
        dtype = "int32" if isinstance(value, numbers.Integral) else "float32"
    if dtypes.is_int(dtype):
        if not float(value).is_integer():
            raise ComputeError(f"constant {value!r} is not an integer but is used as {dtype}")
        return Const(int(value), dtype)
    if dtype == "bool":
        return Const(bool(value), dtype)
    return Const(float(value), dtype)


def as_expr(x, like=None):
    """Turn a Python number into a Const, taking the dtype of `like` where given."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, numbers.Number):
        if like is not None and like.dtype != "bool":
            if dtypes.is_int(like.dtype) and not float(x).is_integer():
                return const(x, "float32")
            return const(x, like.dtype)
        return const(x)
    raise ComputeError(f"cannot use {x!r} of type {type(x).__name__} in a tensor expression; "
                       "expected a number or an alt expression")


def _unify(op, a, b):
    a = as_expr(a, b if isinstance(b, Expr) else None)
    b = as_expr(b, a)
    if a.dtype != b.dtype:
        raise ComputeError(f"operator {op!r} mixes {a.dtype} ({a}) and {b.dtype} ({b}); "
                           "convert one side with alt.cast")
    return a, b


def binary(op, a, b):
    a, b = _unify(op, a, b)
    if a.dtype == "bool":
        raise ComputeError(f"operator {op!r} on boolean operands {a} and {b}; use & | ~ or alt.select")
    if op == "/" and dtypes.is_int(a.dtype):
        raise ComputeError(f"true division '/' of integers {a} and {b}; use '//' for floor division "
                           "or alt.cast to a float type")
    if op in ("//", "%") and dtypes.is_float(a.dtype):
        raise ComputeError(f"operator {op!r} on floats {a} and {b} is not supported; it needs integers")
    return Binary(op, a, b, a.dtype)


def compare(op, a, b):
    a, b = _unify(op, a, b)
    return Compare(op, a, b)


def logical(op, *args):
    args = [as_expr(a) for a in args]
    for a in args:
        if a.dtype != "bool":
            raise ComputeError(f"logical {op!r} needs boolean operands (comparisons), got {a} of {a.dtype}")
    return Logical(op, args)


def select(cond, t, f):
    """cond ? t : f, elementwise. Only the chosen side is read, so it is safe for padding."""
    cond = as_expr(cond)
    if cond.dtype != "bool":
        raise ComputeError(f"alt.select condition must be a comparison, got {cond} of {cond.dtype}")
    t, f = _unify("select", t, f)
    return Select(cond, t, f)


def cast(dtype, value):
    """`value` converted to `dtype` (TVM's argument order: alt.cast("int32", x))."""
    dtype = dtypes.check_dtype(dtype, "alt.cast(dtype, value)")
    return Cast(dtype, as_expr(value))


def all_(*conds):
    return conds[0] if len(conds) == 1 else logical("and", *conds)


def any_(*conds):
    return conds[0] if len(conds) == 1 else logical("or", *conds)


def _math(func):
    def f(x):
        x = as_expr(x)
        if not dtypes.is_float(x.dtype):
            raise ComputeError(f"alt.{func} needs a float argument, got {x} of {x.dtype}; use alt.cast")
        return Call(func, (x,), x.dtype)
    f.__name__ = func
    f.__doc__ = f"Elementwise {func}."
    return f


exp, log, tanh, sigmoid, sqrt = (_math(name) for name in MATH_FUNCS)


def _reduce_axes(axis, combiner):
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    if not axes:
        raise ComputeError(f"alt.{combiner} needs at least one reduce axis")
    for a in axes:
        if not (isinstance(a, IterVar) and a.kind == "reduce"):
            raise ComputeError(f"alt.{combiner}: axis {a!r} is not a reduce axis; create one with alt.reduce_axis")
    if len(set(map(id, axes))) != len(axes):
        raise ComputeError(f"alt.{combiner}: a reduce axis is given twice in {list(axes)}")
    return axes


def _reducer(combiner):
    def f(a, b=None, axis=None):
        if axis is not None:
            if b is not None:
                raise ComputeError(f"alt.{combiner}(expr, axis=...) reduces one expression; got a second operand {b}")
            return Reduce(combiner, as_expr(a), _reduce_axes(axis, combiner))
        if combiner == "sum" or b is None:
            raise ComputeError(f"alt.{combiner} needs axis=<reduce axis>" +
                               ("" if combiner == "sum" else " or two operands"))
        a, b = _unify(combiner, a, b)
        return Binary(combiner, a, b, a.dtype)
    f.__name__ = combiner
    f.__doc__ = (f"alt.{combiner}(expr, axis=k) reduces over reduce axes"
                 + ("." if combiner == "sum" else f"; alt.{combiner}(a, b) is elementwise."))
    return f


sum_, max_, min_ = (_reducer(c) for c in REDUCERS)


def identity(combiner, dtype):
    """The neutral element of a reduction, as a Python number."""
    if combiner == "sum":
        return 0
    if dtypes.is_float(dtype):
        return -math.inf if combiner == "max" else math.inf
    import numpy as np
    info = np.iinfo(dtypes.to_numpy(dtype))
    return int(info.min) if combiner == "max" else int(info.max)


# traversal -------------------------------------------------------------------

def transform(expr, fn, _done=None, keep=()):
    """Rebuild `expr` bottom-up; fn(node) returns a replacement or None to keep the node. `fn` must
    depend on the node alone: a node shared by several parents (substitution and inlining make
    expressions DAGs, a Winograd transform's select chains share their reads) is rebuilt once.
    `keep` (node types) are nodes below the root that fn is known to keep: they are not visited
    (simplification keeps every Var and Const; half the nodes lowering rebuilds are those)."""
    done = {} if _done is None else _done
    hit = done.get(id(expr))
    return hit[1] if hit is not None else _transform(expr, fn, done, keep)


def _transform(expr, fn, done, keep):
    node = expr
    kids = expr.children()
    if kids:
        new, changed = [], False
        for c in kids:  # a child already rebuilt is read here rather than called for (a hot path)
            if isinstance(c, keep):
                new.append(c)
                continue
            hit = done.get(id(c))
            n = hit[1] if hit is not None else _transform(c, fn, done, keep)
            changed = changed or n is not c
            new.append(n)
        if changed:
            expr = expr.rebuild(tuple(new))
    out = fn(expr)
    out = expr if out is None else out
    done[id(node)] = (node, out)  # the node is kept alive, so its id is not reused during this call
    return out


def walk(expr):
    """All nodes of `expr`, parents before children."""
    stack = [expr]
    while stack:
        e = stack.pop()
        yield e
        stack.extend(reversed(e.children()))


def substitute(expr, mapping):
    """Replace variables (by identity) with expressions."""
    return transform(expr, lambda e: mapping.get(e) if isinstance(e, Var) else None, keep=(Const,))


def uses(expr, var):
    return any(e is var for e in walk(expr))


def position(seq, x):
    """Where `x` is in `seq`, by identity, or None. `seq.index(x)` and `x in seq` compare with ==,
    which builds a symbolic comparison for every expression they pass (loop variables included)."""
    return next((i for i, y in enumerate(seq) if y is x), None)
