"""Running external tools (gcc, nvcc) under a time limit, and killing a process with everything it
started.

A compiler driver runs its passes as child processes (gcc: cc1, as, collect2; nvcc: cicc,
ptxas). Killing the driver alone, as subprocess.run does at its timeout and Popen.kill does to a
build worker, leaves them running: a cc1 stuck in register allocation then takes a core for
minutes, and every timing made beside it is disturbed. `run` and `kill_tree` kill the whole tree.
"""
import os
import signal
import subprocess
import time


def _stat(pid):
    """(state, ppid) of process `pid` from /proc/<pid>/stat, or None where it is gone (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # "pid (comm) state ppid ...": comm may hold spaces
    return fields[0], int(fields[1])


def running(pid):
    """Is process `pid` still running? A zombie (exited, waiting for its parent to reap it) is not."""
    st = _stat(pid)
    return st is not None and st[0] not in "ZX"


def descendants(pid):
    """The pids of every process below `pid` (read from /proc; none where there is no /proc)."""
    children = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for d in entries:
        st = _stat(d) if d.isdigit() else None  # None: not a process, or gone meanwhile
        if st is not None:
            children.setdefault(st[1], []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(pid, itself=True, wait=2.0):
    """SIGKILL process `pid` (unless not `itself`) and every process below it, all found before any
    is killed (a killed parent's children are re-parented and could no longer be found).

    SIGKILL is delivered asynchronously: a process still runs its exit (closing its files, freeing
    its memory) after os.kill returns, and a pipe it held reads end-of-file before it is gone. So
    this waits, up to `wait` seconds, until every one of them has stopped running (is gone, or a
    zombie), and the caller can rely on none of them still taking a core."""
    pids = [pid] * itself + descendants(pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + wait
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.005)


def run(args, timeout, text=True):
    """subprocess.run(args, capture_output=True, text=text, timeout=timeout), except that at the
    timeout the tool's whole process tree is killed before TimeoutExpired is raised."""
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)
