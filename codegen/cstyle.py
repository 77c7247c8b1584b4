"""The C-style renderer: a lowered function (alt.stmt) becomes C-family source text.

CStyleRenderer holds everything C and CUDA share: statements, expressions, accesses, helpers.
What differs is attributes and a few hooks (tinygrad's renderer/cstyle.py is the model):

    kernel_prefix, return_type   how a kernel is declared (CUDA: extern "C" __global__ void)
    restrict, helper_qualifier   pointer and helper-function qualifiers
    local_suffix                 how a local (stack or register) array is declared
    oob_ref, oob_store           where a data-dependent index that was out of range is flagged
    vector_types                 {lanes: type} of whole-vector accesses (CUDA: float2, float4);
    vector_load/vector_store     how one is read and written (none in C: gcc vectorizes simd loops)
    loop_pragmas(loop)           what marks a serial, parallel, vectorized or unrolled loop
    grid_loop(...)               how a loop bound to blockIdx/threadIdx is entered
    alloc_temps / finish         temporaries and the function's end

codegen.c_render.CRenderer (C99 + OpenMP for gcc) and codegen.cuda_render.CUDARenderer (CUDA
C++ for nvcc) are small subclasses. Identifiers come only from sanitized names, so no user string
reaches the source unchecked.
"""
import math
import re

from alt import arith
from alt import dtypes
from alt import expr as E
from alt import stmt as S
from alt.cuda_target import BLOCK_TAGS, THREAD_TAGS
from alt.errors import BuildError

GRID_TAGS = BLOCK_TAGS + THREAD_TAGS

OUT_OF_MEMORY, INDEX_OUT_OF_BOUNDS, TEAM_TOO_SMALL = 1, 2, 3  # what a generated function returns when it fails
_PREC = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6,
         "%": 6}


def c_identifier(name):
    """`name` as a C identifier that cannot collide with anything but another user name.

    Letters, digits and '_' are kept (anything else becomes '_'), a leading non-letter gets a 'v'
    in front, and a '_' is appended. Nothing else in the C we emit ends in '_': not the C keywords,
    not the functions and macros of the headers we include (INFINITY, NAN, expf, int32_t, ...), not
    gcc's predefined macros (linux, unix), not our own helpers and locals (alt_*, n, ws, off, ...).
    So every user name is mangled the same way, and only user names need telling apart (Namer).
    """
    base = re.sub(r"[^A-Za-z0-9_]", "_", str(name))[:48]
    if not base[:1].isalpha():
        base = "v" + base
    return base + "_"


class Namer:
    """Unique C identifiers for objects, derived from their (user-given) names by c_identifier."""

    def __init__(self, target=None):
        from alt.target import resolve
        self.target = resolve(target)
        self.used = set()
        self.names = {}

    def __call__(self, obj, name):
        key = id(obj)
        if key not in self.names:
            cand = c_identifier(name)
            n = 1
            while cand in self.used:  # terminates: each try is a new string, `used` is finite
                cand = f"{c_identifier(name)}{n}_"
                n += 1
            self.used.add(cand)
            self.names[key] = (cand, obj)  # keep obj alive so its id stays unique
        return self.names[key][0]


