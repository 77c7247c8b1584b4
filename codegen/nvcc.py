"""Compiler for CUDA: source -> cubin for a target's architecture with nvcc, cached by a hash of
the source, the architecture, the flags and nvcc's version (the CUDA twin of codegen.compiler)."""
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from alt.errors import BuildError

from . import tools
from .compiler import TIMEOUT, cache_dir, rejection

FLAGS = ("-O3", "-std=c++17")  # IEEE float: no --use_fast_math, results match the CPU


def nvcc_path():
    """nvcc's path: $ALT_NVCC, else nvcc on PATH, else the toolkit's own bin/nvcc; None if none."""
    for cand in (os.environ.get("ALT_NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and os.path.exists(cand):
            return cand
    return None


@lru_cache(maxsize=None)
def _version(path):
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    return lines[-1] if lines else "nvcc"


def compile_cuda(source, target, what="a CUDA kernel"):
    """Path of the cubin of `source` for CUDA target `target` (cached). A CompileError quotes the
    lines nvcc rejected; a BuildError says so where nvcc is missing."""
    path = nvcc_path()
    if path is None:
        raise BuildError(f"nvcc was not found (PATH, $ALT_NVCC, /usr/local/cuda/bin) to compile {what}; install "
                         "the CUDA toolkit or point ALT_NVCC at its bin/nvcc")
    flags = FLAGS + (f"-arch={target.arch}",)
    key = hashlib.sha256("\0".join((source, " ".join(flags), _version(path))).encode()).hexdigest()[:32]
    d = cache_dir().parent / "cuda"
    d.mkdir(parents=True, exist_ok=True)
    out = d / f"{key}.cubin"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        src = Path(tmp) / "kernel.cu"
        src.write_text(source)
        cubin = Path(tmp) / "kernel.cubin"
        try:
            res = tools.run([path, "-cubin", *flags, str(src), "-o", str(cubin)], timeout=TIMEOUT)  # and cicc, ptxas
        except subprocess.TimeoutExpired:
            raise BuildError(f"nvcc did not finish compiling {what} within {TIMEOUT:.0f} s") from None
        if res.returncode != 0:
            raise _rejection(what, source, res.stderr + res.stdout, res.returncode)
        (d / f"{key}.cu").write_text(source)
        os.replace(cubin, out)
    return out


def _rejection(what, source, output, code):
    return rejection(what, "nvcc", "CUDA", source, output, code, r"kernel\.cu\((\d+)\): (?:catastrophic )?error:? (.*)")
