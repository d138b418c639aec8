#!/usr/bin/env python3
"""geonames_1m.py -- what a 1,000,000-feature GeoNames dump costs (issue 15).

Writes a synthetic dump of GN_N (1,000,000) features in GeoNames' 19-column
format (clustered around 500 seeded centres, eight feature codes), then
starts five herd-node servers with `api = geonames` and `geonames_file` on
it, one after the other, and reports:

  - for each server, exec -> its "places: api geonames" line (the first
    one parses the dump and builds DUMP.herd-index; the others map it);
  - the proportional set size (Pss) of the five processes together, and
    of their mappings of the index file alone (the shared pages are
    split between the processes that map them);
  - a WHATSAT round trip on one of them.

Usage: HERD_BIN=build/normal/bin python3 tests/bench/geonames_1m.py [DIR]
(DIR: scratch directory, default a new one under /tmp; removed unless
given).  Python 3 standard library only.  No network.
"""
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from catch_up import free_ports  # noqa: E402  (one copy)

BIN = os.environ.get("HERD_BIN", os.path.join(
    os.path.dirname(__file__), "..", "..", "bin"))
NODE = os.path.join(BIN, "herd-node")
N = int(os.environ.get("GN_N", "1000000"))
NODES = ["A", "B", "C", "D", "E"]
CODES = [("P", "PPL"), ("S", "MUS"), ("S", "SCH"), ("L", "PRK"),
         ("T", "MT"), ("H", "LK"), ("S", "HTL"), ("S", "CH")]


def write_dump(path, n):
    rnd = random.Random(1)
    centres = [(random.Random(c).uniform(-60, 70),
                random.Random(c + 1000).uniform(-180, 180))
               for c in range(500)]
    with open(path, "w") as f:
        for i in range(n):
            clat, clon = centres[i % 500]
            lat = max(-90.0, min(90.0, clat + rnd.gauss(0, 1.5)))
            lon = (clon + rnd.gauss(0, 1.5) + 180) % 360 - 180
            cls, code = CODES[i % len(CODES)]
            name = "Place %d" % i
            f.write("\t".join([
                str(i + 1), name, name, "", "%.5f" % lat, "%.5f" % lon,
                cls, code, "US", "", "CA", "", "", "", str(i), "", "0",
                "UTC", "2024-01-01"]) + "\n")


def pss_kb(pid, path=None):
    """Pss of a process (kB), or of its mappings of path only."""
    if path is None:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            return sum(int(l.split()[1]) for l in f if l.startswith("Pss:"))
    total, inside = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for l in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", l):
                inside = l.rstrip().endswith(path)
            elif inside and l.startswith("Pss:"):
                total += int(l.split()[1])
    return total


def main():
    scratch = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(
        prefix="herd-gn1m-")
    keep = len(sys.argv) > 1
    os.makedirs(scratch, exist_ok=True)
    dump = os.path.join(scratch, "dump.txt")
    for p in (dump + ".herd-index", dump + ".herd-index.lock"):
        if os.path.exists(p):
            os.unlink(p)
    t = time.monotonic()
    write_dump(dump, N)
    print("dump: %d features, %.0f MB, written in %.1f s" % (
        N, os.path.getsize(dump) / 1e6, time.monotonic() - t))
    ports = free_ports(len(NODES))
    ini = os.path.join(scratch, "herd.ini")
    with open(ini, "w") as f:
        f.write("[herd]\npersist = no\nlog_requests = no\n"
                "log_socket = %s/no-syslog\n[places]\napi = geonames\n"
                "geonames_file = %s\n" % (scratch, dump))
        for name, port in zip(NODES, ports):
            f.write("[server:%s]\nport = %d\n" % (name, port))
    procs = []
    try:
        for name in NODES:
            err = open(os.path.join(scratch, name + ".log"), "wb+")
            t = time.monotonic()
            p = subprocess.Popen([NODE, "-c", ini, "--stderr", name],
                                 stdout=subprocess.DEVNULL, stderr=err)
            procs.append(p)
            deadline = time.monotonic() + 120
            while True:
                err.seek(0)
                text = err.read().decode(errors="replace")
                m = re.search(r"places: api geonames: (\d+) places from "
                              r"(.*), in process", text)
                if m:
                    break
                if p.poll() is not None or time.monotonic() > deadline:
                    sys.exit("%s did not load:\n%s" % (name, text))
                time.sleep(0.005)
            print("%s: %s places in %.3f s (%s)" % (
                name, m.group(1), time.monotonic() - t, m.group(2)))
        idx = dump + ".herd-index"
        total = sum(pss_kb(p.pid) for p in procs)
        mapped = sum(pss_kb(p.pid, idx) for p in procs)
        print("index file: %.1f MB" % (os.path.getsize(idx) / 1e6))
        print("five servers: Pss %.1f MB in all, of which %.1f MB their "
              "mappings of the index file" % (total / 1024, mapped / 1024))
        with open(dump) as f:   # at the first feature, in a cluster
            lat, lon = (float(x) for x in f.readline().split("\t")[4:6])
        s = socket.create_connection(("127.0.0.1", ports[0]))
        s.sendall(b"IAMAT gn1m %+.5f%+.5f 1\n" % (lat, lon))
        s.recv(4096)
        t = time.monotonic()
        s.sendall(b"WHATSAT gn1m 50 20\n")
        buf = b""
        while not buf.endswith(b"\n\n"):
            buf += s.recv(65536)
        s.close()
        print("WHATSAT 50 km, bound 20: %d results, %d bytes in %.2f ms "
              "(round trip)" % (buf.count(b'"place_id"'), len(buf),
                                (time.monotonic() - t) * 1e3))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
