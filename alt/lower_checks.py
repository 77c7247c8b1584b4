"""The checks a lowered loop nest must pass before a compiler sees it (alt.lower runs them): no
parallel loop inside another or inside a simd loop, no unrolled nest that expands past what a
compiler unrolls in reasonable time, no unrolled accumulator that spills far past the registers.
Each refuses with a ScheduleError that names the loops and what would be right. The search's
templates count the same before they build a point (search.conv2d.check_unrolled)."""
import math

from . import expr as E
from .errors import ScheduleError
from .expr import uses
from .stmt import Block, For, If, Store


def check_lowered(body):
    """Refuse lowered `body` (a statement) that one of this module's checks refuses."""
    _check_parallel(body, None)
    _unrolled_size(body)
    _unrolled_accumulators(body)


def _check_parallel(s, outer, simd=None):
    """No parallel loop inside another parallel loop or inside a simd loop (gcc rejects or
    miscompiles both); the marks of one stage are checked when its steps are applied, this is
    the check across stages computed at each other."""
    if isinstance(s, For):
        if s.kind == "parallel":
            if outer is not None:
                raise ScheduleError(f"parallel loop {s.var.name!r} is nested inside parallel loop {outer.var.name!r}; "
                                    "parallelize one loop (fuse them first to get more parallel work)")
            if simd is not None:
                raise ScheduleError(f"parallel loop {s.var.name!r} is nested inside the simd loop {simd.var.name!r} "
                                    "(a stage computed at it); move the parallel loop out or drop the simd mark")
            outer = s
        elif simd is None and (s.kind == "vectorize" or any(k == "simd" for k, _ in s.pragmas)):
            simd = s
        _check_parallel(s.body, outer, simd)
    elif isinstance(s, Block):
        for x in s.stmts:
            _check_parallel(x, outer, simd)
    elif isinstance(s, If):
        _check_parallel(s.body, outer, simd)


MAX_UNROLLED = 1 << 16  # statements one unrolled loop nest may expand to


def _unroll_factor(loop):
    """How many copies of its body the compiler makes of `loop` (1: not unrolled)."""
    counts = [min(n, loop.extent) for k, n in loop.pragmas if k == "unroll"]
    return max(counts + ([loop.extent] if loop.kind == "unroll" else []), default=1)


def _unrolled_size(s):
    """The statements `s` becomes once the compiler unrolls what is marked: nested unrolled loops
    multiply (gcc unrolls each one that is marked, however large the body has grown). A nest that
    expands past MAX_UNROLLED statements is refused here, where it would otherwise keep gcc busy
    for minutes (until the build timeout) on one kernel."""
    if isinstance(s, Block):
        return sum(_unrolled_size(x) for x in s.stmts)
    if isinstance(s, If):
        return _unrolled_size(s.body)
    if not isinstance(s, For):
        return 1
    body = _unrolled_size(s.body)
    factor = _unroll_factor(s)
    if body * factor > MAX_UNROLLED:
        writes = sorted({x.buffer.name for x in _stores(s)})
        raise ScheduleError(f"loop {s.var.name!r} of the nest that writes {', '.join(writes)}: unrolling it "
                            f"{factor} times around a body that is {body} statements "
                            f"once its own marked loops are unrolled gives {body * factor}; at most {MAX_UNROLLED} "
                            "(the compiler would take minutes): unroll fewer nested loops, or split the loop and "
                            "unroll only the inner part")
    return body * factor


ACCUMULATOR_REGISTERS = 4  # a spilled unrolled accumulator's vectors x its updates: at most this many x the registers


def accumulator_fits(vectors, repeats, registers):
    """Does an unrolled accumulator tile of `vectors` vectors, updated `repeats` times over by
    unrolled loops its index does not read (a reduction's), compile in reasonable time? gcc keeps
    an unrolled tile in registers, live across the reduction around it: one that fits them always
    does. Past them it spills, and its time grows with the tile times its unrolled updates, about
    with the square (gcc 12 on an Intel Xeon: conv2d tiles of 128 vectors 5 s, 256 vectors 27 s, 512
    past the 120 s build timeout; depthwise tiles of 224 vectors 2.5 s, of 56 and 112 vectors with
    their 9 taps unrolled 2.6 s and 22 s, of 224 vectors with them past 200 s). So that product may
    be at most ACCUMULATOR_REGISTERS times the registers (128 vectors on AVX-512, 64 on AVX2)."""
    return vectors <= registers or vectors * repeats <= ACCUMULATOR_REGISTERS * registers


def unrolled_accumulators(body):
    """(store, [(loop, copies)] its index reads, [(loop, copies)] it does not) for each store into a
    local (stack) buffer inside loops that unrolling or vectorizing copies: the elements of the
    buffer the copies write are the product of the first, and each is written again by the copies
    of the second (search's templates count the same before they build a point)."""
    out = []

    def visit(s, copied):
        if isinstance(s, Block):
            for x in s.stmts:
                visit(x, copied)
        elif isinstance(s, If):
            visit(s.body, copied)
        elif isinstance(s, For):
            factor = _unroll_factor(s)
            if factor > 1:
                visit(s.body, copied + [(s, factor)])
            elif copied and s.kind == "vectorize":
                visit(s.body, copied + [(s, s.extent)])
            else:
                visit(s.body, copied)
        elif isinstance(s, Store) and copied and s.buffer.kind == "stack":
            read = [any(uses(i, lp.var) for i in s.indices) for lp, _ in copied]
            out.append((s, [c for c, r in zip(copied, read) if r], [c for c, r in zip(copied, read) if not r]))
    visit(body, [])
    return out


def _unrolled_accumulators(body):
    """Refuse an unrolled nest whose copies write a local (stack) buffer past what
    accumulator_fits allows on the CPU target. Only loops that unrolling or vectorizing copies
    count; a register tile unrolled along its reduction (k steps) stays one tile, updated k times."""
    from .target import resolve
    t = resolve(None)
    if t.kind != "c":
        return
    for s, loops, repeated in unrolled_accumulators(body):
        lanes = max(1, t.vector_bytes // E.dtypes.to_numpy(s.buffer.dtype).itemsize)
        elements, repeats = math.prod(n for _, n in loops), math.prod(n for _, n in repeated)
        vectors = -(-elements // lanes)
        if not accumulator_fits(vectors, repeats, t.registers):
            names = " x ".join(f"{lp.var.name} ({n})" for lp, n in loops)
            again = " x ".join(f"{lp.var.name} ({n})" for lp, n in repeated)
            raise ScheduleError(f"the unrolled loops {names} write {elements} elements of the local buffer "
                                f"{s.buffer.name!r}, {vectors} vectors, more than the target's {t.registers} "
                                f"vector registers" + (f", each {repeats} times over ({again})" if repeats > 1 else "")
                                + f"; at most {ACCUMULATOR_REGISTERS * t.registers} vector updates "
                                f"({ACCUMULATOR_REGISTERS}x the registers) past them: gcc would spill them and take "
                                "minutes to compile; unroll a smaller tile, or compute the local stage at a loop "
                                "nearer its tile (compute_at)")


def _stores(s):
    if isinstance(s, Store):
        yield s
    for x in s.stmts if isinstance(s, Block) else [s.body] if isinstance(s, (For, If)) else []:
        yield from _stores(x)
