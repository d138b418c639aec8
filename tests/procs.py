"""procs.py -- process-state helpers shared by the system tests and the
chaos suite: the one answer to "is this process still there?"."""
import re


def alive(pid):
    """True while any thread of pid runs.  A killed herd-node's main
    thread can be a zombie while its disk writer thread still runs, and
    that thread keeps the listener and the data directory's lock until it
    exits: only a zombie with one thread left (or no process) is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
    except OSError:
        return False
    state = re.search(r"^State:\s+(\S)", status, re.M)
    threads = re.search(r"^Threads:\s+(\d+)", status, re.M)
    if state is None or state.group(1) not in "ZX":
        return True
    return threads is not None and int(threads.group(1)) > 1


def gone(pid):
    """pid has exited with all its threads (see alive)."""
    return not alive(pid)


def stop_all(procs, grace=5.0):
    """SIGTERM every still-running subprocess.Popen of procs at once,
    then wait up to grace s for each; SIGKILL (and reap) what remains.
    Only these processes, by PID: never anything found by name."""
    import subprocess
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(grace)


def clean_make_env():
    """os.environ without what an outer make hands down (MAKEFLAGS holds
    its command-line variables, e.g. SANITIZE=1 under make test
    SANITIZE=1), for tests that run make themselves and expect its
    defaults."""
    import os
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES",
              "SANITIZE", "CC", "BUILD", "BENCH_OUT"):
        env.pop(k, None)
    return env
