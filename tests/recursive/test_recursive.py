"""Recursive models (alt.recursive): every model and every ablation switch against the per-node
numpy recursion and PyTorch eager, on many tree shapes; bad structures and declarations."""
import numpy as np
import pytest

import alt
from alt.recursive import DAG, ModelError, RecursiveModel, StructureError, Tree, compile, data, models, reference
from alt.recursive.model import cell_definition, projection_definition, projections

# 32: cells fused by blocks of rows; 128: by blocks of hidden units shared among the cores
SIZES = {"treefc": 32, "treegru": 128, "treelstm": 128, "mvrnn": 16, "dagrnn": 128}
VOCAB = 50


def make(name):
    return models.MODELS[name](hidden=SIZES[name], vocab=VOCAB, seed=1)


def skewed(depth, seed=0):
    """A left-deep tree: ((((w, w), w), w) ...)."""
    rng = np.random.default_rng(seed)
    t = int(rng.integers(VOCAB))
    for _ in range(depth):
        t = (t, int(rng.integers(VOCAB)))
    return t


TREES = {
    "single node": [7],
    "chain": [data.chain(6, vocab=VOCAB)],
    "complete": [data.complete(3, vocab=VOCAB)],
    "skewed": [skewed(9)],
    "leaves without input": [((-1, 3), (-1, (-1, 2))), (-1, -1), -1, ((1, 2), 3)],  # hoisted: one state, copied
    "mixed batch": [7, ((1, 2), 3), data.complete(2, seed=2, vocab=VOCAB), skewed(5, 1)]
                   + data.sst_like(6, seed=4, vocab=VOCAB),
}
DAGS = {"grid": [data.grid(4, 5, vocab=VOCAB)], "single node": [DAG([[]], np.array([3]))],
        "mixed batch": [data.grid(2, 3, vocab=VOCAB), DAG([[], [0], [0, 1]], np.array([1, 2, 3])),
                        data.grid(3, 1, vocab=VOCAB)]}
OPTIONS = {"all on": {}, "no batching": {"batching": False}, "no leaf specialization": {"leaf_specialization": False},
           "no fusion": {"fusion": False}, "rows 3": {"rows": 3}, "no level tiles": {"level_tiles": False},
           "no hoisting": {"hoist": False}}


@pytest.fixture(scope="module")
def compiled():
    cache = {}

    def get(name, opts):
        key = (name, opts)
        if key not in cache:
            cache[key] = compile(make(name), **OPTIONS[opts])
        return cache[key]
    return get


@pytest.mark.parametrize("opts", list(OPTIONS))
@pytest.mark.parametrize("name", list(models.MODELS))
def test_models_match_the_numpy_recursion(compiled, name, opts):
    net, model = compiled(name, opts), make(name)
    for shape, batch in (DAGS if model.kind == "dag" else TREES).items():
        got, want = net(batch), reference(model, batch)
        assert got.shape == (len(batch), model.states[model.output])
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5, err_msg=f"{name} {opts} on {shape}")


@pytest.mark.parametrize("name", list(models.MODELS))
def test_models_match_pytorch_eager(compiled, name):
    from experiments.recursive_baselines import TorchBatched, TorchEager
    model = make(name)
    batch = DAGS["mixed batch"] if model.kind == "dag" else TREES["mixed batch"]
    got = compiled(name, "all on")(batch)
    for baseline in (TorchEager(model), TorchBatched(model)):
        np.testing.assert_allclose(got, baseline(batch), rtol=2e-4, atol=2e-5, err_msg=type(baseline).__name__)


def test_small_hidden_sizes_fuse_by_rows():
    """Below two blocks of hidden units the fused cell is cut by rows, also with a (rows, 2, H) state."""
    model = models.tree_lstm(hidden=24, vocab=VOCAB, seed=2)
    batch = TREES["mixed batch"]
    np.testing.assert_allclose(compile(model)(batch), reference(model, batch), rtol=2e-4, atol=2e-5)


def test_deep_trees_as_parent_arrays(compiled):
    """3000 levels: no recursion anywhere on the way (linearizer in C, reference iterative)."""
    batch = [data.chain(3000, vocab=VOCAB), skewed(3)]
    np.testing.assert_allclose(compiled("treefc", "all on")(batch), reference(make("treefc"), batch),
                               rtol=2e-4, atol=2e-5)


