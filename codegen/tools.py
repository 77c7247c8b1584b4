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


def descendants(pid):
    """The pids of every process below `pid` (read from /proc; none where there is no /proc)."""
    children = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for d in entries:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # "pid (comm) state ppid ...": comm may hold spaces
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(pid, itself=True):
    """SIGKILL process `pid` (unless not `itself`) and every process below it, all found before any
    is killed (a killed parent's children are re-parented and could no longer be found)."""
    for p in [pid] * itself + descendants(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


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
