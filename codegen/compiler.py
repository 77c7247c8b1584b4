"""Compiler: C source -> shared library for a target, cached by a hash of source, flags, compiler
and target (alt.target.Target.key: a host build is keyed on the CPU it was built on)."""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from alt.errors import BuildError

from . import tools

# -fno-wrapv: Python's CFLAGS carry -fwrapv, which stops gcc's vectorizer. -fno-math-errno: no kernel reads
# errno, and with it set gcc can neither vectorize nor hoist sqrtf (layer norm ran 5x slower). The target adds -O3,
# -march and the vector width (alt.target.Target.flags).
BASE_FLAGS = ("-fno-wrapv", "-fno-math-errno", "-fopenmp", "-fPIC", "-shared", "-std=gnu11")
TIMEOUT = 120.0


def cache_dir():
    root = os.environ.get("ALT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "alt")
    path = Path(root) / "c"
    path.mkdir(parents=True, exist_ok=True)
    return path


def compiler():
    return os.environ.get("ALT_CC", "gcc")


@lru_cache(maxsize=None)
def _version(cc):
    path = shutil.which(cc)
    if path is None:
        raise BuildError(f"C compiler {cc!r} was not found on PATH; install gcc (e.g. `apt install gcc`) "
                         "or point ALT_CC at a C compiler")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    return path, out.stdout.splitlines()[0] if out.stdout else cc


def flags(target):
    """Every gcc flag of a build for `target`."""
    return tuple(target.flags()) + BASE_FLAGS


@lru_cache(maxsize=None)
def _mvec(path, target):
    """Flags for glibc's vector math library (exp, log, tanh on whole vectors), where it links."""
    from .c_render import mvec_declarations
    test = ("#define ALT_MVEC\n#include <math.h>\n" + mvec_declarations(target) +
            "void f(float* a) {\n#pragma omp simd\nfor (int i = 0; i < 64; ++i) a[i] = expf(a[i]);\n}\n")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "t.c"
        src.write_text(test)
        try:
            res = tools.run([path, *flags(target), str(src), "-o", str(Path(tmp) / "t.so"), "-lmvec", "-lm"],
                            timeout=60)
        except (subprocess.TimeoutExpired, OSError):
            return ()
    return ("-DALT_MVEC", "-lmvec") if res.returncode == 0 else ()


class CompileError(BuildError):
    """The C compiler rejected generated source. `lines` are the source line numbers it points at,
    `output` its messages; the message names what was compiled and quotes the lines."""

    def __init__(self, message, lines=(), output=""):
        super().__init__(message)
        self.lines, self.output = tuple(lines), output


def rejection(what, cc, language, source, output, code, pattern):
    """A CompileError for `cc` rejecting `source`: its first error and the lines it points at
    (`pattern` finds (line, message) in the compiler's `output`)."""
    errors = list(re.finditer(pattern, output))
    lines = sorted({int(m.group(1)) for m in errors})
    text = source.splitlines()
    quoted = "".join(f"\n  line {n}: {text[n - 1].strip()}" for n in lines[:5] if 0 < n <= len(text))
    first = errors[0].group(2) if errors else f"exit code {code}"
    return CompileError(f"{cc} rejected the generated {language} of {what}: {first}{quoted}\n--- {cc} output ---\n"
                        f"{output[-3000:]}", lines, output)


def _rejection(what, cc, source, stderr, code):
    return rejection(what, cc, "C", source, stderr, code, r"kernel\.c:(\d+):(?:\d+:)? (?:fatal )?error: (.*)")


def compile_c(source, target=None, what="a kernel"):
    """Compile `source` for `target` (alt.target.resolve: None is the target in effect) into a shared
    library and return its path (cached). `what` names the source in errors (a CompileError quoting
    the lines the compiler rejected)."""
    from alt.target import resolve
    target = resolve(target)
    cc = compiler()
    path, version = _version(cc)
    all_flags = flags(target) + _mvec(path, target)
    key = hashlib.sha256("\0".join((source, " ".join(all_flags), version, target.key())).encode()).hexdigest()[:32]
    out = cache_dir() / f"{key}.so"
    if out.exists():
        return out
    d = cache_dir()
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        src = Path(tmp) / "kernel.c"
        src.write_text(source)
        lib = Path(tmp) / "kernel.so"
        try:
            res = tools.run([path, *all_flags, str(src), "-o", str(lib), "-lm"], timeout=TIMEOUT)  # kills cc1 too
        except subprocess.TimeoutExpired:
            raise BuildError(f"{cc} did not finish compiling {what} within {TIMEOUT:.0f} s") from None
        if res.returncode != 0:
            raise _rejection(what, cc, source, res.stderr, res.returncode)
        (d / f"{key}.c").write_text(source)
        os.replace(lib, out)  # atomic: a concurrent build of the same source sees a whole file
    return out