def test_tree_forms_agree(compiled):
    """The same tree as nested tuples, as a parent-pointer array and as child arrays."""
    net = compiled("treelstm", "all on")
    nested = ((4, 5), (6, (7, 8)))
    # pre-order parent array of the same tree, children in order
    tree = Tree(np.array([-1, 0, 1, 1, 0, 4, 4, 6, 6]), np.array([-1, -1, 4, 5, -1, 6, -1, 7, 8]))
    a, b = net([nested]), net([tree])
    np.testing.assert_array_equal(a, b)
    from alt.recursive.structure import from_nested
    np.testing.assert_array_equal(net([from_nested(nested)]), a)


def test_linearization_numbers_internal_nodes_first_and_batches_by_height():
    from experiments.recursive_baselines import heights
    from alt.recursive.structure import from_nested
    child, _ = from_nested(((1, 2), (3, (4, 5))))
    h = heights(child)
    assert list(h) == [3, 1, 0, 0, 2, 0, 1, 0, 0]
    specialized, generic = compile(make("treefc")), compile(make("treefc"), leaf_specialization=False)
    assert "(leaf ? tile_leaf : tile_internal)" in generic.source  # both cells, then a per-step pick ...
    assert "tile_internal) +" not in specialized.source and "if (leaf)" in specialized.source  # ... or one cell


UNROLLED = {"unroll 2": {"unroll": 2}, "unroll 3, rows 2": {"unroll": 3, "rows": 2},
            "unroll 2, no hoisting, no level tiles": {"unroll": 2, "hoist": False, "level_tiles": False},
            "unroll 4, no leaf specialization": {"unroll": 4, "leaf_specialization": False}}


@pytest.mark.parametrize("opts", list(UNROLLED))
@pytest.mark.parametrize("name", [m for m in models.MODELS if m != "dagrnn"])
def test_unrolled_recursion_matches_the_numpy_recursion(name, opts):
    model = make(name)
    net = compile(model, **UNROLLED[opts])
    assert "alt_unroll(" in net.source
    for shape, batch in TREES.items():
        np.testing.assert_allclose(net(batch), reference(model, batch), rtol=2e-4, atol=2e-5,
                                   err_msg=f"{name} {opts} on {shape}")


def test_unrolling_one_node_tiles_and_bad_depths():
    """One-node tiles: every tile of parents is its own step after its children's steps."""
    net = compile(make("treefc"), unroll=2, rows=1, level_tiles=False)
    plain = compile(make("treefc"), rows=1, level_tiles=False)
    tree = ((1, 2), (3, (4, 5)))
    for n in (net, plain):
        np.testing.assert_allclose(n([tree]), reference(n.model, [tree]), rtol=2e-4, atol=2e-5)
    with pytest.raises(ModelError, match="unroll=2 needs trees"):
        compile(make("dagrnn"), unroll=2)
    with pytest.raises(ModelError, match="unroll=0"):
        compile(make("treefc"), unroll=0)


def test_a_switch_that_is_not_true_or_false_and_a_model_that_is_not_one_are_refused():
    for name, value in (("batching", "yes"), ("fusion", 2), ("hoist", None)):
        with pytest.raises(ModelError, match=f"{name}={value!r}; a switch is True or False"):
            compile(make("treefc"), **{name: value})
    assert compile(make("treefc"), batching=1, refactor=0).options.batching is True  # the tuner's 0/1 knobs
    with pytest.raises(ModelError, match="the model is str 'treelstm', not a RecursiveModel"):
        compile("treelstm")


def test_zoo_model_sizes_are_checked_before_any_weight_is_drawn():
    for fn, kw, match in ((models.tree_gru, {"hidden": "16"}, "model treegru: hidden='16'; give a whole number >= 1"),
                          (models.tree_lstm, {"vocab": 0}, "vocab=0; give a whole number >= 1"),
                          (models.dag_rnn, {"seed": -1}, "seed=-1; give a whole number >= 0"),
                          (models.tree_fc, {"hidden": True}, "hidden=True"),
                          (models.tree_fc, {"hidden": 10 ** 6}, "hidden=1000000 with vocab=1000 is too large"),
                          (models.mv_rnn, {"hidden": 1024, "vocab": 2000}, r"here vocab x 1048576")):
        with pytest.raises(ModelError, match=match):
            fn(**kw)
    m = models.mv_rnn(hidden=np.int64(4), vocab=np.int64(3))  # numpy whole numbers are whole numbers
    assert m.shapes["M"] == (4, 4) and type(m.shapes["M"][0]) is int
    tree = ((0, 1), 2)
    np.testing.assert_allclose(compile(m)([tree])[0], reference(m, [tree])[0], rtol=1e-4, atol=1e-5)


