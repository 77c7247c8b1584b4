"""The lowered program: buffers, loads and a tree of loop statements."""
from .expr import Expr


class Buffer:
    """Memory for one tensor. kind: 'arg' (passed in), 'heap' (temporary), 'stack' (local tile),
    'shared' (one copy per GPU block)."""

    def __init__(self, name, shape, dtype, kind):
        self.name, self.shape, self.dtype, self.kind = name, tuple(shape), dtype, kind

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __repr__(self):
        return f"Buffer({self.name!r}, {list(self.shape)}, {self.dtype}, {self.kind})"


class Load(Expr):
    __slots__ = ("buffer", "indices")

    def __init__(self, buffer, indices):
        self.buffer, self.indices, self.dtype = buffer, tuple(indices), buffer.dtype

    def children(self): return self.indices
    def rebuild(self, c): return Load(self.buffer, c)


class Stmt:
    def __repr__(self):
        from .printer import format_stmt
        return format_stmt(self)


class For(Stmt):
    """for var in range(min(extent, *bounds)). kind: serial, parallel, vectorize, unroll.

    `extent` is the constant trip count; `bounds` are extra upper limits from non-dividing splits.
    """

    def __init__(self, var, extent, kind, body, bounds=(), pragmas=()):
        self.var, self.extent, self.kind, self.body = var, extent, kind, body
        self.bounds, self.pragmas = tuple(bounds), tuple(pragmas)


class Block(Stmt):
    def __init__(self, stmts):
        flat = []
        for s in stmts:
            flat.extend(s.stmts if isinstance(s, Block) else [s])
        self.stmts = flat


class Store(Stmt):
    def __init__(self, buffer, indices, value):
        self.buffer, self.indices, self.value = buffer, tuple(indices), value


class If(Stmt):
    def __init__(self, cond, body):
        self.cond, self.body = cond, body


class Allocate(Stmt):
    """Declares a local (stack) buffer, live until the end of the enclosing block."""

    def __init__(self, buffer):
        self.buffer = buffer


class Barrier(Stmt):
    """Every thread of a GPU block waits here until all have arrived (__syncthreads)."""


class LoweredFunc:
    """The result of alt.lower: arguments, temporaries and the loop nest. str() prints it."""

    def __init__(self, name, args, body, temps):
        self.name, self.args, self.body, self.temps = name, tuple(args), body, tuple(temps)

    def __str__(self):
        from .printer import format_func
        return format_func(self)

    __repr__ = __str__
