"""The CUDA target: an NVIDIA GPU architecture and the limits a schedule must respect on it.

    alt.Target.parse("cuda")                      the GPU here (else sm_90: H100/H200), CUDA's limits
    alt.Target.parse("cuda -arch=sm_80 -shared-bytes=96K")

A CUDA target is one more target, not a second compiler: schedules bind loops to blockIdx and
threadIdx (Stage.bind), `alt.build(s, args, target="cuda")` lowers as for the CPU, renders with
codegen.CUDARenderer, compiles with nvcc (codegen.nvcc) and loads through pycuda where a GPU is
(codegen.cuda_program). Without a GPU, codegen.emulate runs the same lowered kernel on the CPU.
"""
import dataclasses
import hashlib
import re
from dataclasses import dataclass

from .errors import AltError
from .target import InEffect

ARCHS = ("sm_75", "sm_80", "sm_86", "sm_87", "sm_89", "sm_90", "sm_100", "sm_120")  # nvcc 12/13 build all
MAX_THREADS = 1024  # threads per block on every architecture since sm_20
THREAD_TAGS = ("threadIdx.x", "threadIdx.y", "threadIdx.z")
BLOCK_TAGS = ("blockIdx.x", "blockIdx.y", "blockIdx.z")
MAX_GRID = {"blockIdx.x": 2 ** 31 - 1, "blockIdx.y": 65535, "blockIdx.z": 65535}
MAX_BLOCK = {"threadIdx.x": 1024, "threadIdx.y": 1024, "threadIdx.z": 64}


class CUDATargetError(AltError, ValueError):
    """A CUDA target string or field that does not describe a GPU alt can compile for."""


@dataclass(frozen=True)
class CUDATarget(InEffect):
    """An NVIDIA GPU: `arch` (nvcc's sm_XY), `max_threads` per block, `shared_bytes` of static
    shared memory per block, `threads` per block of the default schedule."""
    name: str = "cuda"
    arch: str = "sm_90"
    max_threads: int = MAX_THREADS
    shared_bytes: int = 48 << 10  # static __shared__ per block (more needs dynamic opt-in)
    threads: int = 256
    model: str = ""  # the GPU's name, where one was detected
    kind = "cuda"

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise CUDATargetError(f"target {self.name!r}: arch={self.arch!r}; use one of {', '.join(ARCHS)}")
        for f in ("max_threads", "shared_bytes", "threads"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise CUDATargetError(f"target {self.name!r}: {f}={v!r}; use a whole number >= 1")
        if self.max_threads > MAX_THREADS:
            raise CUDATargetError(f"target {self.name!r}: max_threads={self.max_threads}; CUDA allows at most "
                                  f"{MAX_THREADS} threads a block")
        if self.threads > self.max_threads or self.threads % 32:
            raise CUDATargetError(f"target {self.name!r}: threads={self.threads}; use a multiple of 32 (a warp) "
                                  f"up to max_threads={self.max_threads}")

    @property
    def compute(self):
        """nvcc's virtual architecture (compute_XY) of `arch`."""
        return "compute_" + self.arch[3:]

    def key(self):
        return hashlib.sha256(f"cuda|{self.arch}|{self.max_threads}|{self.shared_bytes}".encode()).hexdigest()[:16]

    def runs_here(self):
        """Is there a GPU of this architecture and pycuda to launch on it?"""
        from codegen.cuda_program import device_arch
        arch = device_arch()
        return arch is not None and int(arch[3:]) >= int(self.arch[3:])

    def __str__(self):
        return (f"cuda -arch={self.arch} -max-threads={self.max_threads} -shared-bytes={self.shared_bytes} "
                f"-threads={self.threads}")

    def describe(self):
        return f"{self.model or 'NVIDIA GPU'} ({self.arch}, {self.max_threads} threads a block, " \
               f"{self.shared_bytes >> 10}K shared memory a block)"

    def to_dict(self):
        return dict(dataclasses.asdict(self), kind="cuda")

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in names})
        except TypeError as e:
            raise CUDATargetError(f"target record {d!r}: {e}") from None

    def same_machine(self, other):
        o = other if isinstance(other, CUDATarget) else None
        if o is None and isinstance(other, dict) and other.get("kind") == "cuda":
            o = CUDATarget.from_dict(other)
        return o is not None and (o.model, o.arch) == (self.model, self.arch)

    @classmethod
    def parse(cls, text):
        """A CUDATarget from 'cuda' followed by -arch=, -max-threads=, -shared-bytes=, -threads=."""
        from .target import _size
        words = str(text).split()
        if not words or words[0] != "cuda":
            raise CUDATargetError(f"target {text!r}: a CUDA target starts with 'cuda'")
        fields = {}
        for w in words[1:]:
            m = re.match(r"^-([a-z-]+)=(\S+)$", w)
            if not m or m.group(1) not in ("arch", "max-threads", "shared-bytes", "threads"):
                raise CUDATargetError(f"target {text!r}: option {w!r} is not one of -arch=sm_XY, -max-threads=N, "
                                      "-shared-bytes=SIZE, -threads=N")
            key, value = m.group(1).replace("-", "_"), m.group(2)
            if key == "arch":
                fields[key] = value
            elif key == "shared_bytes":
                fields[key] = _size(value, "-shared-bytes")
            elif value.isdigit():
                fields[key] = int(value)
            else:
                raise CUDATargetError(f"target {text!r}: -{m.group(1)}={value!r}; use a whole number")
        if "arch" not in fields:  # the GPU here, where there is one; else sm_90 (H100/H200)
            from codegen.cuda_program import device_arch
            here = device_arch()
            if here in ARCHS:
                fields["arch"] = here
        return cls(name=str(text).strip(), **fields)
