"""Readable text for expressions and lowered loop nests (like Halide's print_loop_nest)."""
from . import expr as E
from . import stmt as S

_PREC = {"or": 1, "and": 2, "cmp": 3, "+": 4, "-": 4, "*": 5, "/": 5, "//": 5, "%": 5}


def format_expr(e, prec=0):
    if isinstance(e, E.Const):
        return repr(e.value) if e.dtype != "float32" else (repr(e.value) + "f")
    if isinstance(e, E.Var):
        return e.name
    if isinstance(e, E.Binary):
        if e.op in ("min", "max"):
            return f"{e.op}({format_expr(e.a)}, {format_expr(e.b)})"
        p = _PREC[e.op]
        s = f"{format_expr(e.a, p)} {e.op} {format_expr(e.b, p + 1)}"
        return f"({s})" if p < prec else s
    if isinstance(e, E.Compare):
        p = _PREC["cmp"]
        s = f"{format_expr(e.a, p + 1)} {e.op} {format_expr(e.b, p + 1)}"
        return f"({s})" if p < prec else s
    if isinstance(e, E.Logical):
        if e.op == "not":
            return f"!{format_expr(e.args[0], 9)}"
        p = _PREC[e.op]
        s = f" {'&&' if e.op == 'and' else '||'} ".join(format_expr(a, p + 1) for a in e.args)
        return f"({s})" if p < prec else s
    if isinstance(e, E.Call):
        return f"{e.func}({', '.join(format_expr(a) for a in e.args)})"
    if isinstance(e, E.Select):
        return f"select({format_expr(e.cond)}, {format_expr(e.t)}, {format_expr(e.f)})"
    if isinstance(e, E.Cast):
        return f"{e.dtype}({format_expr(e.value)})"
    if isinstance(e, E.Read):
        return f"{e.tensor.name}[{', '.join(format_expr(i) for i in e.indices)}]"
    if isinstance(e, S.Load):
        return f"{e.buffer.name}[{', '.join(format_expr(i) for i in e.indices)}]"
    if isinstance(e, E.Reduce):
        return f"{e.combiner}({format_expr(e.source)}, axis=[{', '.join(a.name for a in e.axes)}])"
    return f"<{type(e).__name__}>"


def format_stmt(s, indent=0):
    pad = "  " * indent
    if isinstance(s, S.Block):
        return "".join(format_stmt(x, indent) for x in s.stmts)
    if isinstance(s, S.For):
        kind = "for" if s.kind == "serial" else s.kind
        ext = str(s.extent) if not s.bounds else \
            "min(" + ", ".join([str(s.extent)] + [format_expr(b) for b in s.bounds]) + ")"
        prag = "".join(f"  # pragma {k}={v}" for k, v in s.pragmas)
        return f"{pad}{kind} {s.var.name} in 0..{ext}:{prag}\n" + format_stmt(s.body, indent + 1)
    if isinstance(s, S.Store):
        idx = ", ".join(format_expr(i) for i in s.indices)
        return f"{pad}{s.buffer.name}[{idx}] = {format_expr(s.value)}\n"
    if isinstance(s, S.If):
        return f"{pad}if {format_expr(s.cond)}:\n" + format_stmt(s.body, indent + 1)
    if isinstance(s, S.Barrier):
        return f"{pad}barrier\n"
    if isinstance(s, S.Allocate):
        b = s.buffer
        return f"{pad}allocate {b.name}: {b.dtype}[{', '.join(map(str, b.shape))}] ({b.kind})\n"
    return f"{pad}<{type(s).__name__}>\n"


def format_func(f):
    args = ", ".join(f"{b.name}: {b.dtype}[{', '.join(map(str, b.shape))}]" for b in f.args)
    head = f"func {f.name}({args}):\n"
    temps = "".join(f"  allocate {b.name}: {b.dtype}[{', '.join(map(str, b.shape))}] (heap)\n" for b in f.temps)
    return head + temps + format_stmt(f.body, 1)
