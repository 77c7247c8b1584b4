"""Program: a compiled kernel loaded through cffi (ABI mode), checked calls and timing."""
import ctypes
import subprocess
import threading

import cffi
import numpy as np

from alt import buffers, dtypes
from alt.buffers import ALIGN, padded_bytes
from alt.errors import ArgumentError, BuildError, ComputeError
from alt.timing import benchmark, measure

from .compiler import compiler

_loaded = {}  # path -> (ffi, lib): libraries are never closed (see _pin_openmp)
_gomp = []
_load_lock = threading.Lock()


def _pin_openmp():
    """Load libgomp once for the life of the process.

    Kernels link libgomp; if the last kernel library were closed, libgomp would be unloaded
    while its idle worker threads still run its code, and the process would crash.
    """
    if _gomp:
        return
    name = "libgomp.so.1"
    try:
        out = subprocess.run([compiler(), "-print-file-name=libgomp.so"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and "/" in out.stdout:
            name = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        _gomp.append(ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL))
    except OSError:
        _gomp.append(ctypes.CDLL("libgomp.so.1", mode=ctypes.RTLD_GLOBAL))


def load_library(path, fname, nargs=0, signature=None):
    """(ffi, lib) of a shared library whose function `fname` takes `nargs` pointers (or has the C
    declaration `signature`); loaded once."""
    key = (path, fname)
    with _load_lock:  # builds may run in threads
        if key not in _loaded:
            _pin_openmp()
            ffi = cffi.FFI()
            ffi.cdef((signature or f"int {fname}({', '.join(['void*'] * nargs) or 'void'})") + ";")
            _loaded[key] = (ffi, ffi.dlopen(path))
        return _loaded[key]


class Workspace:
    """Scratch memory for compiled code, one buffer per calling thread, aligned and grown on demand.

    cffi releases the GIL during a call, so two threads can be inside one compiled network at once;
    each gets its own workspace, and concurrent calls are correct without a lock."""

    def __init__(self, align=64):
        self.align = align
        self._local = threading.local()

    def address(self, nbytes):
        """The aligned start of at least `nbytes` of this thread's workspace (valid until the next
        call from this thread asks for more). Cheap when it need not grow: it sits on call paths."""
        loc = self._local
        if getattr(loc, "size", -1) < nbytes:
            loc.buf = buffers.empty(nbytes, np.uint8, self.align)
            loc.buf.fill(0)
            loc.size, loc.addr = nbytes, loc.buf.ctypes.data
        return loc.addr


def failure(what, rc):
    """The AltError for a nonzero return code of generated code."""
    from .cstyle import INDEX_OUT_OF_BOUNDS, TEAM_TOO_SMALL
    if rc == TEAM_TOO_SMALL:
        return BuildError(f"{what}: the grid emulation got fewer OpenMP threads than a block has (OMP_THREAD_LIMIT "
                          "or OMP_DYNAMIC?); a block with barriers needs one thread per GPU thread")
    if rc == INDEX_OUT_OF_BOUNDS:
        return ComputeError(f"{what}: an index read from the input data is out of bounds (the interpreter raises "
                            "ComputeError on the same inputs); the outputs are not valid")
    return BuildError(f"{what} could not allocate its temporary buffers (out of memory)")


def check_arrays(what, arrays, buffers, writes):
    """Raise an ArgumentError unless `arrays` fit `buffers` (alt.stmt.Buffer: count, dtype, shape,
    C order), the written ones are writeable and share memory with no other argument."""
    if len(arrays) != len(buffers):
        names = ", ".join(b.name for b in buffers)
        raise ArgumentError(f"{what} takes {len(buffers)} arrays ({names}), got {len(arrays)}")
    for a, b, w in zip(arrays, buffers, writes):
        if not isinstance(a, np.ndarray):
            raise ArgumentError(f"argument {b.name!r}: expected a numpy array of {b.dtype}{list(b.shape)}, "
                                f"got {type(a).__name__}")
        if a.dtype != dtypes.to_numpy(b.dtype):
            raise ArgumentError(f"argument {b.name!r}: expected dtype {b.dtype}, got {a.dtype}")
        if a.shape != b.shape:
            raise ArgumentError(f"argument {b.name!r}: expected shape {list(b.shape)}, got {list(a.shape)}")
        if not a.flags.c_contiguous:
            raise ArgumentError(f"argument {b.name!r}: array must be C-contiguous; pass np.ascontiguousarray(x)")
        if w and not a.flags.writeable:
            raise ArgumentError(f"argument {b.name!r}: the kernel writes this array but it is read-only")
    for i, (a, w) in enumerate(zip(arrays, writes)):
        if not w:
            continue
        for j, other in enumerate(arrays):
            if j != i and np.may_share_memory(a, other):
                raise ArgumentError(f"arguments {buffers[i].name!r} and {buffers[j].name!r} share "
                                    "memory, but the kernel writes one of them; pass separate arrays")


class CProgram:
    """Calls `int fname(void*, ...)` in the shared library at `path` with numpy arrays, and after
    them its temporaries (`temps`, alt.stmt.Buffer each; a kernel rendered with temps_as_args):
    scratch memory kept between calls, one set per calling thread (codegen.program.Workspace), so
    that no call pays for allocating and faulting in megabytes of fresh pages, as no kernel in a
    compiled network does, and concurrent calls from several threads stay correct."""

    def __init__(self, path, fname, buffers, writes, temps=()):
        self.path, self.fname = str(path), fname
        self.buffers = tuple(buffers)  # alt.stmt.Buffer per argument: name, shape, dtype
        self.writes = tuple(writes)  # per argument: does the kernel write it
        self.temps = tuple(temps)
        self._offsets, self._temp_bytes = [], 0
        for b in self.temps:
            self._offsets.append(self._temp_bytes)
            self._temp_bytes += padded_bytes(b)
        self._workspace = Workspace(ALIGN)
        self._ffi, self._lib = load_library(self.path, fname, len(buffers) + len(self.temps))
        self._fn = getattr(self._lib, fname)

    def _pointers(self, arrays):
        check_arrays(f"kernel {self.fname}", arrays, self.buffers, self.writes)
        ptrs = [self._ffi.cast("void*", a.ctypes.data) for a in arrays]
        if self.temps:
            ws = self._workspace.address(self._temp_bytes)
            ptrs += [self._ffi.cast("void*", ws + off) for off in self._offsets]
        return ptrs

    def __call__(self, *arrays):
        self._run(self._pointers(arrays))

    def _run(self, ptrs):
        rc = self._fn(*ptrs)
        if rc != 0:
            raise failure(f"kernel {self.fname}", rc)

    def time(self, *arrays, number=None, repeat=5, warmup=1, min_time=0.01):
        """Median seconds per call (alt.timing.measure), arguments checked once."""
        ptrs = self._pointers(arrays)
        return measure(lambda: self._run(ptrs), number, repeat, warmup, min_time)

    def benchmark(self, *arrays, **options):
        """An alt.timing.Timing of calls with these arrays (checked once); options of alt.timing.benchmark."""
        ptrs = self._pointers(arrays)
        return benchmark(lambda: self._run(ptrs), **options)
