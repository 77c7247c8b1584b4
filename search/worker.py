"""Measurement worker processes: `python -m search.worker PARENT_PID` reads one JSON task a line
on stdin and answers one JSON line each: {"ok": result} or {"exception": text}.

Workers are started as plain subprocesses, not through multiprocessing, so a user's script is never
imported again in them (it needs no `if __name__ == "__main__":` guard). A worker ignores Ctrl-C
(its parent decides), and exits when its parent dies, however it died: stdin closes, and a watchdog
thread sees the parent change. Kernels run here may print; the protocol has a file descriptor of
its own, and anything printed goes to stderr.
"""
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

from alt.errors import AltError
from codegen.tools import kill_tree

START_TIMEOUT = 120.0


class MeasureError(AltError, RuntimeError):
    """The measurement machinery failed (workers that cannot start, a broken executor); no
    candidate is to blame and nothing is recorded for the candidates in flight."""


class WorkerTimeout(Exception):
    """A task ran past its time limit; its worker was killed."""


class WorkerCrash(Exception):
    """A worker died while running a task (a segfault is exit code -11)."""


class TaskError(Exception):
    """A task raised a Python exception in the worker (the worker lives on)."""


def _tasks():
    from .measure import build_task, run_task, settle_task
    from .featurize import features_task
    return {"build_task": build_task, "run_task": run_task, "settle_task": settle_task, "features_task": features_task}


class Worker:
    """One worker process, started on first use and again after a crash or a timeout; `env` are
    environment variables set for it (OpenMP's, for a run worker)."""

    def __init__(self, env=None):
        self.proc = None
        self.env = dict(env or {})
        self._buf = b""

    def _start(self):
        env = dict(os.environ, **self.env)
        paths = [p or os.getcwd() for p in sys.path if p == "" or os.path.isdir(p)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))  # the parent's imports, same order
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "search.worker", str(os.getpid())], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                                     start_new_session=True)  # Ctrl-C in a terminal reaches the parent only
        self._buf = b""
        line = self._readline(START_TIMEOUT)
        if line is None or json.loads(line) != {"ready": True}:
            code = self.proc.poll()
            self.close(kill=True)
            raise MeasureError(f"a measurement worker ({sys.executable} -m search.worker) could not start "
                               f"(exit code {code}): {self._stderr_tail()}")

    def _stderr_tail(self):
        try:
            self._err.seek(0)
            return self._err.read()[-2000:].decode(errors="replace").strip() or "(no output)"
        except (OSError, ValueError):
            return "(no output)"

    def _readline(self, timeout):
        """One line from the worker, or None when it closed its end (it died, or was killed by
        close()); WorkerTimeout when `timeout` passed (then it is killed)."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.close(kill=True)
                raise WorkerTimeout(f"no answer within {timeout:.0f} s; the worker was killed")
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:  # closed under us by close()
                chunk = b""
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def call(self, name, args, timeout):
        """The result of task `name`(*args) in the worker; WorkerTimeout or WorkerCrash otherwise."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        proc = self.proc
        try:
            self.proc.stdin.write((json.dumps({"fn": name, "args": list(args)}) + "\n").encode())
            self.proc.stdin.flush()
            line = self._readline(timeout)
        except (BrokenPipeError, OSError):
            line = None
        if line is None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self.close(kill=True)
            raise WorkerCrash(f"died (exit code {code}; a segfault is -11)")
        msg = json.loads(line)
        if "exception" in msg:
            raise TaskError(msg["exception"])
        return msg["ok"]

    def close(self, kill=False):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            proc.stdin.close()  # a worker exits at the end of its input
        except OSError:
            pass
        if not kill:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            kill_tree(proc.pid)  # and the compiler it may be running: killed alone, gcc's cc1 runs on
            proc.wait()
        proc.stdout.close()


def _watch(parent):
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # re-parented: the tuner is gone, and so is what this worker started
            kill_tree(os.getpid(), itself=False)
            os._exit(3)


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a kernel or a library prints lands on stderr, not in the protocol
    sys.stdout = sys.stderr
    tasks = _tasks()
    proto.write(json.dumps({"ready": True}) + "\n")
    proto.flush()
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            answer = {"ok": tasks[msg["fn"]](*msg["args"])}
        except Exception as e:  # noqa: BLE001 - reported to the parent, which decides
            answer = {"exception": f"{type(e).__name__}: {e}"}
        proto.write(json.dumps(answer) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
