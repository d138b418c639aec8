#!/usr/bin/python3
"""tests/bench/tls.py -- `make bench-tls`: what TLS on peer links costs.

The five-server default topology, with a secret, once with peer_tls = yes
(every link TLS 1.3) and once with peer_tls = no (plain links), TLS_ROUNDS
times each, alternating: herd-bench iamat at Hill with c=50 d=16 for
BENCH_SECS, and the CPU time of all five servers from the start of the
run until the herd is idle again, per update.  The figure is the median
over the rounds; the ratio TLS / plain is what the issue bounds (1.15).
Writes tests/bench/tls.md (or $BENCH_OUT/tls.md).  Every process it
starts is stopped by PID, also on failure."""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("HERD_BIN", os.path.join(ROOT, "build/normal/bin"))
ROUNDS = int(os.environ.get("TLS_ROUNDS", "3"))
SECS = os.environ.get("BENCH_SECS", "5")
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "tests/bench"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from catch_up import free_ports  # noqa: E402
from topology import DEFAULT_TOPOLOGY as TOPOLOGY  # noqa: E402
from procs import stop_all  # noqa: E402


def cpu_s(pids):
    """utime + stime of pids, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def links_up(errs):
    """True when every server logged every neighbour up."""
    for name, path in errs.items():
        with open(path, errors="replace") as f:
            text = f.read()
        for nb in set(TOPOLOGY[name]) | {n for n, l in TOPOLOGY.items()
                                          if name in l}:
            if "peer %s up" % nb not in text:
                return False
    return True


def one_run(tmp, tls):
    """Start the herd, load it, return herd CPU µs per update."""
    d = tempfile.mkdtemp(dir=tmp)
    secret = os.path.join(d, "secret")
    with open(secret, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(secret, 0o600)
    ports = dict(zip(TOPOLOGY, free_ports(len(TOPOLOGY))))
    lines = ["[herd]", "secret_file = %s" % secret,
             "peer_tls = %s" % ("yes" if tls else "no"), "persist = no",
             "log_requests = no", "reconcile_s = 0",
             "log_socket = %s" % os.path.join(d, "nolog"), ""]
    for name, nbrs in TOPOLOGY.items():
        lines += ["[server:%s]" % name, "port = %d" % ports[name],
                  "neighbors = %s" % " ".join(nbrs), ""]
    ini = os.path.join(d, "herd.ini")
    with open(ini, "w") as f:
        f.write("\n".join(lines))
    procs, errs = [], {}
    try:
        for name in TOPOLOGY:
            errs[name] = os.path.join(d, name + ".err")
            with open(errs[name], "wb") as ef:
                procs.append(subprocess.Popen(
                    [os.path.join(BIN, "herd-node"), "-c", ini, "--stderr",
                     name], stdout=subprocess.DEVNULL, stderr=ef, cwd=d))
        deadline = time.monotonic() + 15
        while not links_up(errs):
            if time.monotonic() > deadline:
                raise SystemExit("bench-tls: links did not come up")
            time.sleep(0.05)
        pids = [p.pid for p in procs]
        before = cpu_s(pids)
        out = subprocess.run(
            [os.path.join(BIN, "herd-bench"), "iamat", "-p",
             str(ports["Hill"]), "-c", "50", "-d", "16", "-t", SECS],
            capture_output=True, text=True, timeout=120)
        m = re.search(r" reqs=(\d+)", out.stdout)
        if m is None or int(m.group(1)) == 0:
            raise SystemExit("bench-tls: herd-bench failed: %s"
                             % (out.stdout + out.stderr)[-500:])
        # Until the floods are through: under 2% of a CPU for 0.25 s.
        last, t_end = cpu_s(pids), time.monotonic() + 10
        while time.monotonic() < t_end:
            time.sleep(0.25)
            now = cpu_s(pids)
            if now - last < 0.005:
                break
            last = now
        return (cpu_s(pids) - before) * 1e6 / int(m.group(1))
    finally:
        stop_all(procs)


def main():
    tmp = tempfile.mkdtemp(prefix="herd-bench-tls.")
    load = open("/proc/loadavg").read().split()[:3]
    got = {True: [], False: []}
    try:
        for r in range(ROUNDS):
            for tls in (True, False):
                us = one_run(tmp, tls)
                got[tls].append(us)
                print("== round %d %s: %.2f us of herd CPU per update"
                      % (r + 1, "TLS" if tls else "plain", us),
                      file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t, p = statistics.median(got[True]), statistics.median(got[False])
    text = "\n".join([
        "# What TLS on peer links costs",
        "",
        "`make bench-tls` (tests/bench/tls.py), %s UTC, load average %s at"
        " the start." % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                         " ".join(load)),
        "The five-server default topology with a secret; herd-bench iamat"
        " at Hill, c=50 d=16, %s s; CPU of all five servers from the"
        " start of the run until the herd is idle, per update; median of"
        " %d rounds, TLS and plain alternating." % (SECS, ROUNDS),
        "",
        "| peer links | herd CPU per update (µs) | rounds |",
        "|------------|--------------------------|--------|",
        "| TLS 1.3 (peer_tls = yes) | %.2f | %s |"
        % (t, ", ".join("%.2f" % x for x in got[True])),
        "| plain (peer_tls = no) | %.2f | %s |"
        % (p, ", ".join("%.2f" % x for x in got[False])),
        "",
        "TLS / plain: **%.3f**" % (t / p),
        ""])
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "tls.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
