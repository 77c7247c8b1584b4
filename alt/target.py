"""The machine alt compiles and tunes for: the one place that knows the CPU.

A Target is data: the ISA (vector width in bytes, vector registers, FMA), the cores, the cache
sizes, and the gcc `-march` it compiles with. Default schedules, hand schedules, the recursive
cells, the tuning spaces, the features, the compiler flags and the build cache all read it;
nothing else in alt knows which CPU it runs on.

    Target.host()                       the machine this runs on (-march=native), detected
    Target.parse("avx2")                a generic x86-64 CPU with AVX2 (x86-64-v3); "avx512" likewise
    Target.parse("znver3")              a named CPU (gcc's -march name), see `Target.known()`
    Target.parse("c -mcpu=znver3 -cores=4")   with fields overridden: -cores, -vector-bytes,
                                        -registers, -l1, -l2, -l3 (sizes in bytes, or with K/M)

The target in effect (`current()`) is that of the innermost `with target:` block of this thread,
else the one named by the ALT_TARGET environment variable, else the host.
"""
import dataclasses
import functools
import hashlib
import os
import platform
import re
import subprocess
import threading
from dataclasses import dataclass

from .errors import AltError


class TargetError(AltError, ValueError):
    """A target string or field that does not describe a machine alt can compile for."""


# isa -> (vector bytes, vector registers, fma, cpu flags a machine needs to run its code)
ISAS = {
    "sse4": (16, 16, False, ("sse4_2",)),
    "avx2": (32, 16, True, ("avx2", "fma")),
    "avx512": (64, 32, True, ("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl")),
    "neon": (16, 32, True, ("asimd",)),  # "asimd" in an Arm Linux /proc/cpuinfo's Features
}
# gcc -march name -> (isa, extra cpu flags its code may use)
CPUS = {
    "x86-64-v2": ("sse4", ()),
    "x86-64-v3": ("avx2", ("bmi2", "movbe")),
    "x86-64-v4": ("avx512", ("bmi2", "movbe")),
    "haswell": ("avx2", ("bmi2",)),
    "broadwell": ("avx2", ("bmi2", "adx")),
    "skylake": ("avx2", ("bmi2", "adx")),
    "alderlake": ("avx2", ("bmi2", "avx_vnni")),
    "skylake-avx512": ("avx512", ("avx512cd",)),
    "cascadelake": ("avx512", ("avx512_vnni",)),
    "cooperlake": ("avx512", ("avx512_vnni", "avx512_bf16")),
    "icelake-server": ("avx512", ("avx512_vbmi2", "gfni", "vaes")),
    "sapphirerapids": ("avx512", ("avx512_fp16", "amx_tile", "avx512_bf16")),
    "znver1": ("avx2", ("sse4a",)),
    "znver2": ("avx2", ("sse4a", "clwb")),
    "znver3": ("avx2", ("sse4a", "vaes", "vpclmulqdq")),
    "znver4": ("avx512", ("sse4a", "avx512_bf16")),
    "armv8-a": ("neon", ()),
}
ALIASES = {"avx2": "x86-64-v3", "avx512": "x86-64-v4", "sse4": "x86-64-v2"}
_SIZE = re.compile(r"^(\d+)([KMG]?)B?$", re.I)


def _size(text, what):
    m = _SIZE.match(str(text).strip())
    if not m:
        raise TargetError(f"target option {what}={text!r} is not a size in bytes (e.g. 49152, 48K, 2M)")
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]


class InEffect:
    """`with target:` makes a target (CPU or CUDA) the one in effect for this thread."""

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()


