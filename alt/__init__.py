"""alt: a tensor-expression compiler with joint layout and loop tuning (ALT, Cortex).

    A = alt.placeholder((M, K), name="A")
    k = alt.reduce_axis(K, name="k")
    C = alt.compute((M, N), lambda i, j: alt.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = alt.create_schedule(C)
    f = alt.build(s, [A, B, C])                 # for the machine it runs on (alt.Target.host())
    with alt.Target.parse("avx2"):              # or for another CPU: schedules and code follow it
        g = alt.build(alt.ops.default_schedule(C), [A, B, C])
"""
from .build import Kernel, build
from .errors import AltError, ArgumentError, BuildError, ComputeError, OptionError, ScheduleError, WorkloadError
from .expr import (Expr, IterVar, Var, all_ as all, any_ as any, cast, exp, log, max_ as max, min_ as min,
                   select, sigmoid, sqrt, sum_ as sum, tanh)
from .interp import evaluate
from .lower import lower
from .schedule import Schedule, Stage, create_schedule
from .target import Target, TargetError
from .tensor import Tensor, compute, placeholder, reduce_axis
from . import ops  # noqa: E402


def apply_best(log, workload, args=None, target=None):
    """The kernel of the best tuning record of `workload` in the JSON-lines `log` (see search.tune);
    for a network (alt.graph.Graph), the tuned network (see search.tune_network)."""
    from search.tune import apply_best as best
    return best(log, workload, args, target)


__version__ = "0.1.0"

__all__ = ["apply_best", "AltError", "ArgumentError", "BuildError", "ComputeError", "OptionError", "ScheduleError",
           "WorkloadError", "Target", "TargetError", "Expr", "IterVar", "Var",
           "Kernel", "Schedule", "Stage", "Tensor", "all", "any", "build", "cast", "compute", "create_schedule",
           "evaluate", "exp", "log", "lower", "max", "min", "ops", "placeholder", "reduce_axis", "select",
           "sigmoid", "sqrt", "sum", "tanh"]
