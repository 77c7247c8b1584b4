"""The persistent GPU kernel of a recursive model (Cortex's whole-model kernel): one launch runs
every batch of nodes, its blocks meeting at a grid-wide barrier between the phases of a tile.

    extern "C" __global__ void alt_model_persistent(int nb, const int* bstart, const int* blen,
        const int* lchild, const int* lword, const float* weights, float* st, <tile buffers>,
        <temporaries>, int* alt_status, unsigned* alt_bar)

The host linearizes the batch (the C linearizer of codegen/linearize.c) and launches one block
per multiprocessor; the weights are packed once, pre-transformed (each 2-d weight read as W[j, k]
stored as W[k, j], so a warp reads a row of k contiguously) and stay in device memory (on an H200,
the whole L2 holds a TreeLSTM-256's weights for all levels). For each tile of `rows` nodes of a
batch: the blocks gather the children's states and the inputs into the tile buffers (grid-stride
loops), then run each stage of the cell computed at root (each a device function whose spatial
loops are split over blocks x threads, a block taking every gridDim-th block of work), then copy
the tile into the state array, a grid barrier after each phase.

pycuda has no cooperative launch (inducer/pycuda#253), so the barrier is ours: an arrival counter
and a generation word in global memory, which needs every block resident at once; the host
launches at most one block per multiprocessor, which the kernel's small resources guarantee.

The same text is compiled a second time for the CPU (`emulation=True`): each GPU thread a POSIX
thread with its block and thread index in thread-local variables, the grid barrier a
pthread_barrier, so that the driver's index math, the phases and the barriers are checked
against the numpy recursion where no GPU is. Identifiers are fixed or come from the cells'
sanitized names; no user string reaches the text.
"""
from dataclasses import dataclass, field

from .cuda_render import CUDARenderer
from .emulate import GridEmulator
from .grid import launch_dims, roots


@dataclass
class PersistentSpec:
    k: int  # children per node
    state_size: int
    rows: int  # nodes per tile
    threads: int  # threads per block (the CUDA target's)
    inputs: dict = field(default_factory=dict)  # name -> (row size, offset of the table in the weights, vocabulary)


class _GridStride:
    """Loops bound to blockIdx.x stride over the resident blocks; threadIdx.x is the thread's index."""
    kernel_prefix = "static __device__ "

    def grid_loop(self, s, v, bound):
        t = self.index_type
        if s.kind == "blockIdx.x":
            return [f"for ({t} {v} = ALT_BLOCK; {v} < {bound}; {v} += ALT_BLOCKS) {{"], 1
        if s.kind == "threadIdx.x":
            return [f"{{ const {t} {v} = ALT_THREAD;", f"if ({v} < {bound}) {{"], 2
        raise ValueError(f"a persistent cell binds only blockIdx.x and threadIdx.x, not {s.kind}")


class PersistentCellRenderer(_GridStride, CUDARenderer):
    pass


class EmulatedCellRenderer(_GridStride, GridEmulator):
    """The same cells as C: void functions with the CUDA status word, for POSIX threads."""
    kernel_prefix = "static "
    return_type = "void"
    oob_ref = "alt_status"
    oob_store = "__atomic_store_n(oob, 1, __ATOMIC_RELAXED);"

    def __init__(self, target=None):
        super().__init__(target)
        self.region_at, self.threaded = {}, set()

    def extra_params(self):
        return ["int* alt_status"]

    def finish(self, lines, temps):
        pass


CUDA_GRID = r"""
#define ALT_BLOCK ((int32_t)blockIdx.x)
#define ALT_BLOCKS ((int32_t)gridDim.x)
#define ALT_THREAD ((int32_t)threadIdx.x)
/* every block arrives, the last one resets the count and starts the next generation */
static __device__ void alt_grid_sync(unsigned* bar) {
  __syncthreads();
  if (threadIdx.x == 0) {
    volatile unsigned* gen = bar + 1;
    unsigned g = *gen;
    __threadfence();
    if (atomicAdd(bar, 1u) == gridDim.x - 1) {
      atomicExch(bar, 0u);
      __threadfence();
      atomicAdd(bar + 1, 1u);
    } else {
      while (*gen == g) { }
    }
    __threadfence();
  }
  __syncthreads();
}
#define ALT_SYNC() alt_grid_sync(alt_bar)
"""

