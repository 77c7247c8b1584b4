"""alt.timing's canary: repeats run while the machine was slow are thrown away, and a timing that
stays slow says so."""
import json
import os

import pytest

import alt.timing as T


class Gauge:
    """A canary whose readings are given: one per probe, the last repeated."""

    def __init__(self, readings):
        self.readings, self.probes = list(readings), 0

    def slowdown(self):
        self.probes += 1
        return self.readings[min(self.probes - 1, len(self.readings) - 1)]


def _clock(monkeypatch, seconds_per_call):
    clock = {"t": 0.0}

    def run():
        clock["t"] += seconds_per_call
    monkeypatch.setattr(T.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(T.time, "sleep", lambda s: None)
    monkeypatch.setattr(T, "runqueue_wait", lambda: 0.0)
    return run


def test_a_repeat_run_while_the_machine_was_slow_is_run_again(monkeypatch):
    run = _clock(monkeypatch, 0.001)
    # probes: before repeat 1, after it, after 2 (slow before and after: thrown away), after 3...
    gauge = Gauge([1.0, 1.0, 1.6, 1.7, 1.0, 1.0])
    t = T.benchmark(run, number=10, repeat=3, probe=gauge)
    assert t.discarded == 1 and len(t.samples) == 3
    assert t.slow <= T.MAX_SLOW and not t.disturbed
    # a slow reading at one end only is a blip of the canary's own, not a slow repeat
    t = T.benchmark(run, number=10, repeat=3, probe=Gauge([1.0, 1.5, 1.0, 1.0]))
    assert t.discarded == 0 and not t.disturbed


def test_a_machine_that_stays_slow_gives_a_timing_that_says_so_not_a_hang(monkeypatch):
    run = _clock(monkeypatch, 0.001)
    t = T.benchmark(run, number=10, repeat=3, probe=Gauge([1.5]))
    assert t.discarded == 3 and len(t.samples) == 3  # `repeat` reruns for slowness, then kept
    assert t.slow == 1.5 and "1.50x slower than its best" in str(t)
    assert not t.disturbed  # no other process was seen: the machine is slow, not busy
    t = T.benchmark(run, number=10, repeat=3, probe=False)
    assert t.discarded == 0 and t.slow == 1.0 and "slower" not in str(t)


def test_a_min_is_a_full_speed_time_when_one_kept_repeat_ran_at_speed(monkeypatch):
    """A slow machine only lengthens a repeat: the fastest repeat is no longer than one timed at
    speed. `slow` (for the median) is the most slowed kept repeat, `slow_at_min` (for the min, the
    tuner's score) the least."""
    run = _clock(monkeypatch, 0.001)
    # probes before/after each repeat: 1.5 1.5 | 1.0 | 1.5 1.5 ... : the 2nd repeat has one end at speed
    gauge = Gauge([1.5, 1.5, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5])
    t = T.benchmark(run, number=10, repeat=3, probe=gauge, max_slow=float("inf"))  # all kept as they ran
    assert t.slowed == [1.5, 1.0, 1.0] and t.slow == 1.5 and t.slow_at_min == 1.0
    t = T.benchmark(run, number=10, repeat=2, probe=Gauge([1.4, 1.6, 1.3, 1.5]), max_slow=float("inf"))
    assert t.slowed == [1.4, 1.3] and t.slow == 1.4 and t.slow_at_min == 1.3
    assert T.Timing([1e-3]).slow_at_min == 1.0  # no canary reading: nothing seen


def test_the_canary_compares_each_cpu_with_its_own_best_and_leaves_the_thread_where_it_was():
    c = T.Canary()
    home = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    first = c.slowdown()
    assert first == 1.0 and set(c.best) == set(c.cpus)
    assert all(b > 0 for b in c.best.values())
    assert c.slowdown() >= 1.0
    if home is not None:
        assert os.sched_getaffinity(0) == home
    # a CPU that ran its canary 2x faster once makes today's reading 2x slow, the slowest CPU counting.
    # Timed for real, its best after two readings can be 1.46x slower than today's (on an AMD EPYC whose
    # readings flip within a second), so today's reading is a fixed one.
    c.best = {cpu: 1.0 for cpu in c.cpus}
    c.best[c.cpus[0]] = 0.5
    c._time = lambda: 1.0
    assert c.slowdown() == 2.0 and c.best[c.cpus[0]] == 0.5
    if home is not None:
        assert os.sched_getaffinity(0) == home


def test_the_canarys_work_does_not_depend_on_where_its_arrays_were_allocated():
    """Its three arrays start at a cache line in every process. Left where numpy put them, the same
    work took 33-68 us by process on an Intel Xeon (AVX-512 loads and stores split across lines),
    and one lucky process's best made every later one read the machine as 2x slow."""
    for _ in range(3):
        c = T.Canary()
        assert [a.ctypes.data % 64 for a in (c._x, c._y, c._z)] == [0, 0, 0]
        assert len({a.ctypes.data for a in (c._x, c._y, c._z)}) == 3 and c._x.size == c._z.size == 16384
    assert "aligned" in c._key  # a store that an unaligned canary wrote is not read


def test_one_canary_serves_the_process():
    assert T.canary() is T.canary()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no thread pinning on this OS")
def test_the_canary_probes_every_cpu_a_thread_of_this_process_may_use():
    cpus = T._allowed_cpus()
    assert cpus and set(os.sched_getaffinity(0)) <= set(cpus)
    c = T.Canary()
    assert c.cpus == (cpus if 1 < len(cpus) <= 8 else [None])


def test_undisturbed_takes_a_disturbed_timing_again_and_else_keeps_the_least_disturbed(monkeypatch):
    from alt.timing import Timing, undisturbed
    monkeypatch.setattr("time.sleep", lambda s: None)
    quiet, noisy, worse = Timing([1.0, 1.0]), Timing([1.0, 2.0, 2.0]), Timing([1.0, 3.0, 3.0])
    takes = iter([worse, quiet])
    assert undisturbed(lambda: next(takes)) is quiet
    takes = iter([worse, noisy, worse])
    assert undisturbed(lambda: next(takes), attempts=3) is noisy and noisy.disturbed


def test_at_speed_waits_for_a_slow_spell_to_pass_and_gives_up_after_its_time(monkeypatch):
    clock = {"t": 0.0}
    monkeypatch.setattr(T.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(T.time, "sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    gauge = Gauge([1.6, 1.5, 1.1])
    monkeypatch.setattr(T, "canary", lambda: gauge)
    assert T.at_speed(10.0, poll=1.0) == 1.1 and gauge.probes == 3 and clock["t"] == 2.0
    gauge = Gauge([1.6])  # slow for good: back after `seconds`, saying how slow
    clock["t"] = 0.0
    assert T.at_speed(5.0, poll=1.0) == 1.6 and clock["t"] == 5.0


def test_a_fresh_process_canary_starts_from_the_best_times_of_this_boot(tmp_path, monkeypatch):
    """Each tuning run measures in a fresh worker process. Its canary took its first reading as the
    machine's best, so a slow spell at the start of a run passed as full speed (a conv kernel timed
    at half speed, unflagged). Through a store, the best times of this boot carry over; a store of
    another boot, or one that cannot be read, is ignored."""
    monkeypatch.setattr(T, "_boot_id", lambda: "boot-a")
    store = str(tmp_path / "canary.json")
    first = T.Canary(store=store)
    first.slowdown()
    assert set(first.best) == set(first.cpus) and json.load(open(store))  # saved
    cpu = first.cpus[0]
    with first._lock:
        first.best[cpu] /= 1000  # as if this CPU once ran far faster: the next process must read today as slow
        # (a margin of 1000, not 4: the first reading can be a cold one, twice the next, and passed for the best)
        first._save()
    fresh = T.Canary(store=store)
    assert fresh.best[cpu] == pytest.approx(first.best[cpu])
    assert fresh.slowdown() > 2
    monkeypatch.setattr(T, "_boot_id", lambda: "boot-b")  # after a reboot the old times mean nothing
    assert T.Canary(store=store).best == {} and T.Canary(store=store).slowdown() == 1.0
    for junk in ("[not json", "[1, 2]", '{"boot-b 16384x20x5": {"0": "fast"}}'):
        open(store, "w").write(junk)
        assert T.Canary(store=store).best == {} and T.Canary(store=store).slowdown() == 1.0  # and saves over it
    monkeypatch.setattr(T, "_boot_id", lambda: None)  # no boot id: no store
    assert T.Canary(store=store).store is None


@pytest.mark.parametrize("per_call", [0.001, 0.0003, 2e-6, 0.05])
def test_calibration_grows_a_short_batch_to_min_time_in_one_step_not_by_doubling(monkeypatch, per_call):
    """A batch short of min_time is grown to what its time per call says lasts min_time, with a
    tenth to spare: batches last min_time to 1.1x it, and calibrating costs about one batch.
    (Doubling left 1 ms calls at 32 a batch, 1.6x min_time, after 63 calls of calibration.)"""
    calls = {"n": 0}
    tick = _clock(monkeypatch, per_call)

    def run():
        calls["n"] += 1
        tick()
    t = T.benchmark(run, repeat=3, min_time=0.02, probe=False)
    batch = t.number * per_call
    assert 0.02 <= batch <= 0.0225 or (per_call >= 0.02 and t.number == 1)
    calibration = calls["n"] - 1 - 3 * t.number  # all but the warm-up call and the repeats
    assert calibration * per_call <= 0.0225 + 3 * per_call
