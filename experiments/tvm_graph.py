"""TVM MetaSchedule on a whole network: the same graph, tuned by TVM under the same trial budget.

The graph is run by PyTorch eager (experiments.torch_graph), exported with `torch.export`, and
imported into Relax (`from_exported_program`, weights kept as parameters). TVM's own static-shape
tuning pipeline then does what TVM users do for a CPU: legalize, fuse (a conv2d with its
batch-norm, residual add and ReLU becomes one task), tune every fused task with MetaSchedule
under one global budget (`total_trials`, shared by TVM's gradient task scheduler, with at most
ceil(budget / tasks) per task so that none is left untuned), and pre-pack the weights into the
layouts the tuned kernels chose (`cpu_weight_prepack`). The compiled module runs in Relax's VM.

    net = TVMNetwork(graph, trials=192)           # tunes; net.tune_s, net.trials_run, net.tasks
    y = net(x)                                    # numpy in, [numpy] out
    seconds = net.time(x)
    net.close()

TVMNetwork keeps TVM (and the PyTorch it exports from) in a process of its own
(experiments.isolated): TVM's LLVM and PyTorch in one process corrupt the heap at exit. TVMModule
is the same thing in the calling process. Needs `pip install -e ".[baselines]"` (see
experiments.tvm_baseline.available). MetaSchedule's logs go to `log_path`.
"""
import json
import math
import os
import tempfile
import time

import numpy as np

from experiments.isolated import Remote
from experiments.timing import time_callable
from experiments.torch_graph import TorchGraph
from experiments.tvm_baseline import _output_to, patient_builder, tvm_target


def _fuse(mod):
    """The passes TVM's pipeline runs before it extracts tuning tasks (to count them)."""
    from tvm import ir, relax
    T = relax.transform
    return ir.transform.Sequential([T.DecomposeOpsForInference(), T.CanonicalizeBindings(), T.LegalizeOps(),
                                    T.AnnotateTIROpPattern(), T.FoldConstant(), T.FuseOps(), T.FuseTIR()])(mod)


class TVMNetwork(Remote):
    """TVMModule in a child process: the same constructor and methods, and `close()`."""

    keep = ("tasks", "trials_run", "tune_s")

    def __init__(self, graph, trials, log_path=os.devnull, target=None):
        super().__init__(__name__, "TVMModule", graph, trials, log_path, target,
                         what=f"TVM MetaSchedule on {graph.name}")


class TVMModule:
    """`graph` compiled by TVM Relax with MetaSchedule tuning of `trials` measurements in all."""

    def __init__(self, graph, trials, log_path=os.devnull, target=None):
        import torch
        import tvm
        from tvm import relax
        from tvm.relax.frontend.torch import from_exported_program
        from tvm.s_tir import meta_schedule as ms
        self.graph, self.trials = graph, trials
        tg = TorchGraph(torch, graph, "eager")

        class Module(torch.nn.Module):
            def forward(self, *xs):
                return tuple(tg._forward(*xs))

        examples = tuple(torch.zeros(v.shape) for v in graph.inputs)
        t0 = time.perf_counter()
        with _output_to(log_path):
            exported = torch.export.export(Module(), examples)
            mod = from_exported_program(exported, keep_params_as_input=True)
            mod, params = relax.frontend.detach_params(mod)
            self.target = tvm.target.Target(tvm_target(target))
            with self.target:
                self.tasks = len(ms.relax_integration.extract_tasks(_fuse(mod), self.target))
            patient_builder()  # the tuning pass's builder, not one that times out on every candidate
            with tempfile.TemporaryDirectory(prefix="alt-tvm-net-") as work:
                pipeline = relax.get_pipeline("static_shape_tuning", target=self.target, work_dir=work,
                                              total_trials=trials, cpu_weight_prepack=True,
                                              max_trials_per_task=max(1, math.ceil(trials / max(1, self.tasks))))
                with self.target:
                    tuned = pipeline(mod)
                self.trials_run = _count_records(os.path.join(work, "database_tuning_record.json"))
            self.tune_s = time.perf_counter() - t0
            self.vm = relax.VirtualMachine(tvm.compile(tuned, target=self.target), tvm.cpu())
            self.params = self.vm["main_transform_params"](params["main"]) if params else []

    def _tensors(self, *arrays):
        import tvm
        return [tvm.runtime.tensor(np.ascontiguousarray(a, np.float32), tvm.cpu()) for a in arrays]

    def _run(self, xs):
        return self.vm["main"](*xs, *self.params)

    def __call__(self, *arrays):
        out = self._run(self._tensors(*arrays))
        outs = [out] if hasattr(out, "numpy") else list(out)
        return [o.numpy() for o in outs]

    def time(self, *arrays, repeat=5):
        xs = self._tensors(*arrays)
        return time_callable(lambda: self._run(xs), repeat=repeat)


def _count_records(path):
    """Measured candidates in MetaSchedule's JSON database (one JSON line each)."""
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.strip() and isinstance(json.loads(line), list))
