"""CRenderer: C99 with OpenMP pragmas, for gcc (the CPU targets)."""
from alt import buffers, dtypes

from .cstyle import INDEX_OUT_OF_BOUNDS, CStyleRenderer


class CRenderer(CStyleRenderer):
    """C99 + OpenMP: parallel and simd loops, gcc unrolling, temporaries from aligned_alloc,
    64-byte aligned local tiles, and glibc's vector math where it links."""
    includes = "#include <stdint.h>\n#include <stdbool.h>\n#include <stdlib.h>\n#include <math.h>\n"
    local_suffix = " __attribute__((aligned(64)))"
    oob_store = "__atomic_store_n(oob, 1, __ATOMIC_RELAXED);"  # OpenMP threads may flag at once

    @property
    def header(self):
        # ALT_MVEC (set by the compiler where glibc's libmvec links): exp/log/tanh on whole vectors
        # in simd loops, declared at the target's vector width (libmvec's variants are per ISA)
        return self.includes + mvec_declarations(self.target)

    def alloc_temps(self, temps):
        lines = []
        for b in temps:
            t, n = dtypes.to_c(b.dtype), self.namer(b, b.name)
            size = buffers.padded_bytes(b)
            lines.append(f"  {t}* {self.restrict} {n} = ({t}*)aligned_alloc({buffers.ALIGN}, {size});")
            lines.append(f"  if (!{n}) return 1;")
        return lines

    def finish(self, lines, temps):
        for b in temps:
            lines.append(f"  free({self.namer(b, b.name)});")
        if self.checked:  # some index came from data: report one that was out of bounds
            lines.insert(1, "  int alt_oob = 0;")
            lines.append(f"  if (alt_oob) return {INDEX_OUT_OF_BOUNDS};")
        lines.append("  return 0;")

    def loop_pragmas(self, loop):
        out = []
        if loop.kind == "parallel":
            out.append("#pragma omp parallel for")
        elif loop.kind == "vectorize":
            out.append("#pragma omp simd")
        elif loop.kind == "unroll":
            out.append(f"#pragma GCC unroll {loop.extent}")
        for key, value in loop.pragmas:
            out.append({"unroll": f"#pragma GCC unroll {value}", "ivdep": "#pragma GCC ivdep",
                        "simd": "#pragma omp simd"}[key])
        return out


def mvec_declarations(target):
    """`#pragma omp declare simd` for the math functions at the target's vector width (C text)."""
    return ("#ifdef ALT_MVEC\n" +
            "".join(f"#pragma omp declare simd simdlen({target.lanes(dt)}) notinbranch\n{t} {f}({t});\n"
                    for t, dt, names in (("float", "float32", ("expf", "logf", "tanhf")),
                                         ("double", "float64", ("exp", "log", "tanh")))
                    for f in names) +
            "#endif\n")