REFACTORED = {"refactor": {"refactor": True},
              "refactor, rows 3, no level tiles": {"refactor": True, "rows": 3, "level_tiles": False},
              "refactor, no leaf specialization": {"refactor": True, "leaf_specialization": False},
              "refactor, no fusion": {"refactor": True, "fusion": False},
              "refactor, no batching": {"refactor": True, "batching": False},
              "refactor, unroll 2, no hoisting": {"refactor": True, "unroll": 2, "hoist": False}}
PROJECTING = [m for m in models.MODELS if projections(models.MODELS[m](hidden=8, vocab=4))]


def test_the_models_with_projections():
    assert PROJECTING == ["treegru", "treelstm"]
    H = SIZES["treegru"]
    assert projections(make("treelstm")) == {("U_f", "h", 0, 0, H): H}
    assert projections(make("treegru")) == {("U_rz", "h", 0, 0, H): H, ("U_rz", "h", 0, H, 2 * H): H}


@pytest.mark.parametrize("opts", list(REFACTORED))
@pytest.mark.parametrize("name", PROJECTING)
def test_refactored_recursion_matches_the_numpy_recursion(name, opts):
    """Recursive refactoring: each node computes its projections (cell_proj_*) after its state, and
    its parent reads them (q0, q1) instead of multiplying its children's states."""
    model = make(name)
    net = compile(model, **REFACTORED[opts])
    assert "cell_proj_" in net.source and "memcpy(q0 + r *" in net.source
    for shape, batch in (DAGS if model.kind == "dag" else TREES).items():
        np.testing.assert_allclose(net(batch), reference(model, batch), rtol=2e-4, atol=2e-5,
                                   err_msg=f"{name} {opts} on {shape}")


def test_refactored_dag_nodes_share_their_projections_with_every_successor():
    """A DAG node's projection is computed once and read by each of its successors (a grid node
    feeds the node right of it and the one below)."""
    H = 16
    rng = np.random.default_rng(3)
    w = {"W": rng.standard_normal((H, H)).astype("f4") / 4, "U": rng.standard_normal((H, H)).astype("f4") / 4}

    def leaf(c):
        return {"h": c.input("x")}

    def internal(c):
        up, x = c.project((0, 1), "U"), c.input("x")
        return {"h": alt.compute((c.rows, H), lambda n, j: alt.tanh(up[n, j] + x[n, j]), name="h")}
    model = RecursiveModel("dagproj", "dag", 2, {"h": H}, leaf, internal, w, {"x": rng.standard_normal((VOCAB, H))})
    for shape, batch in DAGS.items():
        want = compile(model)(batch)
        for opts in ({}, {"rows": 1}, {"leaf_specialization": False}):
            net = compile(model, refactor=True, **opts)
            assert "cell_proj_" in net.source
            np.testing.assert_allclose(net(batch), want, rtol=2e-5, atol=2e-6, err_msg=f"{shape} {opts}")


def test_refactoring_moves_the_childrens_products_out_of_the_internal_cell():
    model = make("treelstm")
    reads = lambda t: {x.name for x in alt.schedule.topo_order([t])}  # noqa: E731
    plain = reads(cell_definition(model, "internal", 4)[1])
    moved = reads(cell_definition(model, "internal", 4, refactor=True)[1])
    assert {"W_U_f", "P0_U_f_0", "P1_U_f_0"} <= plain and not {"Q0", "Q1"} & plain
    assert {"Q0", "Q1"} <= moved and "W_U_f" not in moved and "W_U_iou" in moved  # U_iou (h_l + h_r) stays
    own = reads(projection_definition(model, 4)[1])
    assert {"S", "W_U_f"} <= own and not {"C0", "C1"} & own


