"""Persistence under faults, end to end: kill -9 in the middle of
compactions under load, a log damaged in the middle and repaired by the
neighbour, a full disk under fsync = everysec and no, and a restart with
a million records.  Real herd-node processes, real files."""
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import AT_RE, ROOT, alive, exchange, wait_until
from test_persist import LOC, fill, small_tmpfs  # noqa: F401 (fixture)


def held(port, cids, timeout=60):
    """{cid: the AT line the server holds}, read on one pipelined
    connection with IAMATs older than anything stored (an older IAMAT is
    answered with the stored record and changes nothing)."""
    out = exchange(port, b"".join(b"IAMAT %s %s 0.1\n" % (c, LOC)
                                  for c in cids), timeout=timeout)
    lines = out.split(b"\n")[:len(cids)]
    assert len(lines) == len(cids), out[-500:]
    return dict(zip(cids, lines))


def at_time(line):
    m = AT_RE.match(line)
    assert m, line
    return float(m.group(5))


def stats(herd, name):
    """The node's next SIGUSR1 stats line, read from its stderr (a file:
    no datagram can be dropped on a busy machine), as a dict."""
    before = len(herd.log(name))
    herd.signal(name, signal.SIGUSR1)
    rx = re.compile(r"%s: stats: (.*)\n" % re.escape(name))

    def got():
        m = rx.search(herd.log(name)[before:])
        return m and dict(kv.split("=", 1) for kv in m.group(1).split())
    return wait_until(got, 10, what="stats of %s" % name)


def kill9(herd, name):
    """SIGKILL name; return once every thread of it has exited (its disk
    writer holds the data directory's lock until then)."""
    pid = herd.pid(name)
    os.kill(pid, signal.SIGKILL)
    herd.procs.pop(name).wait(10)
    wait_until(lambda: not alive(pid), 10, what="pid %d gone" % pid)


class Load:
    """IAMATs from a hot set of clients, pipelined in batches, each with a
    new time: the log grows while the live data does not, so compactions
    run one after another.  Keeps, per client, every time sent and the
    newest acknowledged AT line."""

    def __init__(self, port, clients, sent, acked, clock):
        self.port, self.clients = port, clients
        self.sent, self.acked, self.clock = sent, acked, clock
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            batch = []
            for cid in self.clients:
                self.clock[0] += 1
                t = b"%d.5" % self.clock[0]
                self.sent.setdefault(cid, set()).add(t)
                batch.append(b"IAMAT %s %s %s\n" % (cid, LOC, t))
            try:
                out = exchange(self.port, b"".join(batch), timeout=5)
            except OSError:
                time.sleep(0.01)
                continue
            for line in out.split(b"\n"):
                m = AT_RE.match(line)
                if m:
                    old = self.acked.get(m.group(3))
                    if old is None or at_time(old) < float(m.group(5)):
                        self.acked[m.group(3)] = line

    def close(self):
        self.stop.set()
        self.thread.join(30)


