"""alt.build: lower a schedule, render C, compile it and wrap the library as a callable."""
import re

from .errors import BuildError
from .steps import to_dict
from .lower import lower

class Kernel:
    """A compiled kernel: call it with numpy arrays (outputs are written in place).

    Attributes: `source` (the C text), `lowered` (the loop nest), `args` (the tensors, in order),
    `target` (the alt.Target it was compiled for).
    """

    def __init__(self, lowered, source, program, args, layouts, target=None):
        self.lowered, self.source, self.program, self.args = lowered, source, program, tuple(args)
        self.target = target
        self.layouts = layouts  # tensor name -> alt.layout.Layout of every argument
        # tensor name -> [name, *params] of alt.ops.winograd.prepare_input: what `pack` does to the
        # workload's logical array first (a Winograd kernel's weights: transformed)
        self.prepare = {}

    def pack(self, tensor, array):
        """A logical array of argument `tensor` (or its name) in the layout the kernel expects
        (and transformed first where the kernel reads a transform of it, see `prepare`)."""
        name = tensor if isinstance(tensor, str) else tensor.name
        if name in self.prepare:
            from .ops.winograd import prepare_input
            array = prepare_input(self.prepare[name], array)
        return self._layout(tensor).to_physical(array)

    def unpack(self, tensor, array):
        """The logical array held by the kernel-layout array of argument `tensor`."""
        return self._layout(tensor).to_logical(array)

    def _layout(self, tensor):
        name = tensor if isinstance(tensor, str) else tensor.name
        if name not in self.layouts:
            raise BuildError(f"kernel has no argument named {name!r}; its arguments are {list(self.layouts)}")
        return self.layouts[name]

    def _runnable(self):
        from .target import cannot_run
        error = cannot_run(self.target, f"kernel {self.program.fname}")
        if error:
            raise error

    def __call__(self, *arrays):
        self._runnable()
        self.program(*arrays)

    def time(self, *arrays, number=None, repeat=5, warmup=1, min_time=0.01):
        """Median seconds per call (see codegen.CProgram.time)."""
        self._runnable()
        return self.program.time(*arrays, number=number, repeat=repeat, warmup=warmup, min_time=min_time)

    def benchmark(self, *arrays, **options):
        """An alt.timing.Timing (min, median, every repeat, interference seen); options as for
        alt.timing.benchmark."""
        self._runnable()
        return self.program.benchmark(*arrays, **options)

    def __repr__(self):
        return f"Kernel({self.lowered.name!r}, args=[{', '.join(t.name for t in self.args)}])"


class CUDAKernel(Kernel):
    """A kernel for a CUDA target. `source` is CUDA C++, `launches` the kernel launches in order
    (codegen.grid.Launch), `cubin` nvcc's output (None where nvcc is missing). Calling it runs on
    the GPU through pycuda (calls are serialized); `emulate` runs the same lowered function on the
    CPU where no GPU is (codegen.emulate: blocks in turn, a block's threads one after another, or as
    an OpenMP team meeting at its barriers)."""

    def __init__(self, lowered, source, launches, cubin, args, layouts, target):
        super().__init__(lowered, source, None, args, layouts, target)
        self.launches, self.cubin = tuple(launches), cubin
        self._emulation = None

    @property
    def writes(self):
        from codegen.cstyle import writes
        return writes(self.lowered)

    def _runnable(self):
        if self.program is None:
            if self.cubin is None:
                raise BuildError(f"kernel {self.lowered.name!r}: nvcc was not found when it was built, so there is no "
                                 "cubin to run; `emulate` runs it on the CPU")
            from codegen.cuda_program import CUDAProgram
            self.program = CUDAProgram(self.cubin, self.launches, self.lowered.args, self.lowered.temps, self.writes)

    def benchmark(self, *arrays, **options):
        raise BuildError("CUDAKernel.benchmark: use time() (CUDA events); the host-side Timing is for CPU kernels")

    def emulate(self, *arrays):
        """Run on the CPU under the grid emulation; outputs are written in place, as by a call."""
        if self._emulation is None:
            from codegen.emulate import emulation_program
            self._emulation = emulation_program(self.lowered, self.target)[0]
        self._emulation(*arrays)


def build(sch, args, target=None, name="main"):
    """Compile schedule `sch` into a Kernel taking arrays for `args` in order, for `target` (an
    alt.Target or its string; None or "c": the target in effect, see alt.target.current; "cuda
    ...": a CUDAKernel)."""
    from codegen import CProgram, CRenderer, compile_c
    from .target import resolve
    target = resolve(target)
    from codegen.compiler import CompileError

    func = lower(sch, args, name)
    for b in list(func.args) + list(func.temps):
        if b.size >= 2 ** 31:
            raise BuildError(f"build: tensor {b.name!r} has {b.size} elements; alt indexes with 32-bit integers "
                             "(at most 2**31 - 1 elements per tensor)")
    args = list(args) if isinstance(args, (list, tuple)) else [args]
    if target.kind == "cuda":
        return _build_cuda(sch, func, args, target)
    renderer = CRenderer(target)
    source, fname = renderer.render(func, temps_as_args=True)  # the program keeps them, one set per thread
    try:
        path = compile_c(source, target, what=f"kernel {fname}")
    except CompileError as e:
        raise BuildError(_blame(str(e), sch, renderer.namer, source, e.lines)) from None
    from codegen.cstyle import writes
    program = CProgram(path, fname, func.args, writes(func), func.temps)
    return Kernel(func, source, program, args, {t.name: sch.layout_of(t) for t in args}, target)


def _build_cuda(sch, func, args, target):
    from codegen.cuda_render import CUDARenderer
    from codegen.compiler import CompileError
    from codegen.nvcc import compile_cuda, nvcc_path
    renderer = CUDARenderer(target)
    source, launches = renderer.render(func)
    cubin = None
    if nvcc_path() is not None:
        try:
            cubin = compile_cuda(source, target, what=f"kernel {func.name!r}")
        except CompileError as e:
            raise BuildError(_blame(str(e), sch, renderer.namer, source, e.lines)) from None
    return CUDAKernel(func, source, launches, cubin, args, {t.name: sch.layout_of(t) for t in args}, target)


def _blame(message, sch, namer, source, lines):
    """`message` with the schedule steps on the loops of the rejected source lines after its first line."""
    text = source.splitlines()
    names = {ident: obj.name for ident, obj in namer.names.values() if hasattr(obj, "name")}
    rejected = {names[ident] for n in lines for ln in text[max(0, n - 3):n + 1]  # pragmas sit above their loop
                for ident in re.findall(r"for \(\w+ (\w+) =", ln) if ident in names}
    steps = [st for st in sch.steps if rejected & {getattr(st, "axis", None), *getattr(st, "axes", ())}]
    if not steps:
        return message
    head, _, rest = message.partition("\n")
    return f"{head}\n  steps on the rejected loops: {'; '.join(str(to_dict(st)) for st in steps)}\n{rest}"