def test_refactoring_lets_treegrus_cell_fuse():
    """What refactoring changes in TreeGRU: unrefactored, its r product is read by an elementwise
    stage that a product reads, so it is computed for the whole tile outside the fused block;
    refactored, r is a sum of the children's projections and every remaining product is computed in
    the block. It is off by default (the projections' trip through memory costs more)."""
    from alt.recursive.schedule import schedule_cell, unfused_products

    def outside(name, refactor):
        _, state = cell_definition(make(name), "internal", 4, refactor=refactor)
        return unfused_products(schedule_cell(state), state)
    assert outside("treegru", False) == {"P01_U_rz_0"} and outside("treegru", True) == set()
    assert outside("treelstm", False) == outside("treelstm", True) == set()  # fused either way: no gain
    assert not compile(make("treegru")).options.refactor and compile(make("treegru"), refactor=True).options.refactor


def test_cell_register_tiles_follow_the_registers_and_the_products():
    """Each product of a cell gets the register tile its registers and operands call for: 6 x 2 on
    16 registers for one weight stream shared by the nodes (the 2 weight vectors stay in registers:
    8 loads a step where 3 x 4 needs 15), 3 x 4 for two streams or operands not shared; short tiles
    take their own; 6 x 4 on 32 registers. Every tile fits beside SPARE registers."""
    from alt.recursive.schedule import SPARE, cell_register_tile, cell_rows, schedule_cell
    avx2, avx512 = alt.target.resolve("avx2"), alt.target.resolve("avx512")
    assert cell_register_tile(avx2) == (6, 2) and cell_register_tile(avx512) == (6, 4)
    assert cell_register_tile(avx2, streams=2) == cell_register_tile(avx2, reuse=False) == (3, 4)
    assert [cell_register_tile(avx2, rows=r) for r in (1, 2, 3, 4)] == [(1, 4), (2, 4), (3, 4), (4, 2)]
    assert cell_rows(avx2) == cell_rows(avx512) == 12  # two passes of the tall tile
    for t, blocks in ((avx2, {"treelstm": 2, "treefc": 4}), (avx512, {"treelstm": 4, "treefc": 4})):
        for name, vectors in blocks.items():  # a fused block's weight panel: as wide as its widest tile
            with t:
                cell, state = cell_definition(models.MODELS[name](hidden=256, vocab=VOCAB), "internal", 12)
                s = schedule_cell(state)
            w = next(iter(cell.weight_tensors.values()))
            assert s.layout_of(w).shape[-1] == vectors * t.lanes("float32"), (t, name)
    for t in (avx2, avx512):
        for rows in (None, *range(1, 33)):
            for streams, reuse in ((1, True), (2, True), (1, False)):
                r, v = cell_register_tile(t, rows, streams, reuse)
                assert r * v + SPARE <= t.registers and (rows is None or r <= rows)


def test_a_computed_operand_of_a_product_is_computed_once_per_tile():
    """TreeLSTM's h_l + h_r, DAG-RNN's h_p0 + h_p1 and an unrefactored TreeGRU's summed children are
    stages of their own, computed once per tile (serial: a few adds a node) instead of inside the
    products' inner loops; every product of TreeLSTM and DAG-RNN still runs in the fused block."""
    from alt.recursive.schedule import schedule_cell, unfused_products
    for name, operand, refactor in (("treelstm", "hlr", False), ("dagrnn", "p", False),
                                    ("treegru", "P01_U_rz_0_sum", False)):
        _, state = cell_definition(make(name), "internal", 12, refactor=refactor)
        s = schedule_cell(state)
        st = next(st for st in s.stages if st.name == operand)
        assert st.attach is None and not any(kind == "parallel" for kind in st.annotations.values()), name
        if name != "treegru":
            assert unfused_products(s, state) == set(), name


def test_a_product_too_large_for_a_local_tile_is_computed_for_the_whole_tile():
    """MV-RNN's matrix state in a block of a tall tile (128 nodes x 128 x the block's columns: 2 MiB
    or more on any target) would exceed a local tile: the product is computed for the whole tile
    first, and the result is right; MV-RNN-256 builds for AVX-512's wider blocks too."""
    from alt.recursive.schedule import schedule_cell
    model = models.mv_rnn(hidden=128, vocab=VOCAB, seed=1)
    _, state = cell_definition(model, "internal", 128)
    assert next(st for st in schedule_cell(state).stages if st.name == "M").attach is None
    _, state = cell_definition(model, "internal", 12)
    assert next(st for st in schedule_cell(state).stages if st.name == "M").attach is not None
    batch = TREES["mixed batch"] + [data.complete(7, vocab=VOCAB)]
    np.testing.assert_allclose(compile(model, rows=128)(batch), reference(model, batch), rtol=1e-4, atol=1e-5)
    compile(models.mv_rnn(hidden=256, vocab=VOCAB), target=alt.target.resolve("avx512"))


