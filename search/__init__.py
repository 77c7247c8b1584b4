"""The joint layout-and-loop auto-tuner: search spaces over layouts and loops, features of lowered
programs, a gradient-boosted cost model, simulated annealing, ask/tell strategies (alt, loop-only,
layout-then-loop, random), isolated measurement and JSON-lines records.

    best, kernel = search.tune("C2D-1", trials=64, strategy="alt", log="run.jsonl")
    record, net = search.tune_network(alt.graph.zoo.resnet18(), trials=512, log="r18.jsonl")
"""
from .space import GemmSpace, Invalid, space_for  # first: the templates below build on its Space
from .conv2d import Conv2dSpace
from .strategy import STRATEGIES, make_strategy
from .tune import TuningFailed, apply_best, tune
from .worker import MeasureError
from .network import tune_network
from .tasks import extract_tasks

__all__ = ["Conv2dSpace", "GemmSpace", "Invalid", "MeasureError", "STRATEGIES", "TuningFailed", "apply_best", "extract_tasks",
           "make_strategy", "space_for", "tune", "tune_network"]
