"""Measurement on a dask.distributed cluster (search.cluster): a LocalCluster of two worker
processes, one of them killed while it measures."""
import dataclasses
import os
import signal

import numpy as np
import pytest

import alt
from alt.ops import Workload
from search import records as R
from search.space import space_for
from search.tune import tune

distributed = pytest.importorskip("distributed")
from search.cluster import ClusterMeasurer  # noqa: E402 - after the skip

GEMM = Workload("GMM", "test-gemm", (24, 40, 36))
OPTS = {"repeat": 3, "min_time": 0.05, "threads": 1}  # two workers share 2 cores here: one thread each


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as c, distributed.Client(c) as cl:
        yield cl


def test_a_worker_killed_mid_run_loses_no_candidate_and_counts_none_twice(client):
    space = space_for(GEMM)
    rng = np.random.default_rng(5)
    points = []
    while len(points) < 6:
        p = space.sample(rng)
        if p not in points:
            points.append(p)
    seen, killed = [], {}
    pids = client.run(os.getpid)

    def on_result(i, r):
        seen.append(i)
        if killed:
            return
        busy = {w: keys for w, keys in client.processing().items() if keys}
        if busy:  # kill a worker while it measures a candidate
            addr, keys = sorted(busy.items())[0]
            killed.update(addr=addr, keys=set(keys))
            os.kill(pids[addr], signal.SIGKILL)

    with ClusterMeasurer(GEMM, client, **OPTS) as m:
        assert len(m.workers) == 2
        results = m.measure(points, on_result=on_result)
    assert killed, "no worker was busy when the first result came back"
    assert sorted(seen) == list(range(6))  # every candidate reported once
    assert all(r is not None and r["error"] in (R.OK, R.DISTURBED) for r in results), results
    assert all(r["worker"] != killed["addr"] for r in results[seen.index(seen[-1]):])  # requeued elsewhere
    assert {r["host"] for r in results} == {alt.Target.host().model}
    assert m.timings["build"] > 0 and m.timings["run"] > 0


def test_tune_on_a_cluster_logs_who_measured(client, tmp_path):
    log = tmp_path / "c.jsonl"
    rec, kernel = tune(GEMM, trials=4, strategy="random", log=log, scheduler=client, quiet=True,
                       measure_options=OPTS, final=0)
    recs = R.Log(log).read(GEMM)
    assert len(recs) == 4 and all(r["worker"].startswith("tcp://") for r in recs)
    assert rec["error"] == R.OK and kernel is not None
    with pytest.raises(alt.OptionError, match="an executor .* or a scheduler"):
        tune(GEMM, trials=1, scheduler=client, executor=object())


def test_candidates_go_only_to_workers_of_the_target(client):
    other = dataclasses.replace(alt.Target.host(), cores=64)  # no worker of the cluster is this machine
    with pytest.raises(alt.OptionError, match="no worker of the cluster is a .* machine"):
        ClusterMeasurer(GEMM, client, target=other)
    with pytest.raises(alt.OptionError, match="no dask scheduler answered"):
        ClusterMeasurer(GEMM, "tcp://127.0.0.1:1")
    for bad in ("nonsense", 5):  # not an address at all: no 20 s wait, no raw ValueError
        with pytest.raises(alt.OptionError, match=f"scheduler={bad!r} is not a scheduler address"):
            ClusterMeasurer(GEMM, bad)