def test_refactoring_errors_name_the_model_and_the_projection():
    with pytest.raises(ModelError, match="treefc's internal cell has no projection to move"):
        compile(make("treefc"), refactor=True)
    with pytest.raises(ModelError, match="no option 'refactors'"):
        compile(make("treelstm"), refactors=True)
    H = 8

    def model(**project):
        def internal(c):
            return {"h": c.project(**{"children": 0, "weight": "U", **project})}
        return RecursiveModel("bad", "tree", 2, {"h": H}, lambda c: {"h": c.input("x")}, internal,
                              {"U": np.ones((H, H), "f4"), "b": np.ones(H, "f4")}, {"x": np.ones((3, H), "f4")})
    for project, msg in [({"children": 2}, "child 2; nodes have children 0..1"),
                         ({"children": (0, 0)}, "distinct"), ({"column": 1}, "from column 1"),
                         ({"gates": 3}, "gates=3; give a positive divisor"), ({"rows": (4, 2)}, "rows=\\(4, 2\\)"),
                         ({"weight": "b"}, "weight 'b' \\(8,\\)"),
                         ({"state": "c"}, "no state 'c'")]:
        with pytest.raises(ModelError, match=msg):
            compile(model(**project))


def _preorder(tree):
    """(parent, word) of a nested-tuple tree in preorder, without recursion."""
    parent, word, todo = [], [], [(tree, -1)]
    while todo:
        t, p = todo.pop()
        parent.append(p)
        word.append(-1 if isinstance(t, tuple) else t)
        if isinstance(t, tuple):
            todo.extend((c, len(parent) - 1) for c in reversed(t))
    return np.array(parent, np.int32), np.array(word, np.int32)


def test_trees_read_in_c_agree_with_the_python_path(compiled):
    net = compiled("treelstm", "all on")
    rng = np.random.default_rng(3)
    forms = [7, (1,), [1, [2, 3]], ((1, -1), 3), (np.int64(4), 5), ((1, 2), (3, (4, 5)), 6)[:2], skewed(30, 2)]
    forms += [data.random_binary_tree(int(n), rng, VOCAB) for n in rng.integers(1, 40, size=6)]
    forms += [Tree(t.parent.astype(np.int64), t.word) for t in data.sst_like(2, seed=9, vocab=VOCAB)]  # not int32
    for x in forms:
        if not isinstance(x, Tree) and not isinstance(x, (np.integer,)):
            p, w = net._parse(x)
            if not any(isinstance(v, np.integer) for v in _leaves(x)):
                child, word = alt.recursive.structure.from_nested(x)
                assert p is not None and np.array_equal(w, word)
                assert np.array_equal(alt.recursive.structure.from_parents(p, w)[0][:, :child.shape[1]], child)
            else:
                assert p is None  # "np.int64(4)" is not a tree's text: the Python path reads it
        np.testing.assert_array_equal(net([x]), net.run(net.prepare([x])))
    mixed = forms[:5] + forms[-3:]
    np.testing.assert_array_equal(net(mixed), net.run(net.prepare(mixed)))
    with pytest.raises(StructureError, match="neither a word index"):
        net([(1, True)])
    with pytest.raises(StructureError, match=f"word index {2 ** 40}"):
        net([(1, 2 ** 40)])


def test_adjacency_lists_vectorized_agree_with_node_by_node():
    from alt.recursive.structure import from_adjacency
    preds = [[], [0], [0, 1], [], [3, 2, 1], [4]]
    child, _ = from_adjacency(preds, np.arange(6))
    want = np.full((6, 3), -1)
    for i, p in enumerate(preds):
        want[i, :len(p)] = p
    assert np.array_equal(child, want)
    for bad, match in (([[], [True]], "reads node True"), ([[], [0.0]], "reads node 0.0"), ([[], [2]], "reads node 2"),
                       ([[], 0], "preds\\[1\\] is 0")):
        with pytest.raises(StructureError, match=match):
            from_adjacency(bad, np.arange(2))


def _leaves(t):
    return [v for c in t for v in _leaves(c)] if isinstance(t, (tuple, list)) else [t]


