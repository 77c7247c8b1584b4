"""Renderer of a recursive model: the cells' tile kernels, the C linearizer and the driver, which
linearizes a batch of structures and runs every batch of nodes through the cells. Two entries:

    int alt_model(int n, const int* child, const int* word, int n_out, const int* out_nodes,
                  float* out, const float* weights, char* ws, int* bad_node, int linearize_only)
    int alt_model_trees(int n, int m, const int* parent, const int* starts, const int* word,
                        float* out, const float* weights, char* ws, int* bad_node, int linearize_only)

the first for child arrays (DAGs, and anything checked in Python), the second for m parent-pointer
trees one after the other, checked in C (trees.c); alt_parse_nested turns a nested tuple's repr
into parent form. (linearize_only: stop after linearizing, to time that pass alone.)

The driver's text is built from integers and fixed identifiers only (inputs are x0, x1, ...; no
user name reaches it).
"""
from dataclasses import dataclass, field
from pathlib import Path

from alt import dtypes

from .c_render import CRenderer

LINEARIZE = (Path(__file__).with_name("linearize.c")).read_text()
TREES = (Path(__file__).with_name("trees.c")).read_text()
_RUN = ("int n, const int* child, const int* word, int n_out, const int* out_nodes, float* out, "
        "const float* weights, char* ws, int* bad_node, int linearize_only")
_TREES = ("int n, int m, const int* parent, const int* starts, const int* word, float* out, const float* weights, "
          "char* ws, int* bad_node, int linearize_only")
SIGNATURE = (f"int alt_model({_RUN}); int alt_model_trees({_TREES}); "
             "int alt_parse_nested(const char* s, int len, int* parent, int* word, int cap)")
TREE_PARTS = 3  # the workspace's first parts are alt_model_trees' own


@dataclass
class CellCode:
    """A lowered cell (alt.stmt.Func) and what each of its arguments is: ("child", k),
    ("input", name), ("weight", offset in the packed buffer) or ("state",), for tiles of `rows`
    nodes."""
    kind: str  # "leaf", "internal" or "proj" (a refactored model's projections of a tile's own states)
    func: object
    args: list
    rows: int

    @property
    def name(self):
        return f"{self.kind}_{self.rows}"


@dataclass
class RecursiveSpec:
    k: int  # children per node
    state_size: int
    rows: int  # nodes per full tile
    tree: bool  # a node may have only one parent
    specialize: bool  # leaves have their own loop nest (else every tile runs both cells and selects)
    hoist: bool  # leaves without input (one state for all) computed once per call and copied
    out_offset: int
    out_size: int
    inputs: dict = field(default_factory=dict)  # name -> (row size, offset of the table, vocabulary)
    tiles: tuple = ()  # the tile heights compiled, ascending, ending with rows (default: rows only)
    unroll: int = 1  # heights taken this many at a time, a node's descendants within them run next to it
    proj_size: int = 0  # refactored: floats of a node's projections (computed by the "proj" cell after its state)

    def heights(self):
        return tuple(self.tiles) or (self.rows,)


def workspace_layout(spec, cells):
    """[(name, C type, (a, b))]: the driver's workspace carved in order, a*n + b elements each."""
    k, S, T = spec.k, spec.state_size, spec.rows
    parts = [("tchild", "int", (k, 0)), ("troots", "int", (1, 0)), ("tcount", "int", (1, 0))]  # TREE_PARTS
    parts += [("newid", "int", (1, 0)), ("lchild", "int", (k, k)), ("lword", "int", (1, 1)),
             ("bstart", "int", (1, 0)), ("blen", "int", (1, 0)), ("scratch", "int", (3 + k, 1)),
             ("sstart", "int", (3, 1)), ("slen", "int", (3, 1)), ("skind", "int", (3, 1)),
             ("uscratch", "int", (7 + k, k + 1) if spec.unroll > 1 else (0, 1)), ("st", "float", (S, S))]
    parts += [(f"g{j}", "float", (0, T * S)) for j in range(k)]
    parts += [(f"x{i}", "float", (0, T * size)) for i, (size, _, _) in enumerate(spec.inputs.values())]
    parts += [("tile_leaf", "float", (0, T * S)), ("tile_internal", "float", (0, T * S))]
    P = spec.proj_size
    if P:  # a refactored model's projections: one row per node (and a zero row), children's gathered, a tile's
        parts += [("pst", "float", (P, P))] + [(f"q{j}", "float", (0, T * P)) for j in range(k)]
        parts += [("tile_proj", "float", (0, T * P))]
    for c in cells:
        parts += [(f"t_{c.name}_{i}", dtypes.to_c(b.dtype), (0, b.size)) for i, b in enumerate(c.func.temps)]
    return parts


