"""procs.py -- process-state helpers shared by the system tests and the chaos suite."""


def gone(pid):
    """pid has exited with all its threads (a killed node's main thread is
    a zombie before its disk writer has exited and released the lock)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
    except OSError:
        return True
    return ("State:\tZ" in status or "State:\tX" in status) and \
        "Threads:\t1\n" in status
