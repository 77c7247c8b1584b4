"""The grid on the CPU: a lowered GPU kernel run so that its index math and its barriers are
checked against the interpreter on a machine without a GPU.

The same lowered function the CUDA renderer renders is rendered as C. Each top-level statement
(one launch) runs after the one before, as the launches do, and its blocks run one after another.
Within a block:
  - without barriers, every loop bound to threadIdx is a serial loop (thread after thread): one
    of the orders a GPU may run the threads in, and since no two threads write one element
    (bind refuses reduction axes), the GPU's result;
  - with barriers (a shared copy, cache_read), the block's threads are OpenMP threads, one per GPU
    thread, meeting at `#pragma omp barrier` where CUDA has __syncthreads(): the kernel is split
    into phases at each barrier exactly as on the GPU. Shared copies are declared outside the
    parallel region (one per block), everything else inside it (private to a thread).
The launch rules of codegen.grid are checked as for CUDA, and loops CUDA refuses (OpenMP
parallel) are refused here too. Vector loops are rendered with float2/float4 as for CUDA (C
structs of the same size and alignment, read and written whole with memcpy), so the emulation
checks the vector accesses' index math as well.
"""
from alt import stmt as S
from alt.cuda_target import THREAD_TAGS

from .c_render import CRenderer
from .cstyle import TEAM_TOO_SMALL, walk_stmts, writes
from .grid import launch_dims, refuse_parallel, roots


class GridEmulator(CRenderer):
    """C for the CPU in which the grid's loops run as the module doc says."""
    shared_prefix = ""  # declared at the function's top: shared by the block's OpenMP threads
    barrier = "#pragma omp barrier"
    vector_types = {2: "float2", 4: "float4"}
    VECTOR_SHIM = ("#include <string.h>\n"
                   "typedef struct { float x, y; } __attribute__((aligned(8))) float2;\n"
                   "typedef struct { float x, y, z, w; } __attribute__((aligned(16))) float4;\n"
                   "#define ALT_VECTOR_IO(T) static inline T alt_load_##T(const float* p) { T v; "
                   "memcpy(&v, p, sizeof v); return v; } static inline void alt_store_##T(float* p, T v) { "
                   "memcpy(p, &v, sizeof v); }\n"
                   "ALT_VECTOR_IO(float2)\nALT_VECTOR_IO(float4)\n")

    def render(self, func, cuda_target):
        self.region_at, self.threaded = {}, set()
        for i, stmt in enumerate(roots(func.body)):
            _, block = launch_dims(stmt, f"launch {i} of {func.name!r}", cuda_target.max_threads,
                                   cuda_target.shared_bytes)
            if any(isinstance(x, S.Barrier) for x in walk_stmts(stmt)):
                loops = [x for x in walk_stmts(stmt) if isinstance(x, S.For) and x.kind in THREAD_TAGS]
                self.region_at[id(loops[0])] = block
                self.threaded |= {id(x) for x in loops}
        return super().render(func)

    @property
    def header(self):
        return super().header + ("#include <omp.h>\n" if self.region_at else "") + self.VECTOR_SHIM

    def vector_load(self, vtype, ref):
        return f"alt_load_{vtype}(&{ref})"

    def vector_store(self, vtype, ref, value):
        return f"alt_store_{vtype}(&{ref}, {value});"

    def grid_loop(self, s, v, bound):
        t = self.index_type
        if id(s) not in self.threaded:  # a block, or a thread of a block without barriers
            return [f"for ({t} {v} = 0; {v} < {bound}; ++{v}) {{  /* {s.kind} */"], 1
        lines = []
        if id(s) in self.region_at:  # the block's threads start here, as an OpenMP team
            bx, by, bz = self.region_at[id(s)]
            n = bx * by * bz
            lines += [f"#pragma omp parallel num_threads({n})", "{",
                      f"const {t} alt_tid = ({t})omp_get_thread_num();",
                      f"if (omp_get_num_threads() != {n}) alt_team = 1;",
                      f"const {t} alt_tx = alt_tid % {bx}, alt_ty = alt_tid / {bx} % {by}, alt_tz = alt_tid / "
                      f"{bx * by};"]
        axis = s.kind[-1]
        lines += [f"{{ const {t} {v} = alt_t{axis};", f"if ({v} < {bound}) {{"]
        return lines, 3 if id(s) in self.region_at else 2  # the team's braces, then the index's and the guard's

    def finish(self, lines, temps):
        if self.region_at:
            lines.insert(1, "  int alt_team = 0;")
            lines.append(f"  if (alt_team) return {TEAM_TOO_SMALL};")
        super().finish(lines, temps)

    def loop_pragmas(self, loop):
        refuse_parallel(loop)
        return super().loop_pragmas(loop)


def emulation_program(func, cuda_target, host=None):
    """(codegen.CProgram, C source) running lowered GPU function `func` under the grid emulation
    on `host` (default: the CPU target in effect, or the host)."""
    from alt.target import Target, current
    from .compiler import compile_c
    from .program import CProgram
    host = host or (current() if current().kind == "c" else Target.host())
    r = GridEmulator(host)
    source, fname = r.render(func, cuda_target)
    path = compile_c(source, host, what=f"the grid emulation of {func.name!r}")
    return CProgram(path, fname, func.args, writes(func)), source
