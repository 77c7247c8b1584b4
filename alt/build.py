"""alt.build: lower a schedule, render C, compile it and wrap the library as a callable."""
import re

from .errors import BuildError
from .steps import to_dict
from .lower import lower
from .stmt import Store

class Kernel:
    """A compiled kernel: call it with numpy arrays (outputs are written in place).

    Attributes: `source` (the C text), `lowered` (the loop nest), `args` (the tensors, in order),
    `target` (the alt.Target it was compiled for).
    """

    def __init__(self, lowered, source, program, args, layouts, target=None):
        self.lowered, self.source, self.program, self.args = lowered, source, program, tuple(args)
        self.target = target
        self.layouts = layouts  # tensor name -> alt.layout.Layout of every argument

    def pack(self, tensor, array):
        """A logical array of argument `tensor` (or its name) in the layout the kernel expects."""
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
        if self.target is not None and not self.target.runs_here():
            from .target import TargetError, missing_flags
            raise TargetError(f"kernel {self.program.fname} was compiled for {self.target.name} and uses CPU features "
                              f"this machine lacks ({', '.join(missing_flags(self.target))}); its source and library "
                              "are here, but it runs only on such a CPU")

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


def build(sch, args, target=None, name="main"):
    """Compile schedule `sch` into a Kernel taking arrays for `args` in order, for `target` (an
    alt.Target or its string; None or "c": the target in effect, see alt.target.current)."""
    from codegen import CProgram, CRenderer, compile_c
    from .target import resolve
    target = resolve(target)
    from codegen.compiler import CompileError

    func = lower(sch, args, name)
    for b in list(func.args) + list(func.temps):
        if b.size >= 2 ** 31:
            raise BuildError(f"build: tensor {b.name!r} has {b.size} elements; alt indexes with 32-bit integers "
                             "(at most 2**31 - 1 elements per tensor)")
    renderer = CRenderer(target)
    source, fname = renderer.render(func)
    try:
        path = compile_c(source, target, what=f"kernel {fname}")
    except CompileError as e:
        raise BuildError(_blame(str(e), sch, renderer.namer, source, e.lines)) from None
    written = {id(s.buffer) for s in _stores(func.body)}
    program = CProgram(path, fname, func.args, [id(b) in written for b in func.args])
    args = list(args) if isinstance(args, (list, tuple)) else [args]
    return Kernel(func, source, program, args, {t.name: sch.layout_of(t) for t in args}, target)


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


def _stores(s):
    from codegen.c_render import _walk_stmts
    return (x for x in _walk_stmts(s) if isinstance(x, Store))
