"""Operators with numpy references and default schedules."""
from . import reference
from .default import default_schedule, schedule_stage
from .hand import conv2d_tiled, matmul_tiled
from .nn import bias_add, conv2d_nchw, matmul, pad, relu

__all__ = ["bias_add", "conv2d_nchw", "conv2d_tiled", "matmul_tiled", "default_schedule", "matmul", "pad", "reference", "relu", "schedule_stage"]