EMULATED_GRID = r"""
#include <pthread.h>
#include <string.h>
static _Thread_local int32_t alt_block, alt_thread;
static int32_t alt_blocks;
static pthread_barrier_t alt_barrier;
#define ALT_BLOCK alt_block
#define ALT_BLOCKS alt_blocks
#define ALT_THREAD alt_thread
#define ALT_SYNC() pthread_barrier_wait(&alt_barrier)
"""


def _buffers(spec, cells):
    """Names of the driver's buffer parameters after the fixed ones: tile buffers, then temporaries."""
    names = [f"g{j}" for j in range(spec.k)] + [f"x{i}" for i in range(len(spec.inputs))] + ["tile"]
    for c in cells:
        names += [f"t_{c.name}_{i}" for i in range(len(c.func.temps))]
    return names


def driver_body(spec, cells):
    """The driver's statements (the same text for CUDA and the emulation)."""
    k, S, T = spec.k, spec.state_size, spec.rows
    used = {a for c in cells for a in c.args}
    lines = ["  const int gt = ALT_BLOCK * ALT_THREADS + ALT_THREAD, gs = ALT_BLOCKS * ALT_THREADS;",
             "  for (int b = 0; b < nb; ++b) {",
             "    const int lo = bstart[b], end = lo + blen[b];",
             f"    for (int t0 = lo; t0 < end; t0 += {T}) {{",
             f"      const int rows = end - t0 < {T} ? end - t0 : {T};",
             "      /* gather: the children's states and the inputs of the tile's nodes (a partial tile repeats "
             "its last node) */"]
    for j in range(k):
        if ("child", j) in used:
            lines += [f"      for (int e = gt; e < {T * S}; e += gs) {{",
                      f"        const int r = e / {S}, c = e - r * {S}, i = t0 + (r < rows ? r : rows - 1);",
                      f"        g{j}[e] = st[(size_t)lchild[i * {k} + {j}] * {S} + c];", "      }"]
    for i, (name, (size, offset, vocab)) in enumerate(spec.inputs.items()):
        if ("input", name) in used:
            lines += [f"      for (int e = gt; e < {T * size}; e += gs) {{",
                      f"        const int r = e / {size}, c = e - r * {size}, i = t0 + (r < rows ? r : rows - 1);",
                      f"        const int w = lword[i] < 0 ? {vocab} : lword[i];  /* row {vocab}: zeros */",
                      f"        x{i}[e] = weights[{offset} + (size_t)w * {size} + c];", "      }"]
    lines.append("      ALT_SYNC();")
    for kind, cond in (("leaf", "if (b == 0) {"), ("internal", "} else {")):
        lines.append(f"      {cond}")
        for c in cells:
            if c.kind == kind:
                for call in _calls(c, spec):
                    lines += [f"        {call};", "        ALT_SYNC();"]
    lines += ["      }",
              f"      for (int e = gt; e < rows * {S}; e += gs) st[(size_t)t0 * {S} + e] = tile[e];",
              "      ALT_SYNC();", "    }", "  }"]
    return lines


def _calls(cell, spec):
    """The calls of a cell's phases (one device function per stage computed at root)."""
    args = []
    for a in cell.args:
        if a[0] == "child":
            args.append(f"g{a[1]}")
        elif a[0] == "input":
            args.append(f"x{list(spec.inputs).index(a[1])}")
        elif a[0] == "weight":
            args.append(f"weights + {a[1]}")
        else:
            args.append("tile")
    args += [f"t_{cell.name}_{i}" for i in range(len(cell.func.temps))] + ["alt_status"]
    return [f"cell_{cell.name}_{i}({', '.join(args)})" for i in range(len(roots(cell.func.body)))]