@dataclass(frozen=True)
class Target(InEffect):
    """A CPU target. `lanes(dtype)` is the vector width in elements; `flags()` the compiler flags;
    `key()` what makes two targets' compiled code differ (it is part of the build cache key)."""
    name: str  # what the user asked for: "host", "avx2", "znver3", ...
    march: str  # gcc -march value; "native" for the host
    isa: str
    vector_bytes: int
    registers: int  # vector registers
    fma: bool
    cores: int
    l1: int = 32 << 10  # bytes of L1 data cache per core
    l2: int = 1 << 20  # bytes of L2 per core
    l3: int = 8 << 20  # bytes of L3 in all
    model: str = ""  # the CPU's model name, for a detected host
    requires: tuple = ()  # cpu flags (as /proc/cpuinfo names them) its code may use
    kind = "c"  # what renders and compiles its code (alt.cuda_target.CUDATarget: "cuda")

    def __post_init__(self):
        for f in ("vector_bytes", "registers", "cores", "l1", "l2", "l3"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise TargetError(f"target {self.name!r}: {f}={v!r}; use a whole number >= 1")
        if self.vector_bytes not in (16, 32, 64):
            raise TargetError(f"target {self.name!r}: vector_bytes={self.vector_bytes}; use 16, 32 or 64")
        if self.registers < 8:
            raise TargetError(f"target {self.name!r}: registers={self.registers}; a CPU has at least 8 vector "
                              "registers")

    # --- what schedules read ---
    def lanes(self, dtype="float32"):
        """Elements of `dtype` in one vector register."""
        from .dtypes import to_numpy
        return max(1, self.vector_bytes // to_numpy(dtype).itemsize)

    def register_tile(self, rows=(1, 2, 4, 8), vectors=(1, 2, 4)):
        """(rows, vectors) of a register tile of accumulators that fits the register file together
        with one row of operand vectors and one broadcast value (rows * vectors + vectors + 1 <=
        registers): the largest, then the one with the fewest loads per multiply-add (rows +
        vectors per rows * vectors). Powers of two by default, so tiles divide common extents."""
        fit = [(r, v) for r in rows for v in vectors if r * v + v + 1 <= self.registers] or [(1, 1)]
        return max(fit, key=lambda t: (t[0] * t[1], -(t[0] + t[1]) / (t[0] * t[1]), t[0]))

    # --- what the compiler reads ---
    def flags(self):
        """gcc flags for this target's code."""
        if self.isa == "neon":
            return ("-O3", "-mcpu=native" if self.march == "native" else f"-march={self.march}")
        # without -mprefer-vector-width gcc 12 emits only 256-bit vectors for AVX-512 CPUs
        return ("-O3", f"-march={self.march}", f"-mprefer-vector-width={self.vector_bytes * 8}")

    def key(self):
        """A short string that differs whenever the code compiled for two targets may differ."""
        text = f"{self.march}|{self.isa}|{self.vector_bytes}|" + ("|".join(_host_identity())
                                                                 if self.march == "native" else "")
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def runs_here(self):
        """Can this machine run code compiled for the target?"""
        if self.march == "native":
            return True
        flags = _cpu_flags()
        return bool(flags) and set(self.requires) <= flags

    @property
    def mcpu(self):
        """gcc's name of the CPU (the host's resolved from -march=native), e.g. for TVM's -mcpu."""
        return _native_march() if self.march == "native" else self.march

    # --- text ---
    def __str__(self):
        return (f"c -mcpu={self.mcpu} -isa={self.isa} -vector-bytes={self.vector_bytes} -registers={self.registers} "
                f"-cores={self.cores}")

    def describe(self):
        """One line for reports: the CPU and what alt uses of it."""
        what = self.model or self.name
        return (f"{what} ({self.isa}, {self.vector_bytes * 8}-bit vectors, {self.registers} vector registers, "
                f"{'FMA, ' if self.fma else ''}{self.cores} cores, L1 {self.l1 >> 10}K L2 {self.l2 >> 10}K "
                f"L3 {self.l3 >> 20}M)")

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["requires"] = list(self.requires)
        return d

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise TargetError(f"a target record must be an object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: tuple(v) if k == "requires" else v for k, v in d.items() if k in names})
        except TypeError as e:
            raise TargetError(f"target record {d!r}: {e}") from None

    def same_machine(self, other):
        """Is `other` (a Target or its dict) the same target: the same CPU (the model of a detected
        host, else the -march), ISA, vector width and cores?"""
        if getattr(other, "kind", None) == "cuda" or (isinstance(other, dict) and other.get("kind") == "cuda"):
            return False
        o = other if isinstance(other, Target) else Target.from_dict(other)
        return self._identity() == o._identity()

    def _identity(self):
        return (self.model if self.march == "native" else self.march, self.isa, self.vector_bytes, self.cores)

    @staticmethod
    def known():
        return sorted(CPUS) + sorted(ALIASES) + ["host"]

    @classmethod
    def host(cls):
        return _host()

    @classmethod
    def parse(cls, text):
        """A Target from a string (see the module doc) or a Target (returned as it is); a string
        starting with 'cuda' gives an alt.cuda_target.CUDATarget."""
        from .cuda_target import CUDATarget
        if isinstance(text, (Target, CUDATarget)):
            return text
        if isinstance(text, str) and text.split()[:1] == ["cuda"]:
            return CUDATarget.parse(text)
        if not isinstance(text, str) or not text.strip():
            raise TargetError(f"target {text!r}: give a string such as 'host', 'avx2' or 'c -mcpu=znver3'")
        words = text.split()
        opts = {}
        if words[0] in ("c", "llvm"):
            words = words[1:]
        else:
            opts["mcpu"] = words.pop(0)
        for w in words:
            m = re.match(r"^-([a-z0-9-]+)=(\S+)$", w)
            if not m:
                raise TargetError(f"target {text!r}: option {w!r} is not of the form -name=value")
            key = "cores" if m.group(1) == "num-cores" else m.group(1)
            if key in opts:
                what = "the CPU is named twice" if key == "mcpu" else f"-{key} is given twice" + (
                    " (-num-cores is TVM's name for -cores)" if "num-cores" in text else "")
                raise TargetError(f"target {text!r}: {what}; give it once")
            opts[key] = m.group(2)
        cpu = opts.pop("mcpu", "host")
        base = _host() if cpu in ("host", "native") else _named(cpu, text)
        fields = {}
        for opt, field in (("cores", "cores"), ("vector-bytes", "vector_bytes"), ("registers", "registers")):
            if opt in opts:
                v = opts.pop(opt)
                if not v.isdigit():
                    raise TargetError(f"target {text!r}: -{opt}={v!r}; use a whole number")
                fields[field] = int(v)
        for opt in ("l1", "l2", "l3"):
            if opt in opts:
                fields[opt] = _size(opts.pop(opt), f"-{opt}")
        if opts:
            raise TargetError(f"target {text!r}: unknown options {sorted(opts)}; known: -mcpu, -cores, "
                              "-vector-bytes, -registers, -l1, -l2, -l3")
        return dataclasses.replace(base, name=text.strip(), **fields) if fields or cpu not in ("host", "native") \
            else base


def target_from_dict(d):
    """A Target or alt.cuda_target.CUDATarget from its to_dict() (as records hold it)."""
    from .cuda_target import CUDATarget
    if isinstance(d, dict) and d.get("kind") == "cuda":
        return CUDATarget.from_dict(d)
    return Target.from_dict(d)


def missing_flags(target):
    """The CPU flags `target`'s code may use that this machine does not have."""
    return sorted(set(target.requires) - _cpu_flags()) if target.march != "native" else []


def cannot_run(target, what):
    """None where this machine runs code compiled for `target`; else the TargetError to raise for
    compiled object `what` (built, but running it would stop the process on an illegal instruction)."""
    if target is None or target.runs_here():
        return None
    return TargetError(f"{what} was compiled for {target.name} and uses CPU features this machine lacks "
                       f"({', '.join(missing_flags(target))}); its source and library are here, but it runs "
                       "only on such a CPU")


def _named(cpu, text):
    march = ALIASES.get(cpu, cpu)
    if march not in CPUS:
        raise TargetError(f"target {text!r}: unknown CPU {cpu!r}; known: {', '.join(Target.known())}")
    isa, extra = CPUS[march]
    vb, regs, fma, needs = ISAS[isa]
    host = _host()
    return Target(name=cpu, march=march, isa=isa, vector_bytes=vb, registers=regs, fma=fma, cores=host.cores,
                  l1=host.l1, l2=host.l2, l3=host.l3, requires=tuple(sorted(set(needs) | set(extra))))


_local = threading.local()


def _stack():
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def current():
    """The target in effect: the innermost `with target:` of this thread, else $ALT_TARGET, else the host."""
    st = _stack()
    if st:
        return st[-1]
    env = os.environ.get("ALT_TARGET")
    return _parse_env(env) if env else _host()


@functools.lru_cache(maxsize=8)
def _parse_env(text):
    try:
        return Target.parse(text)
    except TargetError as e:
        raise TargetError(f"ALT_TARGET: {e}") from None


def resolve(target):
    """A Target from None (the current one), 'c' (the current one), a string or a Target."""
    if target is None or target == "c":
        return current()
    return Target.parse(target)


# --- the host ---
@functools.lru_cache(maxsize=1)
def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return {}
    info = {}
    for line in text.split("\n\n")[0].splitlines():
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    return info


def _cpu_flags():
    info = _cpuinfo()
    return set((info.get("flags") or info.get("Features") or "").split())


def _host_identity():
    info = _cpuinfo()
    return (info.get("model name", platform.processor()), " ".join(sorted(_cpu_flags())))


def _cache_sizes():
    """(L1 data per core, L2 per core, L3 in all) in bytes from sysfs, None where unknown."""
    out = {}
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return None, None, None
    for e in entries:
        try:
            with open(f"{root}/{e}/level") as f:
                level = int(f.read())
            with open(f"{root}/{e}/type") as f:
                kind = f.read().strip()
            with open(f"{root}/{e}/size") as f:
                size = _size(f.read().strip(), "cache size")
        except (OSError, ValueError, TargetError):
            continue
        if kind != "Instruction":
            out[level] = size
    return out.get(1), out.get(2), out.get(3)


@functools.lru_cache(maxsize=1)
def _native_march():
    """gcc's -march for this machine (what -march=native resolves to)."""
    cc = os.environ.get("ALT_CC", "gcc")
    try:
        out = subprocess.run([cc, "-march=native", "-Q", "--help=target"], capture_output=True, text=True, timeout=30)
        m = re.search(r"^\s+-march=\s+(\S+)", out.stdout, re.M)
        if m:
            return m.group(1)
    except (OSError, subprocess.SubprocessError):
        pass
    return "native"


@functools.lru_cache(maxsize=1)
def _host():
    flags = _cpu_flags()
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        isa = "neon"
    elif set(ISAS["avx512"][3]) <= flags:
        isa = "avx512"
    elif set(ISAS["avx2"][3]) <= flags:
        isa = "avx2"
    else:
        isa = "sse4"
    vb, regs, fma, _ = ISAS[isa]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    l1, l2, l3 = _cache_sizes()
    defaults = Target.__dataclass_fields__
    return Target(name="host", march="native", isa=isa, vector_bytes=vb, registers=regs,
                  fma=fma and ("fma" in flags or isa == "neon"), cores=cores, l1=l1 or defaults["l1"].default,
                  l2=l2 or defaults["l2"].default, l3=l3 or defaults["l3"].default,
                  model=_cpuinfo().get("model name", platform.processor() or machine))
