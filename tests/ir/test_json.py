"""A schedule is data: its JSON replays to the identical C source, also on a fresh definition."""
import json

import pytest

import alt
from alt import steps
from codegen import CRenderer
from conftest import make_conv, make_gemm


def source(s, args):
    return CRenderer().render(alt.lower(s, args))[0]


def gemm_schedule(s, C):
    alt.ops.matmul_tiled(s, C, 4, 16)
    s[s.stage("C")].pragma(s.stage("C").leaves[1], "unroll", 2)


def conv_schedule(s, Y):
    alt.ops.conv2d_tiled(s, Y, tile_o=2)
    s[Y].unroll(s[Y].leaves[2])


def default_steps(s, out):
    for step in alt.ops.default_schedule(out).steps:
        s.apply(step)


@pytest.mark.parametrize("make,fn", [(make_gemm, gemm_schedule), (make_conv, conv_schedule),
                                     (make_conv, default_steps)])
def test_round_trip_gives_identical_source(make, fn):
    args, out = make()
    s = alt.create_schedule(out)
    fn(s, out)
    text = s.to_json()
    assert json.loads(text)["steps"], "the schedule recorded no steps"
    replayed = alt.Schedule.from_json(text, [out])
    assert replayed.to_json() == text
    assert source(replayed, args) == source(s, args)
    fresh_args, fresh_out = make()  # a new compute definition with the same names
    fresh = alt.Schedule.from_json(text, [fresh_out])
    assert source(fresh, fresh_args) == source(s, args)


def test_steps_are_small_frozen_records():
    args, C = make_gemm()
    s = alt.create_schedule(C)
    s[C].split(C.axis[0], factor=4)
    assert s.steps == [steps.Split("C", "i", factor=4)]
    with pytest.raises(Exception):
        s.steps[0].factor = 8
    assert steps.to_dict(s.steps[0]) == {"step": "split", "stage": "C", "axis": "i", "factor": 4}


def test_replay_rejects_bad_json():
    args, C = make_gemm()
    with pytest.raises(alt.ScheduleError, match="not valid JSON"):
        alt.Schedule.from_json("{", [C])
    with pytest.raises(alt.ScheduleError, match="'version'"):
        alt.Schedule.from_json('{"steps": []}', [C])
    bad = json.dumps({"version": 1, "steps": [{"step": "explode", "stage": "C"}]})
    with pytest.raises(alt.ScheduleError, match="'explode'"):
        alt.Schedule.from_json(bad, [C])
    bad = json.dumps({"version": 1, "steps": [{"step": "split", "stage": "C", "axis": "q", "factor": 2}]})
    with pytest.raises(alt.ScheduleError, match="no axis named 'q'"):
        alt.Schedule.from_json(bad, [C])
