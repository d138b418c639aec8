#!/usr/bin/python3
"""tests/bench/catch_up.py -- `make bench-catch-up`: what one catch-up
between two neighbours costs, herd/1 (the whole store) against herd/2
(only the difference), in one run.

Two herd-node processes A and B with data directories: A gets
CATCHUP_N records (herd-bench load), B catches up from empty and stops;
A then gets half of CATCHUP_D new records while B is down, and B, run
again while A is down, the other half.  Both start; the figures are
the bytes the two sent in catch-up (their `sync_bytes_out` stats) and
the time from both listening to both holding the union.  Writes
tests/bench/catch_up.md (or $BENCH_OUT/catch_up.md).  Every process it
starts is stopped by PID, also on failure."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("HERD_BIN", os.path.join(ROOT, "build/normal/bin"))
N = int(os.environ.get("CATCHUP_N", "1000000"))
D = int(os.environ.get("CATCHUP_D", "100"))
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "tests/bench"))
LOC = b"+34.068930-118.445127"


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.02)


class Pair:
    """Two neighbouring herd-nodes in tmp, speaking peer_protocol."""

    def __init__(self, tmp, protocol):
        self.tmp = tmp
        self.ports = dict(zip("AB", free_ports(2)))
        self.ini = os.path.join(tmp, "herd.ini")
        self.procs = {}
        with open(self.ini, "w") as f:
            f.write("[herd]\nlog_socket = %s/nowhere\ndata_dir = %s/data\n"
                    "reconcile_s = 0\npeer_protocol = %d\nmax_records = 0\n"
                    % (tmp, tmp, protocol))
            for me, other in (("A", "B"), ("B", "A")):
                f.write("[server:%s]\nhost = 127.0.0.1\nport = %d\n"
                        "neighbors = %s\n" % (me, self.ports[me], other))

    def start(self, *names):
        for name in names:
            rfd, wfd = os.pipe()
            err = open(os.path.join(self.tmp, name + ".log"), "ab")
            p = subprocess.Popen([os.path.join(BIN, "herd-node"), "-c",
                                  self.ini, "--stderr", name],
                                 env=dict(os.environ, HERD_READY_FD=str(wfd)),
                                 stdout=subprocess.DEVNULL, stderr=err,
                                 pass_fds=(wfd,))
            err.close()
            os.close(wfd)
            self.procs[name] = p
            with os.fdopen(rfd, "rb") as r:
                if r.read(6) != b"READY\n":
                    raise RuntimeError("%s did not start: see %s.log"
                                       % (name, name))

    def stop(self, name):
        p = self.procs.pop(name)
        p.terminate()
        if p.wait(30) != 0:
            raise RuntimeError("%s exited %d" % (name, p.returncode))

    def stats(self, name):
        """SIGUSR1, then the stats line it adds to its log."""
        path = os.path.join(self.tmp, name + ".log")
        size = os.path.getsize(path)
        os.kill(self.procs[name].pid, signal.SIGUSR1)

        def line():
            with open(path, "rb") as f:
                f.seek(size)
                m = re.search(rb"stats: (.*)\n", f.read())
            return m and dict(kv.split(b"=", 1)
                              for kv in m.group(1).split())
        return wait_until(line, 10, "stats of " + name)

    def records(self, name):
        return int(self.stats(name)[b"records"])

    def iamat(self, name, cids, t):
        with socket.create_connection(("127.0.0.1", self.ports[name]),
                                      timeout=10) as s:
            s.sendall(b"".join(b"IAMAT %s %s %d.5\n" % (c, LOC, t)
                               for c in cids))
            buf = b""
            while buf.count(b"\n") < len(cids):
                b = s.recv(65536)
                if not b:
                    raise RuntimeError("%s closed" % name)
                buf += b

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
        for p in self.procs.values():
            p.wait(10)


def one(protocol):
    tmp = tempfile.mkdtemp(prefix="herd-catch-up.")
    pair = Pair(tmp, protocol)
    try:
        pair.start("A")
        subprocess.run([os.path.join(BIN, "herd-bench"), "load", "-p",
                        str(pair.ports["A"]), "--records", str(N), "-c",
                        "50", "-d", "16", "--prefix", "rec-"], check=True,
                       stdout=subprocess.DEVNULL)
        pair.start("B")
        wait_until(lambda: pair.records("B") == N, 300, "B's first sync")
        pair.stop("B")
        pair.iamat("A", [b"new-a%d" % i for i in range(D // 2)], 2 * 10 ** 9)
        pair.stop("A")
        pair.start("B")
        pair.iamat("B", [b"new-b%d" % i for i in range(D - D // 2)],
                   2 * 10 ** 9)
        pair.stop("B")
        t0 = time.monotonic()
        pair.start("A", "B")
        wait_until(lambda: pair.records("A") == pair.records("B") == N + D,
                   300, "both to hold the union")
        secs = time.monotonic() - t0
        sent = sum(int(pair.stats(n)[b"sync_bytes_out"]) for n in "AB")
        recs = sum(int(pair.stats(n)[b"sync_out"]) for n in "AB")
        return sent, recs, secs
    finally:
        pair.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    rows = []
    for protocol in (1, 2):
        sent, recs, secs = one(protocol)
        print("RESULT mode=catch-up protocol=herd/%d records=%d "
              "differences=%d bytes=%d records_sent=%d secs=%.3f"
              % (protocol, N, D, sent, recs, secs))
        rows.append((protocol, sent, recs, secs))
    full = rows[0][1]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "catch_up.md"), "w") as f:
        f.write("# catch-up between two neighbours\n\n"
                "Produced by `make bench-catch-up` (tests/bench/catch_up.py)"
                " on %s; do not edit by hand.\n\n"
                "Two servers holding %d identical records and %d "
                "differences (half new on each side) start together; bytes "
                "are what both sent in catch-up (their `sync_bytes_out`), "
                "time is from both listening to both holding the union "
                "(polled by SIGUSR1 stats every 20 ms).\n\n"
                "| protocol | bytes sent | records sent | time s | bytes vs "
                "herd/1 |\n|---|---:|---:|---:|---:|\n"
                % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), N, D))
        for protocol, sent, recs, secs in rows:
            f.write("| herd/%d | {:,} | {:,} | %.2f | %.4f |\n".format(
                sent, recs) % (protocol, secs, sent / full))
    print(open(os.path.join(OUT, "catch_up.md")).read())


if __name__ == "__main__":
    sys.exit(main())
