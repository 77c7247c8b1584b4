"""Arrays aligned for vector code: numpy's own are only 16-byte aligned, so a 64-byte vector load
of a kernel would straddle two cache lines, and how often depends on where malloc put the array
(timings then change from run to run by tens of percent). Everything alt hands to compiled code
(packed weights, tuning inputs, outputs it allocates) comes from here."""
import numpy as np

from . import dtypes

ALIGN = 64  # bytes: a cache line, and the widest vector (AVX-512)


def padded_bytes(buffer, align=ALIGN):
    """Bytes of an alt.stmt.Buffer (at least one element) rounded up to whole `align`-byte lines:
    what aligned_alloc requires, and how far apart workspaces place buffers."""
    n = max(1, buffer.size) * dtypes.to_numpy(buffer.dtype).itemsize
    return -(-n // align) * align


def empty(shape, dtype=np.float32, align=ALIGN):
    """An uninitialized C-contiguous array whose data starts on an `align`-byte boundary."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(n + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + n].view(dtype).reshape(shape)


def full(shape, value, dtype=np.float32, align=ALIGN):
    out = empty(shape, dtype, align)
    out.fill(value)
    return out


def aligned(array, align=ALIGN):
    """`array` itself when it is C-contiguous and aligned, else an aligned copy."""
    a = np.asarray(array)
    if a.flags.c_contiguous and a.ctypes.data % align == 0:
        return a
    out = empty(a.shape, a.dtype, align)
    out[...] = a
    return out
