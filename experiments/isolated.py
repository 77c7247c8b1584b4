"""Run a baseline in a process of its own: a crash there costs that baseline, not the run.

TVM and PyTorch in one process is a known source of heap corruption, at exit or at import
(LLVM symbol clashes: apache/tvm#12326, #14682, #15669, #18316). So the experiments never import
TVM in their own process: MetaSchedule tunes, runs and is timed in a child that this module
starts (multiprocessing's "spawn": a fresh interpreter, nothing inherited). Arguments and results
travel over a pipe between the two processes (pickled there, never read from disk). The child
leaves with os._exit once it has answered, so no library's exit handlers run in it (only
multiprocessing's own clean-up, which releases the semaphores the child made).

    r = call("experiments.tvm_baseline", "tune", workload, trials, ...)   # one call, one process
    with Server("experiments.tvm_graph", "TVMModule", graph, 64) as net:   # an object in a child
        y = net.call("__call__", x)

PyTorch is timed in a child too (experiments.torch_graph.TorchNetwork), with a heap that keeps
the memory it frees (STEADY_HEAP). glibc gives freed memory back to the system depending on what
the process did before, and PyTorch, which allocates its activations on every call, then faults
them in again: on an Intel Xeon, PyTorch eager ran MobileNet-V2 at 19-22 ms instead of 14.5 in a
process that had compiled alt networks, and ResNet-50 at 70 ms instead of 54 in a fresh process
that had run ResNet-18 first (20,000 page faults a call instead of none). alt's compiled networks
allocate nothing per call. `Remote` is the client side of such a network (`net(x)`,
`net.output(x)`, `net.time(x)`, `net.close()`).

A child that dies before it answers raises ChildDied (an AltError), naming the call and how it
ended. A Server is used from one thread at a time (a lock makes concurrent calls wait their turn).
"""
import importlib
import multiprocessing
import multiprocessing.util
import os
import threading
import traceback

from alt.errors import AltError
from codegen.tools import kill_tree


# glibc tunables of every child: never give freed memory back (trim) nor map a block of its own
# below 32 MiB (glibc's largest mmap threshold), so a baseline's per-call allocations reuse the heap
STEADY_HEAP = "glibc.malloc.trim_threshold=4294967296:glibc.malloc.mmap_threshold=33554432"
_env_lock = threading.Lock()


class ChildDied(AltError):
    """A baseline's process ended (crashed, was killed, or raised) before it answered."""


def _serve(conn):
    """The child's loop: receive (module, name, args), build getattr(module, name)(*args), then
    answer (method, args, kwargs) requests until told (None) to stop. Every answer is ("ok", value)
    or ("error", text)."""
    try:
        module, name, args = conn.recv()
        obj = getattr(importlib.import_module(module), name)(*args)
        conn.send(("ok", None))
        while True:
            method, a, kw = conn.recv()
            if method is None:
                break
            try:
                conn.send(("ok", getattr(obj, method)(*a, **kw)))
            except Exception:  # noqa: BLE001 - the parent raises it, with the child's traceback
                conn.send(("error", traceback.format_exc()))
    except Exception:  # noqa: BLE001 - the same, for building the object
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
        # multiprocessing's own clean-up still runs (semaphores the child made are unlinked and the
        # shared resource tracker told, or it warns of leaked semaphores when the parent exits) ...
        multiprocessing.util._run_finalizers(0)
        os._exit(0)  # ... but no exit handler of whatever the child loaded (the crash this module avoids)


class _Call:
    """A function as a one-method object (call() runs it once in a child)."""

    def __init__(self, module, name, *args):
        self.fn = getattr(importlib.import_module(module), name)
        self.args = args

    def run(self):
        return self.fn(*self.args)


class Server:
    """getattr(module, name)(*args), built and kept in a child process; `call(method, *args)`
    runs one of its methods there and returns the result; `get(attribute)` reads one."""

    def __init__(self, module, name, *args, what=None):
        self.what = what or f"{module}.{name}"
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True, name=f"alt-isolated-{name}")
        with _env_lock:  # the child's environment is this process's at start; tunables are read then
            before = os.environ.get("GLIBC_TUNABLES")
            os.environ["GLIBC_TUNABLES"] = ":".join(filter(None, [before, STEADY_HEAP]))
            try:
                self._proc.start()
            finally:
                if before is None:
                    del os.environ["GLIBC_TUNABLES"]
                else:
                    os.environ["GLIBC_TUNABLES"] = before
        child.close()
        self._lock = threading.Lock()
        # the arguments (a network's weights: megabytes) go over the pipe, not in the process object:
        # multiprocessing writes that to the new process with the pipe's read end still open here, so
        # a child that died starting (a script without a __main__ guard) left the parent blocked forever
        try:
            self._conn.send((module, name, args))
        except OSError:
            pass  # it died: _answer says how
        self._answer("building it")

    def _answer(self, doing):
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(5)
            code = self._proc.exitcode
            how = (f"killed by signal {-code}" if code is not None and code < 0 else
                   f"exit status {code}" if code is not None else "no exit status")
            raise ChildDied(f"{self.what}: its process died while {doing} ({how})") from None
        if status == "error":
            raise ChildDied(f"{self.what}: raised in its process while {doing}:\n{value}")
        return value

    def call(self, method, *args, **kwargs):
        with self._lock:
            if not self._proc.is_alive():
                raise ChildDied(f"{self.what}: its process is no longer running (exit status {self._proc.exitcode})")
            self._conn.send((method, args, kwargs))
            return self._answer(f"running {method}")

    def get(self, attribute):
        return self.call("__getattribute__", attribute)

    def close(self):
        with self._lock:
            if self._proc.is_alive():
                try:
                    self._conn.send((None, (), {}))
                except OSError:
                    pass
            self._proc.join(30)
            if self._proc.is_alive():
                kill_tree(self._proc.pid)  # and what it started (a baseline's compilers and builder pool)
                self._proc.join()
            self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Remote:
    """A network built and run in a child (a Server of getattr(module, name)(*args), whose object
    has `__call__(*arrays)` -> [outputs] and `time(*arrays, repeat)` -> seconds a call): the same
    methods here, and `close()`. Attributes named in `keep` are read once, after the build."""

    keep = ()

    def __init__(self, module, name, *args, what=None):
        self._server = Server(module, name, *args, what=what)
        for k in self.keep:
            setattr(self, k, self._server.get(k))

    def __call__(self, *arrays):
        return self._server.call("__call__", *arrays)

    def output(self, *arrays):
        """The network's first output."""
        return self(*arrays)[0]

    def time(self, *arrays, repeat=5):
        return self._server.call("time", *arrays, repeat=repeat)

    def close(self):
        self._server.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def call(module, name, *args):
    """getattr(module, name)(*args), run once in a child process of its own."""
    with Server(__name__, "_Call", module, name, *args, what=f"{module}.{name}") as s:
        return s.call("run")