def test_kill9_during_compactions_under_load(herd_factory, tmp_path):
    """Compactions one after another (HERD_PERSIST_COMPACT_MIN small)
    under a steady IAMAT load; kill -9 at a random moment after a
    snapshot's temporary file appears (every other round frozen by
    SIGSTOP the moment it is seen), six rounds (up to twelve until one
    kill lands before the snapshot is installed): after each restart
    every client holds its newest acknowledged record or one sent after
    it, and nothing that was never sent."""
    seed = int(os.environ.get("HERD_TEST_SEED", time.time_ns() % 2**32))
    print("seed", seed)
    rng = random.Random(seed)
    data = tmp_path / "data"
    herd = herd_factory(topology={"A": []},
                        herd_extra="data_dir = %s\nfsync = everysec\n" % data,
                        env={"HERD_PERSIST_COMPACT_MIN": "4096"})
    herd.start()
    port, d = herd.port("A"), data / "A"
    sent, acked, clock = {}, {}, [1]
    # 20000 records live: a snapshot takes a few chunks and an fsync.
    cold = [b"p%d" % i for i in range(20000)]
    for i in range(0, len(cold), 5000):
        out = exchange(port, b"".join(b"IAMAT %s %s 1.0\n" % (c, LOC)
                                      for c in cold[i:i + 5000]), timeout=60)
        for cid, line in zip(cold[i:i + 5000], out.split(b"\n")):
            assert line.startswith(b"AT A "), line
            sent[cid], acked[cid] = {b"1.0"}, line
    hot = [b"h%d" % i for i in range(400)]
    mid = rnd = 0
    while rnd < 6 or (mid == 0 and rnd < 12):   # until one lands inside
        load = Load(port, hot, sent, acked, clock)
        try:
            wait_until(lambda: any(n.endswith(".tmp")
                                   for n in os.listdir(d)),
                       60, interval=0.0005, what="a snapshot being written")
            if rnd % 2 or rnd >= 6:
                # Pinned inside: on a fast disk (tmpfs) a snapshot can be
                # installed within a millisecond of its temporary file
                # appearing, so a random delay alone may never land in it.
                os.kill(herd.pid("A"), signal.SIGSTOP)
            else:
                time.sleep(rng.uniform(0, 0.02))
            kill9(herd, "A")
        finally:
            load.close()
        files = sorted(os.listdir(d))
        during = any(n.endswith(".tmp") for n in files) or \
            sum(n.startswith("log-") for n in files) > 1
        mid += during
        print("round %d: killed %s a compaction: %s" % (
            rnd, "during" if during else "after", files))
        herd.start("A")
        assert re.search(r"loaded \d+ records", herd.log("A"))
        got = held(port, list(sent))
        for cid, line in got.items():
            t = line.rsplit(b" ", 1)[-1]
            assert t != b"0.1", "round %d: %r lost (holds nothing)" % (
                rnd, cid)
            assert line.startswith(b"AT A ") and t in sent[cid], (
                "round %d: %r holds %r, never sent" % (rnd, cid, line))
            if cid in acked:
                assert at_time(line) >= at_time(acked[cid]), (
                    "round %d: %r lost %r (holds %r)"
                    % (rnd, cid, acked[cid], line))
            acked[cid] = line       # what the next round must keep
        assert int(stats(herd, "A")["records"]) == len(sent)
        rnd += 1
    assert mid >= 1, "no kill landed inside a compaction"