class CStyleRenderer:
    """Renders lowered functions; `used` collects the alt_* helpers their text calls."""
    kernel_prefix = ""
    return_type = "int"
    restrict = "restrict"
    index_type = "int32_t"
    includes = "#include <stdint.h>\n#include <stdbool.h>\n#include <math.h>\n"
    helper_qualifier = "static inline "
    local_suffix = ""
    shared_prefix = None  # how a block's shared buffer is declared (at the function's top); None: no such memory
    barrier = None  # the statement all threads of a block meet at; None: no threads
    oob_ref = "&alt_oob"  # what alt_index gets to flag an out-of-range data-dependent index
    oob_store = "*oob = 1;"
    vector_types = {}  # lanes -> vector type a vectorized float32 loop of that many lanes is rendered with
    math_names = {"float32": {"exp": "expf", "log": "logf", "tanh": "tanhf", "sqrt": "sqrtf"},
                  "float64": {"exp": "exp", "log": "log", "tanh": "tanh", "sqrt": "sqrt"}}

    @property
    def header(self):
        return self.includes

    def helpers(self, used):
        """Definitions of the alt_* helper functions that the kernel calls."""
        out = []
        for dt, suf in (("float32", "f32"), ("float64", "f64"), ("int32", "i32"), ("int64", "i64")):
            t = dtypes.to_c(dt)
            u = "uint64_t" if dt == "int64" else "uint32_t"
            bodies = {  # the interpreter's (numpy's) semantics, see the README
                # NaN in, NaN out (as np.minimum/np.maximum, PyTorch and the interpreter); a tie gives
                # b. A NaN a fails the comparison and is kept; the one unordered test is on b, which
                # is often a constant (ReLU's 0, ReLU6's 6) and then folds away. Testing a instead
                # let gcc 12 if-convert ReLU6's min(max(x, 0), 6) into 25 instructions a vector in
                # some kernels (a MobileNet-V2 1x1 convolution ran 1.3x slower); this is 3.
                "min": f"{t} m = b <= a ? b : a; return b != b ? b : m;" if dt.startswith("float") else
                       "return a < b ? a : b;",
                "max": f"{t} m = b >= a ? b : a; return b != b ? b : m;" if dt.startswith("float") else
                       "return a > b ? a : b;",
                # x // 0 == 0 and x % 0 == 0; MIN // -1 wraps: a data value never raises SIGFPE
                "floordiv": f"if (b == 0) return 0; if (b == -1) return ({t})(0 - ({u})a); "
                            f"{t} q = a / b; return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;",
                "floormod": f"if (b == 0 || b == -1) return 0; "
                            f"{t} r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;",
            }
            for op, body in bodies.items():
                if f"alt_{op}_{suf}" in used:
                    out.append(f"{self.helper_qualifier}{t} alt_{op}_{suf}({t} a, {t} b) {{ {body} }}")
        if "alt_index" in used:  # a data-dependent index: out of range reads element 0 and flags the call
            out.append(f"{self.helper_qualifier}int64_t alt_index(int64_t i, int64_t n, int* oob) {{ "
                       f"if (i < 0 || i >= n) {{ {self.oob_store} return 0; }} return i; }}")
        return "".join(line + "\n" for line in out)

    def __init__(self, target=None):
        from alt.target import resolve
        self.target = resolve(target)
        self.used = set()
        self.lanes_text = {}  # id(Var) -> the text of one lane of a vector value (inside a vector loop)
        self.vector_count = 0

    # entry points ------------------------------------------------------------------------------
    def render(self, func, temps_as_args=False):
        """(C source of one kernel, its symbol name); temporaries are allocated inside, or with
        `temps_as_args` passed after the arguments (scratch memory the caller keeps between calls)."""
        self.used = set()
        fname = "alt_" + c_identifier(func.name)
        body = self.function(func, fname, temps_as_args=temps_as_args)
        return self.header + self.helpers(self.used) + "\n" + body, fname

    def render_module(self, bodies, driver):
        """One translation unit: function texts made by self.function, then the text `driver`."""
        return self.header + self.helpers(self.used) + "\n" + "\n".join(bodies) + "\n" + driver

    def function(self, func, fname, qualifier="", temps_as_args=False, body=None):
        """The text of one function computing `body` (default: the whole of `func`)."""
        self.namer = Namer()
        self.ranges = {}
        written = _written(func)
        params = []
        for b in list(func.args) + (list(func.temps) if temps_as_args else []):
            const = "" if id(b) in written else "const "
            params.append(f"{const}{dtypes.to_c(b.dtype)}* {self.restrict} {self.namer(b, b.name)}")
        params += self.extra_params()
        lines = [f"{qualifier}{self.kernel_prefix}{self.return_type} {fname}({', '.join(params)}) {{"]
        temps = [] if temps_as_args else func.temps
        lines += self.alloc_temps(temps)
        self.checked = False
        body = func.body if body is None else body
        for b in _shared(body):
            if self.shared_prefix is None:
                raise BuildError(f"{type(self).__name__}: {b.name!r} is a GPU block's shared copy (cache_read "
                                 "'shared'); only a CUDA target or the grid emulation has shared memory")
            lines.append(f"  {self.shared_prefix}{dtypes.to_c(b.dtype)} {self.namer(b, b.name)}[{b.size}]"
                         f"{self.local_suffix};")
        self._stmt(body, 1, lines)
        self.finish(lines, temps)
        lines.append("}")
        return "\n".join(lines) + "\n"

    # hooks of the subclasses ------------------------------------------------------------------------
    def extra_params(self):
        return []

    def alloc_temps(self, temps):
        """Lines that allocate the temporaries `temps` inside the function."""
        if temps:
            raise BuildError(f"{type(self).__name__}: temporaries {[b.name for b in temps]} must be passed as "
                             "arguments (temps_as_args=True)")
        return []

    def finish(self, lines, temps):
        """Lines at the end of the function: free temporaries, report an out-of-range index."""

    def loop_pragmas(self, loop):
        return []

    def grid_loop(self, s, v, bound):
        """(lines, braces) that enter loop `s` bound to a GPU index (s.kind is the tag) with
        variable `v` below `bound`, and how many braces they open. Here: no grid to bind it to."""
        raise BuildError(f"{type(self).__name__}: loop {s.var.name!r} is bound to {s.kind}; only a CUDA target "
                         "(alt.Target.parse('cuda')) or the grid emulation (codegen.emulate) runs bound loops")

    # statements -------------------------------------------------------------------------------------

    def _stmt(self, s, ind, lines):
        pad = "  " * ind
        if isinstance(s, S.Block):
            for x in s.stmts:
                self._stmt(x, ind, lines)
        elif isinstance(s, S.For):
            v = self.namer(s.var, s.var.name)
            self.ranges[s.var] = (0, s.extent - 1)
            bound = str(s.extent)
            for b in s.bounds:
                bound = self._call("alt_min_i32", bound, self.expr(b))
            if s.kind in GRID_TAGS:
                opened, braces = self.grid_loop(s, v, bound)
                lines.extend(pad + x for x in opened)
                self._stmt(s.body, ind + 1, lines)
                lines.extend(pad + "}" for _ in range(braces))
                return
            vector = self._vector_loop(s, pad) if s.kind == "vectorize" and self.vector_types else None
            if vector is not None:
                lines.extend(vector)
                return
            lines.extend(pad + p for p in self.loop_pragmas(s))
            lines.append(f"{pad}for ({self.index_type} {v} = 0; {v} < {bound}; ++{v}) {{")
            self._stmt(s.body, ind + 1, lines)
            lines.append(pad + "}")
        elif isinstance(s, S.Store):
            lines.append(f"{pad}{self._access(s.buffer, s.indices)} = {self.expr(s.value)};")
        elif isinstance(s, S.If):
            lines.append(f"{pad}if ({self.expr(s.cond)}) {{")
            self._stmt(s.body, ind + 1, lines)
            lines.append(pad + "}")
        elif isinstance(s, S.Barrier):
            if self.barrier is None:
                raise BuildError(f"{type(self).__name__}: a barrier of GPU threads; only a CUDA target or the grid "
                                 "emulation has one")
            lines.append(pad + self.barrier)
        elif isinstance(s, S.Allocate) and s.buffer.kind == "shared":
            pass  # declared at the function's top
        elif isinstance(s, S.Allocate):
            b = s.buffer
            lines.append(f"{pad}{dtypes.to_c(b.dtype)} {self.namer(b, b.name)}[{b.size}]{self.local_suffix};")
        else:
            raise TypeError(f"cannot render statement {type(s).__name__}")

    def _access(self, buf, indices):
        if any(isinstance(x, S.Load) for i in indices for x in E.walk(i)):
            return self._checked_access(buf, indices)
        return f"{self.namer(buf, buf.name)}[{self.expr(arith.flat_index(buf.shape, indices))}]"

    # whole-vector loops (float4) ------------------------------------------------------------------
    def vector_load(self, vtype, ref):
        return f"*(const {vtype}*)&{ref}"

    def vector_store(self, vtype, ref, value):
        return f"*({vtype}*)&{ref} = {value};"

    def _vector_loop(self, s, pad):
        """Lines computing vectorized loop `s` with one whole-vector load per contiguous read and
        one store, or None where that is not legal: the body must be one float32 store whose every
        read either does not depend on the loop (read once, as a scalar) or walks it contiguously
        from an offset that is a multiple of the lanes (so aligned, the buffers being aligned);
        anything else keeps the loop (a lane at a time)."""
        lanes, vtype = s.extent, self.vector_types.get(s.extent)
        body = s.body
        while isinstance(body, S.Block) and len(body.stmts) == 1:
            body = body.stmts[0]
        if vtype is None or s.bounds or not isinstance(body, S.Store) or body.buffer.dtype != "float32":
            return None
        store = _vector_base(body.buffer, body.indices, s.var, lanes)
        if store is None or isinstance(store, str):
            return None
        vectors, mapping = {}, {}
        for ld in (x for x in E.walk(body.value) if isinstance(x, S.Load)):
            if not any(x is s.var for i in ld.indices for x in E.walk(i)):
                continue  # read once: a scalar in every lane
            base = _vector_base(ld.buffer, ld.indices, s.var, lanes) if ld.dtype == "float32" else None
            if base is None or isinstance(base, str):
                return None
            k = (id(ld.buffer), arith.skey(base))
            if k not in vectors:
                vectors[k] = (E.Var(f"alt_lane{len(vectors)}", "float32"), ld.buffer, base)
            mapping[id(ld)] = vectors[k][0]
        value = E.transform(body.value, lambda e: mapping.get(id(e)) if isinstance(e, S.Load) else None)
        if any(x is s.var for x in E.walk(value)):
            return None  # the loop index itself is part of the value
        n = self.vector_count
        self.vector_count += 1
        inner = pad + "  "
        lines = [f"{pad}{{  /* {s.var.name}: {lanes} lanes as one {vtype} */"]
        names = {}
        for j, (var, buf, base) in enumerate(vectors.values()):
            names[id(var)] = f"alt_v{n}_{j}"
            ref = f"{self.namer(buf, buf.name)}[{self.expr(base)}]"
            lines.append(f"{inner}const {vtype} alt_v{n}_{j} = {self.vector_load(vtype, ref)};")
        lines.append(f"{inner}{vtype} alt_r{n};")
        for c in "xyzw"[:lanes]:
            self.lanes_text = {k: f"{v}.{c}" for k, v in names.items()}
            lines.append(f"{inner}alt_r{n}.{c} = {self.expr(value)};")
        self.lanes_text = {}
        ref = f"{self.namer(body.buffer, body.buffer.name)}[{self.expr(store)}]"
        lines += [inner + self.vector_store(vtype, ref, f"alt_r{n}"), pad + "}"]
        return lines

    def _checked_access(self, buf, indices):
        """An access whose index reads data (a gather): each data-dependent index is checked against
        its dimension, so that no data value can read outside the buffer."""
        self.checked = True
        terms, stride = [], 1
        for i, n in reversed(list(zip(indices, buf.shape))):
            term = self.expr(arith.simplify(i))
            if any(isinstance(x, S.Load) for x in E.walk(i)):
                term = self._call("alt_index", term, str(n), self.oob_ref)
            terms.append(term if stride == 1 else f"({term}) * {stride}")
            stride *= n
        return f"{self.namer(buf, buf.name)}[{' + '.join(reversed(terms))}]"

    # expressions ------------------------------------------------------------------------------------
    def expr(self, e, prec=0):
        if isinstance(e, E.Const):
            return self._const(e)
        if isinstance(e, E.Var):
            return self.lanes_text.get(id(e)) or self.namer(e, e.name)
        if isinstance(e, S.Load):
            return self._access(e.buffer, e.indices)
        if isinstance(e, E.Binary):
            return self._binary(e, prec)
        if isinstance(e, E.Compare):
            return self._infix(e.op, e.a, e.b, prec)
        if isinstance(e, E.Logical):
            if e.op == "not":
                return f"!({self.expr(e.args[0])})"
            op = "&&" if e.op == "and" else "||"
            p = _PREC[op]
            s = f" {op} ".join(self.expr(a, p + 1) for a in e.args)
            return f"({s})" if p < prec else s
        if isinstance(e, E.Call):
            x = self.expr(e.args[0])
            if e.func == "sigmoid":
                one = "1.0f" if e.dtype == "float32" else "1.0"
                return f"({one} / ({one} + {self.math_names[e.dtype]['exp']}(-({x}))))"
            return f"{self.math_names[e.dtype][e.func]}({x})"
        if isinstance(e, E.Select):
            return f"({self.expr(e.cond, 1)} ? {self.expr(e.t, 1)} : {self.expr(e.f, 1)})"
        if isinstance(e, E.Cast):
            return f"(({dtypes.to_c(e.dtype)})({self.expr(e.value)}))"
        raise TypeError(f"cannot render expression {type(e).__name__}: {e}")

    def _const(self, e):
        v = e.value
        if e.dtype == "bool":
            return "1" if v else "0"
        if dtypes.is_int(e.dtype):
            s = str(v) + ("LL" if e.dtype == "int64" else "")
            return f"({s})" if v < 0 else s
        if math.isinf(v):
            return "INFINITY" if v > 0 else "(-INFINITY)"
        if math.isnan(v):
            return "NAN"
        s = repr(float(v)) + ("f" if e.dtype == "float32" else "")
        return f"({s})" if v < 0 else s

    def _binary(self, e, prec):
        suf = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64"}[e.dtype]
        if e.op in ("min", "max"):
            return self._call(f"alt_{e.op}_{suf}", self.expr(e.a), self.expr(e.b))
        if e.op in ("//", "%"):
            a = arith.bounds(e.a, self.ranges)
            b = arith.bounds(e.b, self.ranges)
            if a and b and a[0] >= 0 and b[0] > 0:
                return self._infix("/" if e.op == "//" else "%", e.a, e.b, prec)
            name = "floordiv" if e.op == "//" else "floormod"
            return self._call(f"alt_{name}_{suf}", self.expr(e.a), self.expr(e.b))
        return self._infix(e.op, e.a, e.b, prec)

    def _call(self, helper, *args):
        self.used.add(helper)
        return f"{helper}({', '.join(args)})"

    def _infix(self, op, a, b, prec):
        p = _PREC[op]
        s = f"{self.expr(a, p)} {op} {self.expr(b, p + 1)}"
        return f"({s})" if p < prec else s


