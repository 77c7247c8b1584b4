"""CUDARenderer: CUDA C++ for nvcc, one __global__ function per launch of a lowered function.

What differs from C is attributes and hooks of the shared base (codegen.cstyle): the kernel
prefix, __restrict__, device helpers, unrolling with `#pragma unroll`, no OpenMP, and loops bound
to blockIdx/threadIdx entered as an index plus a guard. A vectorized loop of 2 or 4 float32 lanes
whose reads are contiguous and aligned is one float2/float4 load per read and one store (the
base's rule, codegen.cstyle); any other vector loop runs its lanes one by one. Temporaries are device buffers passed as
arguments; an out-of-range data-dependent index sets the status word `alt_status` (the program
reads it back after the launches).
"""
from .cstyle import CStyleRenderer, c_identifier
from .grid import Launch, launch_dims, refuse_parallel, roots


class CUDARenderer(CStyleRenderer):
    kernel_prefix = 'extern "C" __global__ '
    return_type = "void"
    restrict = "__restrict__"
    includes = "#include <stdint.h>\n#include <math.h>\n"
    helper_qualifier = "static __device__ __forceinline__ "
    oob_ref = "alt_status"
    oob_store = "*oob = 1;"  # every writer writes 1: the race is benign
    shared_prefix = "__shared__ "
    barrier = "__syncthreads();"
    vector_types = {2: "float2", 4: "float4"}
    local_suffix = " __align__(16)"  # a thread's local tile may be read a float4 at a time

    def render(self, func):
        """(CUDA source, [Launch]): one kernel per top-level statement of `func` (a stage computed
        at root), each taking every argument, then every temporary, then the status word."""
        self.used = set()
        base = "alt_" + c_identifier(func.name)
        bodies, launches = [], []
        for i, stmt in enumerate(roots(func.body)):
            fname = f"{base}k{i}"
            grid, block = launch_dims(stmt, f"kernel {fname}", self.target.max_threads, self.target.shared_bytes)
            bodies.append(self.function(func, fname, temps_as_args=True, body=stmt))
            launches.append(Launch(fname, grid, block))
        return self.header + self.helpers(self.used) + "\n" + "\n".join(bodies), launches

    def extra_params(self):
        return ["int* alt_status"]

    def finish(self, lines, temps):
        pass  # void: falls off the end

    def loop_pragmas(self, loop):
        refuse_parallel(loop)
        out = []
        if loop.kind in ("unroll", "vectorize"):  # a thread runs a vector loop's lanes one by one
            out.append("#pragma unroll")
        for key, value in loop.pragmas:
            if key == "unroll":
                out.append(f"#pragma unroll {value}")
        return out

    def grid_loop(self, s, v, bound):
        return [f"{{ const {self.index_type} {v} = ({self.index_type}){s.kind};", f"if ({v} < {bound}) {{"], 2
