"""Recursive models compiled the Cortex way: a structure (tree, sequence, DAG) is linearized in C,
nodes are grouped into batches of equal height ahead of time, leaves get their own cell, each cell
is one fused loop nest over a tile of nodes, and one generated C function runs the whole model.

    from alt.recursive import compile, models
    net = compile(models.tree_lstm(hidden=256))
    roots = net([((1, 2), 3), (4, (5, 6))])     # nested tuples of word indices; or Tree / DAG
"""
from .compile import CompiledModel, compile  # noqa: A004 - alt.recursive.compile is the verb users know
from .model import Cell, ModelError, RecursiveModel
from .reference import reference, run_reference
from .structure import DAG, StructureError, Tree
from . import models

__all__ = ["Cell", "CompiledModel", "DAG", "ModelError", "RecursiveModel", "StructureError", "Tree", "compile",
           "models", "reference", "run_reference"]