def _vector_base(buf, indices, var, lanes):
    """The flat index of lane 0 of an access in a loop over `var` of `lanes` lanes when the lanes
    are contiguous and lane 0 is a multiple of `lanes` (a whole aligned vector), "uniform" when
    the access does not depend on `var`, else None."""
    if any(isinstance(x, S.Load) for i in indices for x in E.walk(i)):
        return None
    terms, c = arith.linear(arith.flat_index(buf.shape, indices))
    coef = sum(k for a, k in terms.values() if a is var)
    rest = {key: (a, k) for key, (a, k) in terms.items() if a is not var}
    if any(x is var for a, _ in rest.values() for x in E.walk(a)):
        return None  # inside a non-linear part
    if coef == 0:
        return "uniform"
    if coef != 1 or c % lanes or any(k % lanes for _, k in rest.values()):
        return None
    return arith.simplify(arith.from_linear(rest, c))


def _written(func):
    return {id(s.buffer) for s in walk_stmts(func.body) if isinstance(s, S.Store)}


def writes(func):
    """Per argument of lowered function `func`: does it store into it?"""
    written = _written(func)
    return [id(b) in written for b in func.args]


def _shared(body):
    return [x.buffer for x in walk_stmts(body) if isinstance(x, S.Allocate) and x.buffer.kind == "shared"]


def walk_stmts(s):
    yield s
    if isinstance(s, S.Block):
        for x in s.stmts:
            yield from walk_stmts(x)
    elif isinstance(s, (S.For, S.If)):
        yield from walk_stmts(s.body)
