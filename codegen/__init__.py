"""Code generation: renderer (IR -> source), compiler (source -> library), program (load, call, time)."""
from .c_render import CRenderer
from .cstyle import CStyleRenderer
from .compiler import compile_c
from .program import CProgram

__all__ = ["CRenderer", "CStyleRenderer", "compile_c", "CProgram"]