FIXED = ("int nb, const int* bstart, const int* blen, const int* lchild, const int* lword, const float* weights, "
         "float* st")


def render(spec, cells, target, emulation=False, host=None):
    """(source, extra buffer names) of the persistent kernel for CUDA target `target`, or of its
    emulation on CPU target `host` (entry `int alt_emulate(<the kernel's parameters but the
    barrier>, int blocks)`)."""
    r = EmulatedCellRenderer(host) if emulation else PersistentCellRenderer(target)
    r.used = set()
    bodies = []
    for c in cells:
        for i, stmt in enumerate(roots(c.func.body)):
            launch_dims(stmt, f"phase {i} of cell {c.name}", target.max_threads, target.shared_bytes)
            bodies.append(r.function(c.func, f"cell_{c.name}_{i}", temps_as_args=True, body=stmt))
    names = _buffers(spec, cells)
    params = FIXED + "".join(f", float* {n}" for n in names) + ", int* alt_status"
    body = driver_body(spec, cells)
    consts = f"#define ALT_THREADS {spec.threads}\n"
    if not emulation:
        kernel = (f'extern "C" __global__ void __launch_bounds__({spec.threads}) '
                  f"alt_model_persistent({params}, unsigned* alt_bar) {{\n" + "\n".join(body) + "\n}\n")
        return r.header + r.helpers(r.used) + consts + CUDA_GRID + "\n".join(bodies) + "\n" + kernel, names
    driver = "\n".join([
        f"static void alt_body({params}) {{", *body, "}",
        "struct alt_job { int nb; const int *bstart, *blen, *lchild, *lword; const float* weights; float* st; "
        + " ".join(f"float* {n};" for n in names) + " int* alt_status; int32_t block, thread; };",
        "static void* alt_thread_main(void* p) {",
        "  struct alt_job* j = (struct alt_job*)p;",
        "  alt_block = j->block; alt_thread = j->thread;",
        "  alt_body(j->nb, j->bstart, j->blen, j->lchild, j->lword, j->weights, j->st, "
        + "".join(f"j->{n}, " for n in names) + "j->alt_status);",
        "  return 0;", "}",
        f"int alt_emulate({params}, int blocks) {{",
        f"  int n = blocks * ALT_THREADS, started = 0, rc = 0;",
        "  struct alt_job* jobs = (struct alt_job*)calloc((size_t)n, sizeof *jobs);",
        "  pthread_t* ids = (pthread_t*)calloc((size_t)n, sizeof *ids);",
        "  if (!jobs || !ids) { free(jobs); free(ids); return 1; }",
        "  alt_blocks = blocks;",
        "  pthread_barrier_init(&alt_barrier, 0, (unsigned)n);",
        "  pthread_attr_t attr; pthread_attr_init(&attr); pthread_attr_setstacksize(&attr, 1 << 20);",
        "  for (int t = 0; t < n; ++t) {",
        "    struct alt_job j = {nb, bstart, blen, lchild, lword, weights, st, " + "".join(f"{n}, " for n in names)
        + "alt_status, t / ALT_THREADS, t % ALT_THREADS};",
        "    jobs[t] = j;",
        "    if (pthread_create(&ids[t], &attr, alt_thread_main, &jobs[t])) { rc = 1; break; }",
        "    started += 1;",
        "  }",
        "  /* a thread that could not start would leave the others waiting at the barrier forever */",
        "  if (rc) { fprintf(stderr, \"alt: the grid emulation could not start %d threads\\n\", n); abort(); }",
        "  for (int t = 0; t < started; ++t) pthread_join(ids[t], 0);",
        "  pthread_attr_destroy(&attr); pthread_barrier_destroy(&alt_barrier);",
        "  free(jobs); free(ids);",
        "  return rc;", "}"])
    head = r.header + "#include <stdio.h>\n#include <stdlib.h>\n" + consts + EMULATED_GRID
    return head + r.helpers(r.used) + "\n" + "\n".join(bodies) + "\n" + driver + "\n", names
