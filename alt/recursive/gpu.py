"""A recursive model on the GPU: one persistent kernel per model (codegen.recursive_cuda).

    net = alt.recursive.compile(model, target="cuda")   # net.cubin: nvcc's output (compiled on first use)
    roots = net(batch)                                   # on the GPU
    roots = net.emulate(batch)                           # the same kernel on the CPU (no GPU needed)

The batch is linearized on the host by the same C linearizer as on the CPU; the tiles' node lists
and the states' row numbers go to the device, the kernel runs every batch of nodes, and the
roots' states are read back. Each cell's stages computed at root are the kernel's phases: the
elementwise tail is inlined into the state's phase (as on the CPU), the matrix products are one
thread per output element (blocks of the target's `threads`), their weights stored transposed.
Recursion options of the CPU path that the GPU path does not have (level tiles, hoisting, the
fused-cell knobs) are refused; leaves always run the leaf cell (leaf specialization).
"""
import threading

import numpy as np

from ..errors import BuildError
from ..lower import lower
from ..schedule import create_schedule
from .model import ModelError, cell_definition
from .schedule import _read_by_reductions, _transpose_weights

GPU_ROWS = 32  # nodes per tile: a level of a batch of SST trees is rarely wider
GPU_OPTIONS = ("batching", "rows")  # the others are the CPU path's (level tiles, hoisting, fused-cell knobs)


def schedule_cell_gpu(state, threads):
    """The GPU schedule of a cell's state tensor: views and cheap elementwise stages inlined, every
    stage computed at root split over blocks of `threads` threads (one thread per element)."""
    s = create_schedule(state)
    _transpose_weights(s)
    costly = _read_by_reductions(s)
    for st in list(s.stages):
        if st.op.tag == "view" or (not st.reduce_axis and st.tensor is not state and id(st.tensor) not in costly):
            st.compute_inline()
    for st in list(s.stages):
        if st.attach is None:
            spatial = [v for v in st.leaves if v.kind != "reduce"]
            st.reorder(*spatial, *[v for v in st.leaves if v.kind == "reduce"])
            loop = st.fuse(*spatial) if len(spatial) > 1 else spatial[0]
            outer, inner = st.split(loop, factor=threads)
            st.bind(outer, "blockIdx.x")
            st.bind(inner, "threadIdx.x")
    return s


def compile_cuda(model, target, options):
    """The CUDAModel of `model` for CUDA target `target`; `options` may set batching (off: tiles of
    one node) and rows (nodes per tile, default GPU_ROWS)."""
    from codegen.recursive import CellCode
    from codegen.recursive_cuda import PersistentSpec, render
    from .compile import _Packer, _cell_code, _whole
    bad = sorted(set(options) - set(GPU_OPTIONS))
    if bad:
        raise ModelError(f"recursive compile for {target}: option {bad[0]!r} is the CPU path's; the persistent kernel "
                         f"takes only {list(GPU_OPTIONS)} (it has no level tiles or hoisting, and always "
                         "specializes leaves)")
    rows = options.get("rows", GPU_ROWS)
    _whole("rows", rows, 256, "a tile of 1..256 nodes")
    rows = rows if options.get("batching", True) else 1
    opts = {"batching": bool(options.get("batching", True)), "rows": rows}
    packed = _Packer()
    spec = PersistentSpec(k=model.max_children, state_size=model.state_size, rows=rows, threads=target.threads)
    for name, table in model.inputs.items():
        spec.inputs[name] = (table.shape[1], packed.add(np.vstack([table, np.zeros((1, table.shape[1]), "f4")])),
                             model.vocab)
    cells = []
    for which in ("leaf", "internal"):
        cell, state = cell_definition(model, which, rows)
        s = schedule_cell_gpu(state, target.threads)
        args, kinds = _cell_code(model, cell, state, s, packed)
        with target:
            cells.append(CellCode(which, lower(s, args, name=f"{model.name}_{which}_{rows}"), kinds, rows))
    source, names = render(spec, cells, target)
    return CUDAModel(model, opts, target, spec, cells, source, names, packed.buffer())