def test_bad_structures_are_clear_errors(compiled):
    net = compiled("treelstm", "all on")
    with pytest.raises(StructureError, match="node 1 of the batch .* is on a cycle"):
        net([Tree(np.array([-1, 2, 1]), np.array([-1, 3, 3]))])
    two_parents = (np.array([[1, 2], [2, -1], [-1, -1]], np.int32), np.array([-1, -1, 3], np.int32))
    with pytest.raises(StructureError, match="node 2 .* has two parents"):
        net([two_parents])
    with pytest.raises(StructureError, match="node 0 has 3 children; this model allows at most 2"):
        net([(1, 2, 3)])
    with pytest.raises(StructureError, match=f"word index {VOCAB}; the input tables have {VOCAB} rows"):
        net([(1, VOCAB)])
    with pytest.raises(StructureError, match="an empty batch"):
        net([])
    with pytest.raises(StructureError, match="'a' is neither a word index"):
        net([(1, "a")])
    with pytest.raises(StructureError, match="2 roots"):
        net([Tree(np.array([-1, -1]), np.array([1, 2]))])
    with pytest.raises(StructureError, match="node 1 has parent 5"):
        net([Tree(np.array([-1, 5]), np.array([1, 2]))])
    deep = skewed(600)  # read in C from its repr; the Python path stops at 500 levels
    with pytest.raises(StructureError, match="deeper than 500; give it as Tree"):
        net.prepare([deep])
    np.testing.assert_array_equal(net([deep]), net([Tree(*_preorder(deep))]))
    np.testing.assert_array_equal(net([skewed(400)]), net.run(net.prepare([skewed(400)])))
    too_deep = skewed(100_000)  # beyond Python's own repr
    with pytest.raises(StructureError, match="deeper than 500; give it as Tree"):
        net([too_deep])
    with pytest.raises(StructureError, match="a list of structures"):
        net(((1, 2), 3))
    dag = compiled("dagrnn", "all on")
    with pytest.raises(StructureError, match="is on a cycle"):
        dag([DAG([[1], [0]], np.array([1, 2]))])
    with pytest.raises(StructureError, match="node 0 reads node 7"):
        dag([DAG([[7]], np.array([1]))])
    # the failed calls left the compiled model usable
    np.testing.assert_allclose(net([((1, 2), 3)]), reference(make("treelstm"), [((1, 2), 3)]), rtol=2e-4, atol=2e-5)


def test_bad_declarations_are_clear_errors():
    H = 8

    def leaf(c):
        return {"h": c.input("word")}

    emb = np.zeros((5, H), "f4")
    with pytest.raises(ModelError, match="structure kind 'graph'"):
        RecursiveModel("m", "graph", 2, {"h": H}, leaf, leaf, inputs={"word": emb})
    with pytest.raises(ModelError, match=r"state 'h' has shape \(0,\); a state is a vector"):
        RecursiveModel("m", "tree", 2, {"h": 0}, leaf, leaf, inputs={"word": emb})
    with pytest.raises(ModelError, match="weight name 'bad name'"):
        RecursiveModel("m", "tree", 2, {"h": H}, leaf, leaf, weights={"bad name": np.ones(2)})
    with pytest.raises(ModelError, match="non-finite"):
        RecursiveModel("m", "tree", 2, {"h": H}, leaf, leaf, weights={"W": np.array([np.nan])})

    def wrong_states(c):
        return {"x": c.input("word")}
    m = RecursiveModel("m", "tree", 2, {"h": H}, leaf, wrong_states, inputs={"word": emb})
    with pytest.raises(ModelError, match=r"internal cell returned \['x'\]; it must return a dict with every state"):
        compile(m)

    def wrong_shape(c):
        h = c.child(0)
        return {"h": alt.compute((c.rows, H + 1), lambda n, j: h[n, 0])}
    m = RecursiveModel("m", "tree", 2, {"h": H}, leaf, wrong_shape, inputs={"word": emb})
    with pytest.raises(ModelError, match=r"state .h. is \((\d+), 9\); it must be a tensor of shape \(\1, 8\)"):
        compile(m)

    def unknown_child(c):
        return {"h": c.child(2)}
    m = RecursiveModel("m", "tree", 2, {"h": H}, leaf, unknown_child, inputs={"word": emb})
    with pytest.raises(ModelError, match="child 2; nodes have children 0..1"):
        compile(m)
    with pytest.raises(alt.AltError, match="rows=0"):
        compile(make("treefc"), rows=0)
