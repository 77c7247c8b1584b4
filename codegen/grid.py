"""The launch grid of a lowered GPU kernel: which loops are bound to blockIdx/threadIdx, and the
rules both the CUDA renderer and the CPU emulation of the grid rely on.

A lowered function's top-level statements (one per stage computed at root) become one kernel
launch each, in order. In each, the bound loops must come first: a bound loop may sit only under
other bound loops and guards (an `if` of a non-dividing split), never under a serial loop or
beside other statements, because every thread of the grid runs the whole body. Each tag is
bound once per launch; the blocks' threads multiply to at most the target's max_threads. Below
them, a loop bound to a thread tag already bound around it is a cooperative loop (the fetch of a
shared copy): the block's threads along that tag share its iterations, so it has at most as many.
A barrier must be reached by every thread of the block: never under an `if`, a guarded
(non-dividing) loop or a cooperative loop. The shared copies fit the target's shared memory.
"""
from dataclasses import dataclass

from alt import dtypes
from alt import stmt as S
from alt.cuda_target import BLOCK_TAGS, MAX_THREADS, THREAD_TAGS
from alt.errors import BuildError

from .cstyle import walk_stmts


@dataclass(frozen=True)
class Launch:
    """One kernel launch: its function name, grid and block dimensions (x, y, z)."""
    fname: str
    grid: tuple
    block: tuple

    @property
    def threads(self):
        return self.block[0] * self.block[1] * self.block[2]


def _binds(s, bound):
    """Does `s` hold a loop bound to a tag that no loop around it (in `bound`) has?"""
    return any(isinstance(x, S.For) and x.kind in BLOCK_TAGS + THREAD_TAGS and x.kind not in bound
               for x in walk_stmts(s))


def refuse_parallel(loop):
    """A loop marked OpenMP parallel has no place on the grid (CUDA and its emulation alike)."""
    if loop.kind == "parallel":
        raise BuildError(f"loop {loop.var.name!r} is marked parallel, an OpenMP loop; on a CUDA target bind it "
                         "to blockIdx/threadIdx instead")


def roots(body):
    """The top-level statements of a lowered body: one launch each."""
    return list(body.stmts) if isinstance(body, S.Block) else [body]


def launch_dims(stmt, what, max_threads=MAX_THREADS, shared_bytes=None):
    """(grid, block) of one top-level statement, checked against the rules of the module doc;
    `what` names the kernel in errors."""
    dims = {}

    def walk(s, prefix, bound, guarded):
        """`prefix`: only bound loops and guards above; `bound`: tags of the loops above;
        `guarded`: what makes some threads skip this statement (a barrier must not be there)."""
        if isinstance(s, S.For):
            if s.kind in BLOCK_TAGS + THREAD_TAGS:
                if s.kind in bound:  # a cooperative loop: the block's threads share its iterations
                    if s.kind in BLOCK_TAGS or s.extent > dims[s.kind]:
                        raise BuildError(f"{what}: loop {s.var.name!r} is bound to {s.kind} inside a loop bound to "
                                         f"it; a copy's thread loop must be a thread tag with at most "
                                         f"{dims[s.kind]} iterations (the block's threads along it)")
                    walk(s.body, False, bound, guarded or f"the thread loop {s.var.name!r} (some threads idle)")
                    return
                if not prefix:
                    raise BuildError(f"{what}: loop {s.var.name!r} is bound to {s.kind} inside a serial loop or next "
                                     "to other statements; bind the outermost loops of a stage (every thread runs "
                                     "the whole kernel body)")
                dims[s.kind] = s.extent
                walk(s.body, True, bound | {s.kind},
                     guarded or (f"the guard of the non-dividing loop {s.var.name!r}" if s.bounds else None))
            else:
                walk(s.body, False, bound, guarded or (f"the bounded loop {s.var.name!r}" if s.bounds else None))
        elif isinstance(s, S.If):
            walk(s.body, prefix, bound, guarded or "an if")
        elif isinstance(s, S.Block):
            local = [x for x in s.stmts if isinstance(x, S.Allocate) and x.buffer.kind != "shared"]
            if prefix and local and any(_binds(x, bound) for x in s.stmts):
                raise BuildError(f"{what}: local buffer {local[0].buffer.name!r} is filled outside the thread loops "
                                 "(a stage computed at a block loop); compute it at a thread loop or inside, or "
                                 "make it a shared copy (cache_read)")
            for x in s.stmts:
                walk(x, prefix and len(s.stmts) == 1, bound, guarded)
        elif isinstance(s, S.Barrier):
            if not any(t in bound for t in THREAD_TAGS):
                raise BuildError(f"{what}: a barrier outside the thread loops; compute the shared copy at a loop "
                                 "inside them")
            if guarded:
                raise BuildError(f"{what}: a barrier under {guarded}: threads that skip it would never meet the "
                                 "others there; make the thread loops divide their extents exactly")

    walk(stmt, True, frozenset(), None)
    if not dims:
        raise BuildError(f"{what}: no loop is bound to blockIdx or threadIdx; bind the stage's loops "
                         "(Stage.bind) or schedule it with alt.ops.gpu_schedule")
    grid = tuple(dims.get(t, 1) for t in BLOCK_TAGS)
    block = tuple(dims.get(t, 1) for t in THREAD_TAGS)
    if block[0] * block[1] * block[2] > max_threads:
        raise BuildError(f"{what}: {block[0] * block[1] * block[2]} threads a block; the target allows {max_threads}")
    used = sum(b.size * dtypes.to_numpy(b.dtype).itemsize for b in shared_buffers(stmt))
    if shared_bytes is not None and used > shared_bytes:
        raise BuildError(f"{what}: {used} bytes of shared memory a block ({', '.join(b.name for b in shared_buffers(stmt))}); "
                         f"the target allows {shared_bytes}; make the shared tiles smaller")
    return grid, block


def shared_buffers(stmt):
    """The shared-memory buffers allocated in `stmt` (declared once at the kernel's top)."""
    return [x.buffer for x in walk_stmts(stmt) if isinstance(x, S.Allocate) and x.buffer.kind == "shared"]
