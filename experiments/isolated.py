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


class ChildDied(AltError):
    """A baseline's process ended (crashed, was killed, or raised) before it answered."""


def _serve(conn, module, name, args):
    """The child's loop: build getattr(module, name)(*args), then answer (method, args, kwargs)
    requests until told (None) to stop. Every answer is ("ok", value) or ("error", text)."""
    try:
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
        self._proc = ctx.Process(target=_serve, args=(child, module, name, args), daemon=True,
                                 name=f"alt-isolated-{name}")
        self._proc.start()
        child.close()
        self._lock = threading.Lock()
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


def call(module, name, *args):
    """getattr(module, name)(*args), run once in a child process of its own."""
    with Server(__name__, "_Call", module, name, *args, what=f"{module}.{name}") as s:
        return s.call("run")