def workspace_bytes(layout, n):
    total = 0
    for _, ctype, (a, b) in layout:
        total += -(-((a * n + b) * 4) // 64) * 64  # int and float are both 4 bytes
    return total


def workspace_bound(layout):
    """(A, B) with A*n + B >= workspace_bytes(layout, n) for every n: one multiply-add per call."""
    return sum(4 * a for _, _, (a, _) in layout), sum(4 * b + 63 for _, _, (_, b) in layout)


def _carve(layout, parts):
    lines = ["  size_t off = 0;"]
    for i, (name, ctype, (a, b)) in enumerate(layout):
        if i in parts:
            lines.append(f"  {ctype}* {name} = ({ctype}*)(ws + off);")
        lines.append(f"  off += (((size_t){a} * n + {b}) * 4 + 63) / 64 * 64;")
    return lines


def render(spec, cells, target=None):
    """C source of the whole model for `target` (default: the target in effect)."""
    r = CRenderer(target)
    bodies = [r.function(c.func, f"cell_{c.name}", qualifier="static ", temps_as_args=True) for c in cells]
    layout = workspace_layout(spec, cells)
    vocab = next(iter(spec.inputs.values()))[2] if spec.inputs else 0
    lines = [f"int alt_model_trees({_TREES}) {{", *_carve(layout[:TREE_PARTS], range(TREE_PARTS)),
             f"  int rc = alt_tree_children(n, m, {spec.k}, parent, starts, word, {vocab}, tchild, troots, tcount, "
             "bad_node);",
             "  if (rc) return rc;",
             "  return alt_model(n, tchild, word, m, troots, out, weights, ws, bad_node, linearize_only);",
             "}", ""]
    lines += [f"int alt_model({_RUN}) {{", *_carve(layout, range(TREE_PARTS, len(layout)))]
    lines += [
        "  int nb, first_leaf, first_const;",
        f"  int rc = alt_linearize(n, {spec.k}, {int(spec.tree)}, child, word, newid, lchild, lword, bstart, blen,"
        " &nb, &first_leaf, &first_const, scratch, bad_node);",
        "  if (rc) return rc;",
        f"  memset(st + (size_t)n * {spec.state_size}, 0, {spec.state_size * 4});",
        *([f"  memset(pst + (size_t)n * {spec.proj_size}, 0, {spec.proj_size * 4});"] if spec.proj_size else []),
        *_hoisted(spec, cells),
        "  (void)first_leaf;",
        *([f"  int const_end = n, ns = alt_unroll(n, {spec.k}, {spec.rows}, {spec.unroll}, nb, bstart, blen, "
           "&first_const, newid, lchild, lword, sstart, slen, skind, uscratch);"] if spec.unroll > 1 else
          ["  int const_end = bstart[0] + blen[0], ns = alt_steps(nb, bstart, blen, first_const, sstart, slen, "
           "skind);"]),
        "  if (linearize_only) return 0;",
        "  for (int b = -1; b < ns; ++b) {  /* step b = -1: the constant leaves, one computed and copied */",
        "    int lo = b < 0 ? first_const : sstart[b];",
        "    int end = b < 0 ? const_end : lo + slen[b];",
        "    int leaf = b < 0 || skind[b] == 0;",
        "    int stop = b < 0 && lo < end ? lo + 1 : end;",
        "    for (int t0 = lo; t0 < stop; ) {",
        f"      int left = stop - t0, T = {_pick(spec.heights())};  /* the level's tile: the smallest compiled "
        "that holds what is left */",
        "      int rows = left < T ? left : T;",
        "      for (int r = 0; r < T; ++r) {",
        "        int i = t0 + (r < rows ? r : rows - 1);  /* a partial tile repeats its last node */",
    ]
    used = {a for c in cells for a in c.args}
    S = spec.state_size
    for j in range(spec.k):
        if ("child", j) in used:
            lines.append(f"        memcpy(g{j} + r * {S}, st + (size_t)lchild[i * {spec.k} + {j}] * {S}, {S * 4});")
    for i, (name, (size, offset, vocab)) in enumerate(spec.inputs.items()):
        if ("input", name) in used:
            lines.append(f"        {{ int w = lword[i] < 0 ? {vocab} : lword[i];  /* row {vocab}: zeros */")
            lines.append(f"          memcpy(x{i} + r * {size}, weights + {offset} + (size_t)w * {size}, "
                         f"{size * 4}); }}")
    P = spec.proj_size
    for j in range(spec.k):
        if ("proj", j) in used:
            lines.append(f"        memcpy(q{j} + r * {P}, pst + (size_t)lchild[i * {spec.k} + {j}] * {P}, {P * 4});")
    lines.append("      }")
    calls = {(c.kind, c.rows): _call(c, spec) for c in cells}
    lines.append("      switch (T) {")
    for T in spec.heights():
        lines.append(f"      case {T}: {{")
        if spec.specialize:
            lines += [
                f"        float* dst = rows == T ? st + (size_t)t0 * {S} : tile_leaf;",
                f"        if (leaf) {{ if ({calls['leaf', T]('dst')}) return 1; }}",
                f"        else if ({calls['internal', T]('dst')}) return 1;",
                f"        if (dst == tile_leaf) memcpy(st + (size_t)t0 * {S}, tile_leaf, (size_t)rows * {S * 4});",
                *_projected(spec, calls, T, "dst"),
            ]
        else:  # one loop nest for every node: both cells, then a per-node is-leaf test
            lines += [
                f"        if ({calls['leaf', T]('tile_leaf')}) return 1;",
                f"        if ({calls['internal', T]('tile_internal')}) return 1;",
                "        for (int r = 0; r < rows; ++r)",
                f"          memcpy(st + (size_t)(t0 + r) * {S}, (leaf ? tile_leaf : tile_internal) + r * {S}, "
                f"{S * 4});",
            ]
            if P:  # the tile's chosen states again as T rows: what the projection cell reads
                lines += ["        for (int r = 0; r < T; ++r)",
                          f"          memcpy(tile_leaf + r * {S}, st + (size_t)(t0 + (r < rows ? r : rows - 1)) * {S}, "
                          f"{S * 4});", *_projected(spec, calls, T, "tile_leaf")]
        lines += ["        break; }"]
    copies = [f"memcpy(st + (size_t)i * {S}, st + (size_t)lo * {S}, {S * 4});"]  # the constant leaf's state
    if P:  # and its projections
        copies.append(f"memcpy(pst + (size_t)i * {P}, pst + (size_t)lo * {P}, {P * 4});")
    lines += ["      default: return 1;", "      }", "      t0 += rows;", "    }",
              "    for (int i = lo + 1; b < 0 && i < end; ++i)" + (" {" if P else ""),
              *[f"      {c}" for c in copies], *(["    }"] if P else [])]
    lines += [
        "  }",
        "  for (int o = 0; o < n_out; ++o)",
        f"    memcpy(out + (size_t)o * {spec.out_size}, st + (size_t)newid[out_nodes[o]] * {S} + {spec.out_offset}, "
        f"{spec.out_size * 4});",
        "  return 0;",
        "}",
    ]
    lines = [f"int alt_model({_RUN});"] + lines
    driver = "#include <string.h>\n" + LINEARIZE + "\n" + TREES + "\n" + "\n".join(lines) + "\n"
    return r.render_module(bodies, driver), layout


def _projected(spec, calls, T, src):
    """C lines of a refactored model: the projection cell on the tile's T state rows at `src`,
    written to the nodes' projection rows (through tile_proj when the tile is partial)."""
    if not spec.proj_size:
        return []
    P = spec.proj_size
    return [f"        float* pd = rows == T ? pst + (size_t)t0 * {P} : tile_proj;",
            f"        if ({calls['proj', T]('pd', src)}) return 1;",
            f"        if (pd == tile_proj) memcpy(pst + (size_t)t0 * {P}, tile_proj, (size_t)rows * {P * 4});"]


def _call(cell, spec):
    def call(dst, src=None):
        args = []
        for a in cell.args:
            if a[0] == "child":
                args.append(f"g{a[1]}")
            elif a[0] == "proj":
                args.append(f"q{a[1]}")
            elif a[0] == "self":
                args.append(src)
            elif a[0] == "input":
                args.append(f"x{list(spec.inputs).index(a[1])}")
            elif a[0] == "weight":
                args.append(f"weights + {a[1]}")
            else:
                args.append(dst)
        args += [f"t_{cell.name}_{i}" for i in range(len(cell.func.temps))]
        return f"cell_{cell.name}({', '.join(args)})"
    return call


def _hoisted(spec, cells):
    """C lines that set first_const: where the constant leaves begin (the end of the leaves when
    hoisting is off; every leaf when the leaf cell reads no input)."""
    reads_input = any(a[0] == "input" for c in cells if c.kind == "leaf" for a in c.args)
    if not spec.hoist:
        return ["  first_const = bstart[0] + blen[0];"]
    return [] if reads_input else ["  first_const = bstart[0];"]


def _pick(heights):
    """C expression of the tile height for `left` nodes: the largest height when they fill it, else
    the smallest compiled height that holds them all."""
    out = str(heights[-1])
    for t in reversed(heights[:-1]):
        out = f"left <= {t} ? {t} : {out}"
    return f"left >= {heights[-1]} ? {heights[-1]} : {out}" if len(heights) > 1 else out