class CUDAModel:
    """net(batch) on the GPU (pycuda and an NVIDIA GPU), net.emulate(batch) on the CPU; both
    (len(batch), output size) float32 arrays of the roots' states. Calls are serialized by a lock
    (the emulation's barrier and the device context are one per process)."""

    def __init__(self, model, options, target, spec, cells, source, names, weights):
        self.model, self.options, self.target, self.source = model, options, target, source
        self._spec, self._cells, self._names, self._weights = spec, cells, names, weights
        self._sizes = self._buffer_sizes()
        self._cubin = self._emulation = self._linearizer = self._gpu = None
        self._lock = threading.Lock()

    @property
    def cubin(self):
        """Path of the kernel compiled by nvcc for the target's architecture (compiled on first use,
        cached by source; a BuildError where nvcc is missing, a CompileError quoting what it rejected)."""
        if self._cubin is None:
            from codegen.nvcc import compile_cuda as nvcc
            self._cubin = nvcc(self.source, self.target, what=f"the persistent kernel of model {self.model.name}")
        return self._cubin

    def _buffer_sizes(self):
        spec, T = self._spec, self._spec.rows
        sizes = [T * spec.state_size] * spec.k + [T * size for size, _, _ in spec.inputs.values()] + \
            [T * spec.state_size]
        for c in self._cells:
            sizes += [b.size for b in c.func.temps]
        return sizes

    # the host's part ----------------------------------------------------------------------------
    def _linearize(self, batch):
        """(nb, bstart, blen, lchild, lword, newid, roots) of a checked batch."""
        from .compile import prepare_batch
        child, word, roots = prepare_batch(self.model, batch)
        lib, ffi = self._linearizer_lib()
        n, k = len(word), self.model.max_children
        newid, lchild, lword = np.empty(n, np.int32), np.empty((n + 1) * k, np.int32), np.empty(n + 1, np.int32)
        bstart, blen = np.empty(n, np.int32), np.empty(n, np.int32)
        scratch, nb, bad = np.empty(3 * n + 1 + n * k, np.int32), np.zeros(1, np.int32), np.zeros(1, np.int32)
        p = lambda a: ffi.cast("int*", a.ctypes.data)  # noqa: E731
        rc = lib.alt_linearize_host(n, k, int(self.model.kind != "dag"), p(child), p(word), p(newid), p(lchild),
                                    p(lword), p(bstart), p(blen), p(nb), p(scratch), p(bad))
        if rc:
            from .compile import LINEARIZE_ERRORS
            from .structure import StructureError
            raise StructureError(f"model {self.model.name}: node {int(bad[0])} of the batch "
                                 f"{LINEARIZE_ERRORS.get(rc, f'is wrong (code {rc})')}")
        return int(nb[0]), bstart, blen, lchild, lword, newid, roots

    def _linearizer_lib(self):
        if self._linearizer is None:
            from codegen import compile_c
            from codegen.program import load_library
            from codegen.recursive import LINEARIZE
            src = ("#include <string.h>\n" + LINEARIZE +
                   "int alt_linearize_host(int n, int k, int tree, const int* child, const int* word, int* newid, "
                   "int* lchild, int* lword, int* bstart, int* blen, int* nb, int* scratch, int* bad) {\n"
                   "  int first_leaf, first_const;\n"
                   "  return alt_linearize(n, k, tree, child, word, newid, lchild, lword, bstart, blen, nb, "
                   "&first_leaf, &first_const, scratch, bad);\n}\n")
            sig = ("int alt_linearize_host(int n, int k, int tree, const int* child, const int* word, int* newid, "
                   "int* lchild, int* lword, int* bstart, int* blen, int* nb, int* scratch, int* bad)")
            ffi, lib = load_library(str(compile_c(src, None, what="the host linearizer")), "alt_linearize_host",
                                    signature=sig)
            self._linearizer = (lib, ffi)
        return self._linearizer

    def _roots(self, st, newid, roots):
        S, off, size = self.model.state_size, self.model.offsets[self.model.output], self.model.states[self.model.output]
        rows = st.reshape(-1, S)[newid[roots]]
        return np.ascontiguousarray(rows[:, off:off + size])

    # running ------------------------------------------------------------------------------------
    def emulate(self, batch, blocks=2):
        """The persistent kernel on the CPU: `blocks` blocks of the target's threads, each GPU thread
        a POSIX thread (so keep the target's threads small, e.g. 'cuda -threads=32')."""
        if not isinstance(blocks, int) or isinstance(blocks, bool) or not 1 <= blocks <= 64:
            raise ModelError(f"model {self.model.name}: emulate(blocks={blocks!r}); give 1..64 blocks")
        if blocks * self._spec.threads > 4096:
            raise ModelError(f"model {self.model.name}: emulating {blocks} blocks of {self._spec.threads} threads "
                             f"needs {blocks * self._spec.threads} POSIX threads; compile for a target with fewer "
                             "threads a block (e.g. 'cuda -threads=32') or emulate fewer blocks")
        nb, bstart, blen, lchild, lword, newid, roots = self._linearize(batch)
        n = len(newid)
        with self._lock:
            ffi, lib = self._emulation_lib()
            st = np.zeros((n + 1) * self._spec.state_size, np.float32)
            bufs = [np.zeros(max(1, size), np.float32) for size in self._sizes]
            status = np.zeros(1, np.int32)
            f = ffi.cast
            rc = lib.alt_emulate(nb, f("int*", bstart.ctypes.data), f("int*", blen.ctypes.data),
                                 f("int*", lchild.ctypes.data), f("int*", lword.ctypes.data),
                                 f("float*", self._weights.ctypes.data), f("float*", st.ctypes.data),
                                 *[f("float*", b.ctypes.data) for b in bufs], f("int*", status.ctypes.data), blocks)
        if rc or status[0]:
            raise BuildError(f"model {self.model.name}: the grid emulation failed (code {rc}, status {status[0]})")
        return self._roots(st, newid, roots)

    def _emulation_lib(self):
        if self._emulation is None:
            from alt.target import Target
            from codegen import compile_c
            from codegen.program import load_library
            from codegen.recursive_cuda import FIXED, render
            host = Target.host()
            source, names = render(self._spec, self._cells, self.target, emulation=True, host=host)
            sig = (f"int alt_emulate({FIXED}" + "".join(f", float* {n}" for n in names) +
                   ", int* alt_status, int blocks)")
            path = compile_c(source, host, what=f"the grid emulation of model {self.model.name}")
            self._emulation = load_library(str(path), "alt_emulate", signature=sig)
        return self._emulation

    def __call__(self, batch):
        from codegen.cuda_program import device_arch
        if device_arch() is None:
            raise BuildError(f"model {self.model.name}: running the persistent kernel needs pycuda "
                             "(pip install -e '.[cuda]') and an NVIDIA GPU; `emulate(batch)` runs it on the CPU")
        nb, bstart, blen, lchild, lword, newid, roots = self._linearize(batch)
        with self._lock:
            st = self._run_gpu(nb, bstart, blen, lchild, lword, len(newid))
        return self._roots(st, newid, roots)

    def _run_gpu(self, nb, bstart, blen, lchild, lword, n):
        import pycuda.driver as cuda
        from codegen.cuda_program import _context, _lock
        with _lock:
            ctx = _context()
            ctx.push()
            try:
                if self._gpu is None:
                    module = cuda.module_from_file(str(self.cubin))
                    sms = ctx.get_device().get_attribute(cuda.device_attribute.MULTIPROCESSOR_COUNT)
                    self._gpu = (module, module.get_function("alt_model_persistent"), cuda.to_device(self._weights),
                                 sms)
                _, fn, weights, blocks = self._gpu
                S = self._spec.state_size
                st = cuda.mem_alloc((n + 1) * S * 4)
                cuda.memset_d32(st, 0, (n + 1) * S)
                bufs = [cuda.mem_alloc(max(1, size) * 4) for size in self._sizes]
                status, bar = cuda.to_device(np.zeros(1, np.int32)), cuda.to_device(np.zeros(2, np.uint32))
                arrays = [cuda.to_device(a) for a in (bstart, blen, lchild, lword)]
                fn(np.int32(nb), *arrays, weights, st, *bufs, status, bar, block=(self._spec.threads, 1, 1),
                   grid=(int(blocks), 1, 1))
                cuda.Context.synchronize()
                out, flag = np.empty((n + 1) * S, np.float32), np.zeros(1, np.int32)
                cuda.memcpy_dtoh(out, st)
                cuda.memcpy_dtoh(flag, status)
            finally:
                ctx.pop()
        if flag[0]:
            raise BuildError(f"model {self.model.name}: the persistent kernel flagged an out-of-range index")
        return out
