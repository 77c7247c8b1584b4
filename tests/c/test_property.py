"""Property: random sequences of valid primitives give the interpreter's result (GEMM, conv2d)."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alt
from alt.testing import check_schedule
from conftest import make_conv, make_gemm

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_loops(data, s, stage, parallel_ok=True):
    """Structural steps (split, fuse, reorder) in random order, then legal annotations."""
    for _ in range(data.draw(st.integers(0, 5), label="n_steps")):
        leaves = list(stage.leaves)
        kind = data.draw(st.sampled_from(["split", "split_nparts", "reorder", "fuse"]), label="step")
        if kind.startswith("split"):
            v = data.draw(st.sampled_from(leaves), label="split axis")
            n = data.draw(st.integers(1, 9), label="factor")
            stage.split(v, factor=n) if kind == "split" else stage.split(v, nparts=n)
        elif kind == "reorder":
            stage.reorder(*data.draw(st.permutations(leaves), label="order"))
        else:
            pairs = [i for i in range(len(leaves) - 1) if leaves[i].kind == leaves[i + 1].kind]
            if pairs:
                i = data.draw(st.sampled_from(pairs), label="fuse at")
                stage.fuse(leaves[i], leaves[i + 1])
    leaves = stage.leaves
    if leaves[-1].kind == "spatial" and data.draw(st.booleans(), label="vectorize"):
        stage.vectorize(leaves[-1])
    if parallel_ok and leaves[0].kind == "spatial" and leaves[0] not in stage.annotations \
            and data.draw(st.booleans(), label="parallel"):
        stage.parallel(leaves[0])
    small = [v for v in leaves[1:-1] if v.extent <= 8 and v not in stage.annotations]
    if small and data.draw(st.booleans(), label="unroll"):
        stage.unroll(data.draw(st.sampled_from(small), label="unroll axis"))


@SETTINGS
@given(st.data())
def test_random_gemm_schedules(data):
    args, C = make_gemm(m=data.draw(st.integers(1, 20)), n=data.draw(st.integers(1, 20)), k=data.draw(st.integers(1, 9)))
    s = alt.create_schedule(C)
    cached = data.draw(st.booleans(), label="cache_write")
    CC = s.cache_write(C) if cached else None
    random_loops(data, s, s[C])
    if cached:
        spots = s[C].leaves[:-1] if s[C].annotations.get(s[C].leaves[-1]) == "vectorize" else s[C].leaves
        attach = bool(spots) and data.draw(st.booleans(), label="cache at")
        if attach:
            s[CC].compute_at(s[C], data.draw(st.sampled_from(spots), label="cache loop"))
        # a tile computed inside a parallel loop must not open a parallel loop of its own
        random_loops(data, s, s[CC], parallel_ok=not (attach and "parallel" in s[C].annotations.values()))
    check_schedule(s, args)


@SETTINGS
@given(st.data())
def test_random_conv2d_schedules(data):
    stride = data.draw(st.integers(1, 2), label="stride")
    pad = data.draw(st.integers(0, 2), label="pad")
    args, Y = make_conv(n=1, c=data.draw(st.integers(1, 4)), hw=(data.draw(st.integers(3, 9)), 7), o=3, k=3,
                        stride=stride, pad=pad)
    s = alt.create_schedule(Y)
    random_loops(data, s, s[Y])
    if pad:
        P = s.stage("conv.pad")
        where = data.draw(st.sampled_from(["root", "inline", "at"]), label="pad placement")
        if where == "inline":
            P.compute_inline()
        elif where == "at":
            spots = s[Y].leaves[:-1] if s[Y].annotations.get(s[Y].leaves[-1]) == "vectorize" else s[Y].leaves
            P.compute_at(s[Y], data.draw(st.sampled_from(spots), label="pad loop"))
            random_loops(data, s, P, parallel_ok="parallel" not in s[Y].annotations.values())
    check_schedule(s, args)
