"""ALT's template for matrix multiplies: GEMM (GMM), batched GEMM (BMM) and dense layers (DEN).

Layout knobs: B in its own layout (KN; dense: its weight W transposed) or packed into column
panels of `nb` columns, B[.., j // nb, k, j % nb], so that a register tile streams one contiguous
panel; and (GMM, BMM) A in its own layout (MK) or packed into row panels of tile_i rows,
A[.., i // tile_i, k, i % tile_i], so that the rows a tile broadcasts at one k are adjacent.

Loop knobs, two levels of tiling: a register tile of tile_i x tile_j outputs (tile_i * tile_j /
lanes accumulators, at most the target's vector registers) over the whole k loop (or k in steps of
tile_k); and a cache tile of cache_i x cache_j register tiles, whose A rows and B panels are
reused while it runs. `order` orders the cache tiles (ij: row tiles outermost; ji: column panels
outermost, each panel kept in cache while every row tile uses it), `inner` the register tiles
inside one; `par_depth` outer loops (batch, cache tiles, then register tiles) are fused into the
parallel one; `unroll` unrolls the tile's rows, `unroll_k` the k loop by that many steps (the
loads of several k steps scheduled together, the loop's overhead paid once for them).

In a network, a weight's layout is free (it is converted once when the network is built), an
activation's is not: `relayouts` names the inputs a point lays out itself, and search.network
offers a node only points that leave its activation inputs as their producers write them.
"""
from alt.ops.hand import tile_target

from .space import Space


