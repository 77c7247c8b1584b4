"""The launch grid of a lowered GPU kernel: which loops are bound to blockIdx/threadIdx, and the
rules both the CUDA renderer and the CPU emulation of the grid rely on.

A lowered function's top-level statements (one per stage computed at root) become one kernel
launch each, in order. In each, the bound loops must come first: a bound loop may sit only under
other bound loops and guards (an `if` of a non-dividing split), never under a serial loop or
beside other statements, because every thread of the grid runs the whole body. Each tag is
used once per launch; the blocks' threads multiply to at most the target's max_threads.
"""
from dataclasses import dataclass

from alt import stmt as S
from alt.cuda_target import BLOCK_TAGS, MAX_THREADS, THREAD_TAGS
from alt.errors import BuildError


@dataclass(frozen=True)
class Launch:
    """One kernel launch: its function name, grid and block dimensions (x, y, z)."""
    fname: str
    grid: tuple
    block: tuple

    @property
    def threads(self):
        return self.block[0] * self.block[1] * self.block[2]


def _bound(s):
    from .cstyle import walk_stmts
    return any(isinstance(x, S.For) and x.kind in BLOCK_TAGS + THREAD_TAGS for x in walk_stmts(s))


def roots(body):
    """The top-level statements of a lowered body: one launch each."""
    return list(body.stmts) if isinstance(body, S.Block) else [body]


def launch_dims(stmt, what, max_threads=MAX_THREADS):
    """(grid, block) of one top-level statement, checked against the rules of the module doc;
    `what` names the kernel in errors."""
    dims = {}

    def walk(s, prefix):
        if isinstance(s, S.For):
            if s.kind in BLOCK_TAGS + THREAD_TAGS:
                if not prefix:
                    raise BuildError(f"{what}: loop {s.var.name!r} is bound to {s.kind} inside a serial loop or next "
                                     "to other statements; bind the outermost loops of a stage (every thread runs "
                                     "the whole kernel body)")
                if s.kind in dims:
                    raise BuildError(f"{what}: two loops are bound to {s.kind} in one launch")
                dims[s.kind] = s.extent
                walk(s.body, True)
            else:
                walk(s.body, False)
        elif isinstance(s, S.If):
            walk(s.body, prefix)
        elif isinstance(s, S.Block):
            local = [x for x in s.stmts if isinstance(x, S.Allocate)]
            if prefix and local and any(_bound(x) for x in s.stmts):
                raise BuildError(f"{what}: local buffer {local[0].buffer.name!r} is filled outside the thread loops "
                                 "(a stage computed at a block loop); shared-memory staging is not supported yet: "
                                 "compute it at a thread loop or inside")
            for x in s.stmts:
                walk(x, prefix and len(s.stmts) == 1)

    walk(stmt, True)
    if not dims:
        raise BuildError(f"{what}: no loop is bound to blockIdx or threadIdx; bind the stage's loops "
                         "(Stage.bind) or schedule it with alt.ops.gpu_schedule")
    grid = tuple(dims.get(t, 1) for t in BLOCK_TAGS)
    block = tuple(dims.get(t, 1) for t in THREAD_TAGS)
    if block[0] * block[1] * block[2] > max_threads:
        raise BuildError(f"{what}: {block[0] * block[1] * block[2]} threads a block; the target allows {max_threads}")
    return grid, block
