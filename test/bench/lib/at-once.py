#!/usr/bin/env python3
# Starts N commands at the same instant and times each one: the launcher behind the benchmarks' "N at once".
#
# Why not Node's child_process: a Node parent spawns by fork()ing itself, a ~100 MB process, and under load
# the bench's parent took ~400 ms to start 30 children, so "30 at once" was a 400 ms ramp. A container
# runtime starts its plugins from goroutines, which clone without copying the parent. Here every child is
# forked first (a small Python process forks in well under a millisecond) and waits on a barrier pipe; the
# barrier is then closed, all children exec at once, and each one's time runs from that instant to its exit.
#
# Input (stdin): JSON {"runs": [{"argv": [...], "env": {...}, "stdin": "..."}]}.
# Output (stdout): JSON list, in the order of the runs, of
#   {"ms": wall from the release to the exit, "code": exit status (negative: killed by that signal),
#    "userMs", "sysMs": the child's own CPU (wait4), "stdout", "stderr"}.
import json
import os
import sys
import tempfile
import time


def main() -> None:
    runs = json.load(sys.stdin)["runs"]
    barrier_r, barrier_w = os.pipe()
    children = {}  # pid -> index
    outputs = []
    for i, run in enumerate(runs):
        stdin_r, stdin_w = os.pipe()
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(barrier_w)
                os.close(stdin_w)
                os.dup2(stdin_r, 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                os.read(barrier_r, 1)  # returns at EOF: when the parent closes the barrier
                os.execvpe(run["argv"][0], run["argv"], run["env"])
            except BaseException as e:  # exec failed: say so on the child's stderr
                os.write(2, f"at-once: cannot run {run['argv'][0]}: {e}\n".encode())
            os._exit(127)
        os.close(stdin_r)
        # The input waits in the pipe (a configuration is far below the pipe's 64 KiB) and ends with EOF.
        data = run.get("stdin", "").encode()
        if len(data) > 65536:
            raise SystemExit("at-once: a run's stdin exceeds 64 KiB")
        os.write(stdin_w, data)
        os.close(stdin_w)
        children[pid] = i
        outputs.append((out, err))
    os.close(barrier_r)
    results = [None] * len(runs)
    released = time.monotonic()
    os.close(barrier_w)
    while children:
        pid, status, usage = os.wait4(-1, 0)
        ended = time.monotonic()
        i = children.pop(pid, None)
        if i is None:
            continue
        results[i] = {
            "ms": (ended - released) * 1000,
            "code": os.waitstatus_to_exitcode(status),
            "userMs": usage.ru_utime * 1000,
            "sysMs": usage.ru_stime * 1000,
        }
    for i, (out, err) in enumerate(outputs):
        for name, f in (("stdout", out), ("stderr", err)):
            f.seek(0)
            results[i][name] = f.read().decode(errors="replace")
            f.close()
    json.dump(results, sys.stdout)


main()