class GemmSpace(Space):
    layout_knobs = ("a_layout", "b_layout", "nb")
    added = {"a_layout": "MK", "cache_i": 1, "cache_j": 1, "inner": "ij", "unroll_k": 1}
    CACHE = (1, 2, 4, 8)  # register tiles per cache tile, along each output axis

    def __init__(self, workload, target=None):
        super().__init__(workload, target)
        self.m, self.n, self.k = workload.params[-3:]  # GMM, DEN (m, n, k); BMM (b, m, n, k)
        self.batch = len(workload.params) - 3
        columns = [self.lanes * m for m in (1, 2, 3, 4, 8)]  # whole vectors
        self.knobs = {
            "a_layout": ["MK", "packed"],
            "b_layout": ["KN", "packed"],
            "nb": columns,
            "tile_i": [1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16],
            "tile_j": columns,
            "tile_k": [0, 64, 128, 256],
            "cache_i": list(self.CACHE),
            "cache_j": list(self.CACHE),
            "order": ["ij", "ji"],
            "inner": ["ij", "ji"],
            "unroll": [0, 1],
            "unroll_k": [1, 2, 4, 8],
            "par_depth": [1, 2, 3],
        }

    def default_layout(self):
        return {"a_layout": "MK", "b_layout": "KN", "nb": 4 * self.lanes}

    def relayouts(self, point):
        p = self.complete(point)
        return tuple(i for i, k in ((0, "a_layout"), (1, "b_layout")) if p[k] == "packed")

    def complete(self, point):
        """As Space.complete; an unpacked B reads no panel width: nb is the default layout's (a point
        logged with another one runs the same program)."""
        p = super().complete(point)
        return dict(p, nb=4 * self.lanes) if p.get("b_layout") == "KN" else p

    def canonical(self, point):
        """Knobs the others make irrelevant at one value: the panel width of an unpacked B (see
        complete), the column tile of a packed one (its panel width: the only valid one, so that a
        draw does not miss it 4 times in 5), and the order inside a cache tile of one row or one
        column of register tiles (ij)."""
        p = dict(point)
        if p.get("b_layout") == "KN":
            p["nb"] = 4 * self.lanes
        elif p.get("b_layout") == "packed" and "nb" in p:
            p["tile_j"] = p["nb"]
        if p.get("cache_i") == 1 or p.get("cache_j") == 1:
            p["inner"] = "ij"
        return p

    def check_layout(self, layout):
        if layout.get("b_layout") == "KN" and layout.get("nb") != 4 * self.lanes:
            return f"nb={layout.get('nb')} is read only with B packed; with b_layout=KN give nb={4 * self.lanes}"
        if layout.get("b_layout") == "packed" and layout.get("nb", 0) > max(self.lanes, self.n):
            return f"panels of nb={layout['nb']} columns are wider than the output's {self.n} columns"
        if layout.get("b_layout") == "packed" and layout.get("nb") == self.n:
            # the same memory as KN, a second name for one layout: the joint search tried it twice, and
            # measured its points' copies (the same C, B read as [1, k, n] instead of [k, n])
            return f"one panel of all nb={self.n} columns is B's own layout: give b_layout=KN"
        return None

    def _seeds(self):
        from alt.ops.hand import gemm_tile
        rows, cols = gemm_tile(self.target)
        loops = {"tile_i": rows, "tile_j": cols, "tile_k": 256 if self.k > 256 else 0, "cache_i": 1, "cache_j": 1,
                 "inner": "ij", "unroll": 1, "unroll_k": 1, "par_depth": 1, "order": "ji"}
        return [dict(loops, a_layout="MK", b_layout="packed", nb=cols),
                self.canonical(dict(loops, **self.default_layout()))]

    def _check(self, p):
        if p["b_layout"] == "packed" and p["tile_j"] != p["nb"]:
            return f"with B packed in panels of {p['nb']} columns the column tile must be {p['nb']}"
        if p["tile_j"] > max(self.lanes, self.n) or p["tile_i"] > self.m:
            return f"tile {p['tile_i']}x{p['tile_j']} is larger than the {self.m}x{self.n} output"
        if p["tile_k"] and p["tile_k"] >= self.k:
            return f"tile_k={p['tile_k']} does not split k={self.k}"
        if self.k % p["unroll_k"]:  # (every tile_k is a multiple of every unroll_k)
            return f"unroll_k={p['unroll_k']} does not divide the {self.k} steps of k"
        regs = p["tile_i"] * p["tile_j"] // self.lanes
        if regs > self.target.registers:
            return f"the accumulator tile needs {regs} vector registers; the target has {self.target.registers}"
        tiles_i, tiles_j = -(-self.m // p["tile_i"]), -(-self.n // p["tile_j"])
        if p["cache_i"] > tiles_i or p["cache_j"] > tiles_j:
            return (f"a cache tile of {p['cache_i']}x{p['cache_j']} register tiles is larger than the output's "
                    f"{tiles_i}x{tiles_j} tiles")
        loops = self.batch + 2 + (p["cache_i"] > 1) + (p["cache_j"] > 1)
        if p["par_depth"] > loops:
            return f"par_depth={p['par_depth']} fuses more than the {loops} loops outside the register tile"
        return None

    def _apply(self, s, out, p):
        return self._schedule(s, out, None, p)

    def _schedule_into(self, s, anchor, end, p):
        self._schedule(s, anchor, end, p)

    def _schedule(self, s, anchor, end, p):
        """Lay out the operands and tile; `anchor` is the multiply or (dense) its bias add, `end` the
        end of an elementwise epilogue fused after it, or None. (In a network a packed operand must
        be a weight: alt.graph refuses a point that lays out an activation, see `relayouts`.)"""
        red = anchor if anchor.op.reduce_axis else anchor.op.input_tensors[0]
        A, B = red.op.input_tensors
        if p.get("a_layout") == "packed":
            _panels(s.layout(A), A.ndim - 2, p["tile_i"], self.m)
        self._layout_b(s, B, p)
        return self._tile(s, red, end if end is not None else (anchor if anchor is not red else None), p)

    def _layout_b(self, s, B, p):
        if p["b_layout"] == "packed":  # (.., k, n) -> (.., n // nb, k, nb)
            v = s.layout(B)
            r = B.ndim
            if self.n % p["nb"]:
                v.pad(r - 1, 0, -self.n % p["nb"])
            v.split(r - 1, p["nb"]).reorder(*range(r - 2), r - 1, r - 2, r)

    def _tile(self, s, red, end, p):
        """Tile the reduction `red` in two levels (its elementwise epilogue ending in `end` inlined
        into the tiled loops, if any), the accumulator tile computed inside the cache tile."""
        T, CC = tile_target(s, red, end)
        *batch, i, j = T.axis
        io, jo, ii, ji = T.tile(i, j, p["tile_i"], p["tile_j"])
        (ioo, ioi), (joo, joi) = (T.split(io, factor=p["cache_i"]) if p["cache_i"] > 1 else (io, None),
                                  T.split(jo, factor=p["cache_j"]) if p["cache_j"] > 1 else (jo, None))
        outer = [ioo, joo] if p["order"] == "ij" else [joo, ioo]
        inner = [x for x in ([ioi, joi] if p["inner"] == "ij" else [joi, ioi]) if x is not None]
        loops = batch + outer + inner
        T.reorder(*loops, ii, ji)
        depth = p["par_depth"]
        T.parallel(T.fuse(*loops[:depth]) if depth > 1 else loops[0])
        T.vectorize(ji)
        s[CC].compute_at(T, T.leaves[T.leaves.index(ii) - 1])
        L = s[CC]
        *_, ci, cj = L.axis
        (k,) = L.reduce_axis
        ks = list(L.split(k, factor=p["tile_k"])) if p["tile_k"] else [k]
        if p["unroll_k"] > 1:  # checked: divides k and tile_k
            ks[-1:] = L.split(ks[-1], factor=p["unroll_k"])
            L.unroll(ks[-1])
        L.reorder(*ks, ci, cj)
        if p["unroll"]:
            L.unroll(ci)
        L.vectorize(cj)
        return s


class DenseSpace(GemmSpace):
    """dense (X @ W.T + b, alt.ops.dense) as a tiled GEMM: the weight W (n x k) stored transposed
    (KN) or packed into panels of nb columns of W.T; the bias add is an epilogue of the tile. X is
    an activation in every network, so the template does not lay it out (no a_layout)."""
    layout_knobs = ("b_layout", "nb")

    def __init__(self, workload, target=None):
        super().__init__(workload, target)
        del self.knobs["a_layout"]

    def default_layout(self):
        return {"b_layout": "KN", "nb": 4 * self.lanes}

    def relayouts(self, point):
        return (1,)  # the weight, transposed or packed

    def _seeds(self):
        return [{k: v for k, v in p.items() if k != "a_layout"} for p in super()._seeds()]

    def _layout_b(self, s, W, p):
        v = s.layout(W)  # logical (n, k)
        if p["b_layout"] == "packed":
            if self.n % p["nb"]:
                v.pad(0, 0, -self.n % p["nb"])
            v.split(0, p["nb"]).reorder(0, 2, 1)  # [n // nb][k][n % nb]
        else:
            v.reorder(1, 0)  # KN


def _panels(view, axis, rows, extent):
    """(.., m, k) -> (.., m // rows, k, rows): row panels, the rows padded up to whole panels."""
    if extent % rows:
        view.pad(axis, 0, -extent % rows)
    view.split(axis, rows).reorder(*range(axis), axis, axis + 2, axis + 1)