def test_damage_in_the_middle_moved_aside_and_repaired(herd_factory,
                                                      tmp_path):
    """A flipped byte in the middle of a stopped server's log: it loads
    what comes before, moves the file aside under a new name, says so in
    one loud line, starts; its neighbour's catch-up brings back the rest,
    and a second restart loads every record from its own files."""
    data = tmp_path / "data"
    herd = herd_factory(topology={"A": ["B"], "B": ["A"]},
                        herd_extra="data_dir = %s\n" % data)
    herd.start()
    cids = [b"d%d" % i for i in range(400)]
    out = exchange(herd.port("A"), b"".join(
        b"IAMAT %s %s %d.5\n" % (c, LOC, 10 + i) for i, c in
        enumerate(cids)), timeout=30)
    want = dict(zip(cids, out.split(b"\n")))
    wait_until(lambda: stats(herd, "B")["records"] == str(len(cids)), 20,
               what="B to hold every record")
    assert herd.stop("B") == 0
    logs = sorted(f for f in os.listdir(data / "B") if f.startswith("log-"))
    assert len(logs) == 1, logs
    log = data / "B" / logs[0]
    raw = bytearray(log.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    log.write_bytes(bytes(raw))

    before = len(herd.log("B"))
    herd.start("B")
    text = herd.log("B")[before:]
    loud = [l for l in text.splitlines() if "DAMAGED in the middle" in l]
    assert len(loud) == 1, text
    m = re.search(r"%s: DAMAGED in the middle: moved aside to (%s\.damaged-"
                  r"\d{8}T\d{6}Z); the records before the damage were "
                  r"loaded, neighbours will resend the rest"
                  % (re.escape(str(log)), re.escape(logs[0])), loud[0])
    assert m, loud[0]
    aside = data / "B" / m.group(1)
    assert aside.read_bytes() == bytes(raw)     # moved, never deleted
    assert not log.exists()
    n = int(re.search(r"loaded (\d+) records?", text).group(1))
    assert 0 < n < len(cids), text
    wait_until(lambda: stats(herd, "B")["records"] == str(len(cids)), 20,
               what="catch-up to repair B")
    assert held(herd.port("B"), cids) == want

    assert herd.stop("B") == 0
    before = len(herd.log("B"))
    herd.start("B")
    assert "loaded %d records" % len(cids) in herd.log("B")[before:]
    assert held(herd.port("B"), cids) == want
    assert aside.exists()


@pytest.mark.parametrize("fsync", ["everysec", "no"])
def test_full_disk_keeps_serving_then_catches_up(herd_factory, small_tmpfs,
                                                 fsync):
    """ENOSPC under everysec and no: every IAMAT is still acknowledged
    (from memory), the state says failing, one log line per change (not
    one per write); when space returns the state is ok again and the
    records written meanwhile are on disk: a kill -9 and restart holds
    every one of them."""
    herd = herd_factory(topology={"A": []},
                        herd_extra="data_dir = %s\nfsync = %s\n"
                        % (small_tmpfs, fsync))
    herd.start()
    port = herd.port("A")
    assert herd.iamat("A", b"before", LOC, b"1.0").startswith(b"AT A ")
    fill(small_tmpfs / "filler")
    want, i = {}, 0

    def batch(n):
        nonlocal i
        cids = [b"full%d" % (i + k) for k in range(n)]
        out = exchange(port, b"".join(b"IAMAT %s %s 2.0\n" % (c, LOC)
                                      for c in cids), timeout=20)
        i += n
        for cid, line in zip(cids, out.split(b"\n")):
            assert line.startswith(b"AT A ") and b" %s " % cid in line, line
            want[cid] = line
        return stats(herd, "A")["persist"] == "failing"
    # Past the log's last allocated page, the write fails.
    wait_until(lambda: batch(100), 30, what="persist failing")
    for _ in range(5):          # more writes and retries: no more lines
        batch(100)
    time.sleep(1.2)             # a retry (once a second) fails again
    assert stats(herd, "A")["persist"] == "failing"
    text = herd.log("A")
    assert len(re.findall(r"persistence failing: No space left on device",
                          text)) == 1, text
    os.unlink(small_tmpfs / "filler")
    wait_until(lambda: stats(herd, "A")["persist"] == "ok", 10,
               what="persist ok")
    batch(10)
    text = herd.log("A")
    assert text.count("persistence failing") == 1, text
    assert text.count("persistence recovered") == 1, text
    kill9(herd, "A")
    herd.start("A")
    assert held(port, list(want)) == want


def test_restart_with_a_million_records(herd_factory, tmp_path):
    """A log of 1,000,000 records (written by tests/system/mkjournal.c
    from the documented format): the node loads it before it is ready,
    says how many and how fast, and answers for a sample of the clients."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a C compiler for mkjournal")
    n = int(os.environ.get("HERD_MILLION", "1000000"))
    tool = tmp_path / "mkjournal"
    subprocess.run([cc, "-O2", "-o", str(tool), os.path.join(
        ROOT, "tests", "system", "mkjournal.c")], check=True, timeout=60)
    data = tmp_path / "data"
    (data / "A").mkdir(parents=True, mode=0o700)
    subprocess.run([str(tool), str(data / "A" / ("log-%016x" % 1)), str(n),
                    "A"], check=True, timeout=120)
    herd = herd_factory(topology={"A": []},
                        herd_extra="data_dir = %s\n" % data)
    herd.start()
    assert re.search(r"loaded %d records \(%d log entries\) in \d+ ms"
                     % (n, n), herd.log("A")), herd.log("A")
    print("startup %.3f s" % herd.startup["A"])
    sample = sorted(random.Random(n).sample(range(n), 2000))
    got = held(herd.port("A"), [b"c%d" % i for i in sample])
    for i in sample:
        assert got[b"c%d" % i] == (b"AT A +0.000000001 c%d %s %d.5"
                                   % (i, LOC, i + 1))
    assert stats(herd, "A")["records"] == str(n)
