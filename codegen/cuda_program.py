"""Program for CUDA: a cubin loaded through pycuda, its launches run in order, timed with CUDA
events. pycuda is the optional extra `[cuda]`; nothing else in alt imports this module's pycuda.

Calls from several threads are serialized by a lock (each call pushes the device's primary
context, copies the arrays in, launches, copies the written ones back); `time` keeps its device
buffers for the whole measurement and times on the GPU, not the host clock.
"""
import functools
import statistics
import threading

import numpy as np

from alt import dtypes
from alt.errors import BuildError, ComputeError

from .program import check_arrays


@functools.lru_cache(maxsize=1)
def device_arch():
    """'sm_XY' of GPU 0 where pycuda and a GPU are present, else None."""
    try:
        import pycuda.driver as cuda
        cuda.init()
        if cuda.Device.count() == 0:
            return None
        major, minor = cuda.Device(0).compute_capability()
        return f"sm_{major}{minor}"
    except Exception:  # noqa: BLE001 - no pycuda, no driver or no device: all mean "no GPU here"
        return None


def device_name():
    import pycuda.driver as cuda
    cuda.init()
    return cuda.Device(0).name()


_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _context():
    import pycuda.driver as cuda
    cuda.init()
    return cuda.Device(0).retain_primary_context()


class CUDAProgram:
    """The launches of one lowered function (codegen.grid.Launch), with the buffers of its
    arguments and temporaries."""

    def __init__(self, cubin, launches, buffers, temps, writes):
        if device_arch() is None:
            raise BuildError("running a CUDA kernel needs pycuda (pip install -e '.[cuda]') and an NVIDIA GPU; "
                             "neither was found here (the grid emulation runs without: Kernel.emulate)")
        import pycuda.driver as cuda
        self.cuda = cuda
        self.launches, self.buffers, self.temps, self.writes = tuple(launches), tuple(buffers), tuple(temps), writes
        with _lock:
            ctx = _context()
            ctx.push()
            try:
                self.module = cuda.module_from_file(str(cubin))
                self.functions = [self.module.get_function(l.fname) for l in self.launches]
            finally:
                ctx.pop()

    def _device(self, arrays):
        cuda = self.cuda
        dev = [cuda.to_device(a) for a in arrays]
        temps = [cuda.mem_alloc(max(1, t.size * dtypes.to_numpy(t.dtype).itemsize)) for t in self.temps]
        status = cuda.to_device(np.zeros(1, np.int32))
        return dev, temps, status

    def _launch(self, dev, temps, status):
        for launch, f in zip(self.launches, self.functions):
            f(*dev, *temps, status, grid=launch.grid, block=launch.block)

    def __call__(self, *arrays):
        check_arrays(f"kernel {self.launches[0].fname}", arrays, self.buffers, self.writes)
        with _lock:
            ctx = _context()
            ctx.push()
            try:
                dev, temps, status = self._device(arrays)
                self._launch(dev, temps, status)
                self.cuda.Context.synchronize()
                for a, d, w in zip(arrays, dev, self.writes):
                    if w:
                        self.cuda.memcpy_dtoh(a, d)
                flag = np.zeros(1, np.int32)
                self.cuda.memcpy_dtoh(flag, status)
            finally:
                ctx.pop()
        if flag[0]:
            raise ComputeError(f"kernel {self.launches[0].fname}: an index read from the input data is out of bounds; "
                               "the outputs are not valid")

    def time(self, *arrays, number=None, repeat=5, warmup=1, min_time=0.01):
        """Median seconds per call of all launches, timed with CUDA events (device time)."""
        return statistics.median(self.samples(*arrays, number=number, repeat=repeat, warmup=warmup,
                                              min_time=min_time))

    def samples(self, *arrays, number=None, repeat=5, warmup=1, min_time=0.01):
        """Seconds per call of all launches in each of `repeat` timed batches (CUDA events)."""
        check_arrays(f"kernel {self.launches[0].fname}", arrays, self.buffers, self.writes)
        cuda = self.cuda
        with _lock:
            ctx = _context()
            ctx.push()
            try:
                dev, temps, status = self._device(arrays)
                start, end = cuda.Event(), cuda.Event()

                def run(n):
                    start.record()
                    for _ in range(n):
                        self._launch(dev, temps, status)
                    end.record()
                    end.synchronize()
                    return start.time_till(end) * 1e-3

                for _ in range(warmup):
                    run(1)
                n = number or 1
                while number is None and run(n) < min_time and n < 1 << 20:
                    n *= 2
                return [run(n) / n for _ in range(repeat)]
            finally:
                ctx.pop()
