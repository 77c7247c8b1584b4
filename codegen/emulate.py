"""The grid on the CPU: a lowered GPU kernel run with its bound loops as serial loops, so that its
index math is checked against the interpreter on a machine without a GPU.

The same lowered function the CUDA renderer renders is rendered as C, every loop bound to
blockIdx/threadIdx becoming a serial loop over that index (block after block, thread after
thread), each top-level statement (one launch) after the one before, as the launches run. The
launch rules of codegen.grid are checked as for CUDA, and loops CUDA refuses (OpenMP parallel)
are refused here too. Without barriers this order is one of the orders the GPU may run the
threads in, and since no two threads write the same element (reductions stay inside a thread;
bind refuses reduction axes), the result is the GPU's.
"""
from alt.errors import BuildError

from .c_render import CRenderer
from .grid import launch_dims, roots


class GridEmulator(CRenderer):
    """C for the CPU in which bound loops run serially (see the module doc)."""

    def render(self, func, max_threads=1024):
        for i, stmt in enumerate(roots(func.body)):
            launch_dims(stmt, f"launch {i} of {func.name!r}", max_threads)
        return super().render(func)

    def grid_loop(self, s, v, bound):
        return [f"for ({self.index_type} {v} = 0; {v} < {bound}; ++{v}) {{  /* {s.kind} */"]

    def loop_pragmas(self, loop):
        if loop.kind == "parallel":
            raise BuildError(f"loop {loop.var.name!r} is marked parallel, an OpenMP loop; on a CUDA target bind it "
                             "to blockIdx/threadIdx instead")
        return super().loop_pragmas(loop)


def emulation_program(func, cuda_target, host=None):
    """A codegen.CProgram running lowered GPU function `func` under the grid emulation on `host`
    (default: the CPU target in effect, or the host)."""
    from alt.target import Target, current
    from .compiler import compile_c
    from .cstyle import walk_stmts
    from .program import CProgram
    from alt.stmt import Store
    host = host or (current() if current().kind == "c" else Target.host())
    r = GridEmulator(host)
    source, fname = r.render(func, cuda_target.max_threads)
    path = compile_c(source, host, what=f"the grid emulation of {func.name!r}")
    written = {id(s.buffer) for s in walk_stmts(func.body) if isinstance(s, Store)}
    return CProgram(path, fname, func.args, [id(b) in written for b in func.args]), source
