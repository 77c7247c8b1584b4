"""Data layouts: how a tensor's logical dimensions are laid out in memory (ALT's layout primitives).

A Layout is data: the logical shape and an ordered tuple of steps, each mirroring a loop verb.

    split(dim, factor)          dim of extent E -> (E/factor, factor); needs factor | E (pad first)
    reorder(*dims)              permute the physical dimensions
    fuse(d0, d1)                two adjacent dimensions -> one
    unfold(dim, size, stride)   overlapping windows: dim -> (tiles, size), tile t = [t*stride, t*stride+size);
                                a last window past the end is zero-filled, like pad
    pad(dim, before, after)     extend a dimension with zeros on both sides

`forward` maps logical indices to physical ones (every read of the tensor is rewritten with it);
`inverse` maps physical indices back (the loops of a stage that writes the tensor follow its
physical dimensions). NCHW -> NCHW16c is `split(1, 16).reorder(0, 1, 3, 4, 2)`.
"""
import numpy as np

from . import arith
from .buffers import aligned
from . import expr as E
from .errors import ScheduleError

VERBS = ("split", "reorder", "fuse", "unfold", "pad")


class Layout:
    """An immutable layout; every primitive returns a new Layout."""

    def __init__(self, shape, names=None, steps=(), what="tensor"):
        self.logical_shape = tuple(shape)
        self.logical_names = tuple(names or (f"d{i}" for i in range(len(shape))))
        self.what = what
        self.steps = tuple(steps)
        shape, names = list(self.logical_shape), list(self.logical_names)
        self._before = []  # the shape before each step (inverse walks the steps back)
        for verb, args in self.steps:
            self._before.append(tuple(shape))
            shape, names = _apply(self, verb, args, shape, names)
        self.shape, self.names = tuple(shape), tuple(names)

    # primitives -------------------------------------------------------------------------
    def _with(self, verb, *args):
        return Layout(self.logical_shape, self.logical_names, self.steps + ((verb, tuple(args)),), self.what)

    def split(self, dim, factor):
        return self._with("split", dim, factor)

    def reorder(self, *dims):
        return self._with("reorder", *dims)

    def fuse(self, d0, d1):
        return self._with("fuse", d0, d1)

    def unfold(self, dim, size, stride):
        return self._with("unfold", dim, size, stride)

    def pad(self, dim, before, after):
        return self._with("pad", dim, before, after)

    @property
    def is_identity(self):
        return not self.steps

    def __eq__(self, other):
        return isinstance(other, Layout) and (self.logical_shape, self.steps) == (other.logical_shape, other.steps)

    def __hash__(self):
        return hash((self.logical_shape, self.steps))

    def __repr__(self):
        steps = "".join(f".{v}({', '.join(map(str, a))})" for v, a in self.steps)
        return f"Layout({list(self.logical_shape)}){steps} -> {list(self.shape)}"

    # JSON ---------------------------------------------------------------------------------
    def to_list(self):
        return [[verb, *args] for verb, args in self.steps]

    @classmethod
    def from_list(cls, shape, steps, names=None, what="tensor"):
        lay = cls(shape, names, what=what)
        for step in steps:
            if not isinstance(step, list) or not step or step[0] not in VERBS:
                raise ScheduleError(f"layout of {what}: step {step!r} is not one of {VERBS} with arguments")
            lay = lay._with(step[0], *step[1:])
        return lay

    # index maps -----------------------------------------------------------------------------
    def forward(self, indices, ranges=None):
        """Physical index expressions for logical `indices` (simplified with loop `ranges`)."""
        ranges = ranges or {}
        idx = list(indices)
        shape = list(self.logical_shape)
        for verb, args in self.steps:
            if verb == "split":
                d, f = args
                q, r = arith.div_mod(idx[d], f, ranges, shape[d] // f - 1)
                idx[d:d + 1] = [q, r]
                shape[d:d + 1] = [shape[d] // f, f]
            elif verb == "reorder":
                idx, shape = [idx[p] for p in args], [shape[p] for p in args]
            elif verb == "fuse":
                d = args[0]
                idx[d:d + 2] = [arith.simplify(idx[d] * shape[d + 1] + idx[d + 1])]
                shape[d:d + 2] = [shape[d] * shape[d + 1]]
            elif verb == "unfold":
                d, size, stride = args
                tiles = _tiles(shape[d], size, stride)
                q, r = arith.div_mod(idx[d], stride, ranges, tiles - 1, size)
                idx[d:d + 1] = [q, r]
                shape[d:d + 1] = [tiles, size]
            else:
                d, before, after = args
                idx[d] = arith.simplify(idx[d] + before)
                shape[d] += before + after
        return idx

    def inverse(self, phys):
        """(logical index expressions, conditions) for physical indices `phys`.

        The conditions (from pad) say where a physical element holds a logical one.
        """
        idx = list(phys)
        conds = []
        for (verb, args), shape in zip(reversed(self.steps), reversed(self._before)):
            if verb == "split":
                d, f = args
                idx[d:d + 2] = [arith.simplify(idx[d] * f + idx[d + 1])]
            elif verb == "reorder":
                out = [None] * len(args)
                for i, p in enumerate(args):
                    out[p] = idx[i]
                idx = out
            elif verb == "fuse":
                d = args[0]
                inner = shape[d + 1]
                idx[d:d + 1] = [arith.simplify(idx[d] // inner), arith.simplify(idx[d] % inner)]
            elif verb == "unfold":
                d, size, stride = args
                x = arith.simplify(idx[d] * stride + idx[d + 1])
                if (shape[d] - size) % stride:  # the last window runs past the end
                    conds.append(x < shape[d])
                idx[d:d + 2] = [x]
            else:
                d, before, after = args
                x = arith.simplify(idx[d] - before)
                conds += [x >= 0, x < shape[d]]
                idx[d] = x
        return idx, conds

    # numpy conversion ---------------------------------------------------------------------
    def to_physical(self, array, pad_value=0):
        """Rearrange a logical array into this layout (padding filled with pad_value)."""
        from .interp import _eval
        array = np.asarray(array)
        if array.shape != self.logical_shape:
            raise ScheduleError(f"layout of {self.what}: array of shape {list(array.shape)} given, expected the "
                                f"logical shape {list(self.logical_shape)}")
        grid = _grid(self.shape)
        logical, conds = self.inverse(list(grid))
        env = {v: np.arange(n).reshape([n if i == d else 1 for i in range(len(self.shape))])
               for d, (v, n) in enumerate(zip(grid, self.shape))}
        ok = np.ones(self.shape, bool)
        for c in conds:
            ok &= np.broadcast_to(_eval(c, env, {}, True), self.shape)
        idx = [np.clip(np.broadcast_to(_eval(e, env, {}, True), self.shape), 0, n - 1)
               for e, n in zip(logical, self.logical_shape)]
        return aligned(np.where(ok, array[tuple(idx)], np.asarray(pad_value, array.dtype)))

    def to_logical(self, array):
        """The logical array held by a physical one."""
        from .interp import _eval
        array = np.asarray(array)
        if array.shape != self.shape:
            raise ScheduleError(f"layout of {self.what}: array of shape {list(array.shape)} given, expected the "
                                f"physical shape {list(self.shape)}")
        grid = _grid(self.logical_shape)
        phys = self.forward(list(grid))
        env = {v: np.arange(n).reshape([n if i == d else 1 for i in range(len(self.logical_shape))])
               for d, (v, n) in enumerate(zip(grid, self.logical_shape))}
        idx = [np.broadcast_to(_eval(e, env, {}, True), self.logical_shape) for e in phys]
        return aligned(array[tuple(idx)])


def _grid(shape):
    return [E.Var(f"x{d}") for d in range(len(shape))]


def _tiles(extent, size, stride):
    """Windows needed to cover the extent; the last one may run past its end."""
    return -(-(extent - size) // stride) + 1


def _check_dim(lay, verb, d, shape):
    if not isinstance(d, int) or isinstance(d, bool) or not 0 <= d < len(shape):
        raise ScheduleError(f"layout {verb} of {lay.what}: dimension {d!r} does not exist; the layout has "
                            f"{len(shape)} dimensions {shape}")


def _apply(lay, verb, args, shape, names):
    """Shape and names after one step, checking its arguments."""
    what = f"layout {verb} of {lay.what}"
    if verb not in VERBS:
        raise ScheduleError(f"{what}: unknown primitive; use one of {VERBS}")
    for a in args:
        if not isinstance(a, int) or isinstance(a, bool):
            raise ScheduleError(f"{what}: argument {a!r} must be an integer")
    if verb == "reorder":
        if sorted(args) != list(range(len(shape))):
            raise ScheduleError(f"{what}: {list(args)} is not a permutation of the dimensions "
                                f"0..{len(shape) - 1} of {shape}")
        return [shape[p] for p in args], [names[p] for p in args]
    nargs = {"split": 2, "fuse": 2, "unfold": 3, "pad": 3}[verb]
    if len(args) != nargs:
        raise ScheduleError(f"{what}: takes {nargs} arguments, got {list(args)}")
    d = args[0]
    _check_dim(lay, verb, d, shape)
    if verb == "split":
        f = args[1]
        if f < 1 or shape[d] % f:
            raise ScheduleError(f"{what}: factor {f} does not divide dimension {d} of extent {shape[d]}; "
                                f"use a divisor, or pad(dim, 0, {(-shape[d]) % f if f >= 1 else 0}) first")
        return (shape[:d] + [shape[d] // f, f] + shape[d + 1:],
                names[:d] + [f"{names[d]}.outer", f"{names[d]}.inner"] + names[d + 1:])
    if verb == "fuse":
        if args[1] != d + 1:
            raise ScheduleError(f"{what}: dimensions {d} and {args[1]} are not adjacent; fuse d and d + 1")
        _check_dim(lay, verb, args[1], shape)
        return (shape[:d] + [shape[d] * shape[d + 1]] + shape[d + 2:],
                names[:d] + [f"{names[d]}.{names[d + 1]}.fused"] + names[d + 2:])
    if verb == "unfold":
        size, stride = args[1], args[2]
        if size < 1 or stride < 1 or size > shape[d]:
            raise ScheduleError(f"{what}: windows of size {size} and stride {stride} do not fit dimension {d} "
                                f"of extent {shape[d]}; need 1 <= size <= extent")
        if size <= stride:
            raise ScheduleError(f"{what}: dimension {d} has no window overlap (size {size} <= stride {stride}); "
                                "unfold is for overlapping windows, use split")
        return (shape[:d] + [_tiles(shape[d], size, stride), size] + shape[d + 1:],
                names[:d] + [f"{names[d]}.tile", f"{names[d]}.window"] + names[d + 1:])
    before, after = args[1], args[2]
    if before < 0 or after < 0:
        raise ScheduleError(f"{what}: padding ({before}, {after}) must be >= 0")
    return shape[:d] + [shape[d] + before + after] + shape[d + 1:], names
