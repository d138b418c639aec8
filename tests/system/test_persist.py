"""Persistence wired into herd-node: records survive kill -9 of every
node, fsync = always replies leave only after their fdatasync, bad data
directories are refused with exit 78."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import NODE, exchange, wait_until

LOC = b"+34.068930-118.445127"


def persist_herd(herd_factory, tmp_path, fsync, topology=None):
    data = tmp_path / ("data-" + fsync)
    return herd_factory(topology=topology,
                        herd_extra="data_dir = %s\nfsync = %s\n"
                        % (data, fsync)), data


def load(herd, names, stop, acked, errors):
    """IAMAT in a loop on every server; record each acknowledged line."""
    i = 0
    while not stop.is_set():
        name = names[i % len(names)]
        cid = b"c%d" % i
        try:
            out = exchange(herd.port(name),
                           b"IAMAT %s %s %d.5\n" % (cid, LOC, 1000 + i),
                           timeout=2)
        except OSError:
            out = b""
        if out.startswith(b"AT "):
            acked.append((cid, out.rstrip(b"\n")))
        i += 1


def held_line(herd, name, cid):
    """The stored AT line of cid (an older IAMAT echoes the stored one)."""
    return exchange(herd.port(name),
                    b"IAMAT %s %s 0.1\n" % (cid, LOC)).rstrip(b"\n")


@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_kill9_every_node_loses_no_acknowledged_record(herd_factory,
                                                       tmp_path, fsync):
    herd, _ = persist_herd(herd_factory, tmp_path, fsync)
    names = list(herd.topology)
    herd.start()
    stop, acked, errors = threading.Event(), [], []
    t = threading.Thread(target=load, args=(herd, names, stop, acked,
                                            errors))
    t.start()
    wait_until(lambda: len(acked) >= 200, 30, what="200 acknowledged")
    for name in names:          # all at once, in the middle of the load
        os.kill(herd.pid(name), signal.SIGKILL)
    stop.set()
    t.join(10)
    for name in names:
        herd.procs.pop(name).wait(5)
    assert acked
    herd.start()
    for name in names:
        assert "loaded " in herd.log(name)
    for cid, line in acked:
        for name in names:
            wait_until(lambda: held_line(herd, name, cid) == line, 10,
                       what="%s to hold %r" % (name, line))


def test_loaded_line_and_stats_after_restart(herd_factory, tmp_path):
    herd, data = persist_herd(herd_factory, tmp_path, "everysec",
                              topology={"A": []})
    herd.start()
    a = herd.iamat("A", b"kid", LOC, b"50.0")
    herd.kill("A")
    herd.start()
    assert re.search(r"loaded 1 record \(1 log entry\) in \d+ ms",
                     herd.log("A"))
    assert held_line(herd, "A", b"kid") == a
    st = herd.stats("A")
    assert st["persist"] == "ok" and st["fsync"] == "everysec"
    assert os.path.isdir(data / "A")


def test_bad_data_dir_exits_78(tmp_path):
    notdir = tmp_path / "plain"
    notdir.write_text("x")
    ini = tmp_path / "h.ini"
    ini.write_text("[herd]\n[server:A]\nport = 1\n")
    p = subprocess.run([NODE, "-c", str(ini), "--data-dir", str(notdir),
                        "A"], stderr=subprocess.PIPE, timeout=10)
    assert p.returncode == 78
    assert str(notdir / "A").encode() in p.stderr


def test_locked_data_dir_exits_78(herd_factory, tmp_path):
    herd, data = persist_herd(herd_factory, tmp_path, "everysec",
                              topology={"A": []})
    herd.start()
    p = subprocess.run([NODE, "-c", herd.ini, "A"],
                       stderr=subprocess.PIPE, timeout=10)
    assert p.returncode == 78
    assert str(data / "A").encode() in p.stderr


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_always_reply_leaves_after_its_fdatasync(tmp_path):
    """strace the node: every AT reply written to a client socket comes
    after an fdatasync that completed after the log write of its entry."""
    from conftest import free_ports
    port = free_ports(1)[0]
    ini = tmp_path / "h.ini"
    ini.write_text("[herd]\nfsync = always\n[server:A]\nport = %d\n" % port)
    trace = tmp_path / "trace"
    p = subprocess.Popen(["strace", "-f", "-tt", "-o", str(trace), "-e",
                          "trace=fdatasync,write,writev,pwrite64,sendmsg",
                          NODE, "-c", str(ini), "--data-dir",
                          str(tmp_path / "d"), "A"],
                         stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _connects(port), 20, what="node listening")
        for i in range(20):
            out = exchange(port, b"IAMAT k%d %s %d.0\n" % (i, LOC, 10 + i))
            assert out.startswith(b"AT ")
    finally:
        # Stop the traced node (strace's child) by its pid, then strace.
        kids = open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read()
        for pid in kids.split():
            os.kill(int(pid), signal.SIGTERM)
        p.wait(20)
    events = []     # (kind, text) in the order the calls completed
    for l in trace.read_text().splitlines():
        if "resumed>" in l or "<unfinished" not in l:
            if "fdatasync" in l and "= 0" in l:
                events.append(("sync", l))
            elif "pwrite64" in l and "HERD" not in l and "AT A" in l:
                events.append(("log", l))
            elif re.search(r'write(v)?\(\d+, .*"AT A ', l):
                events.append(("reply", l))
    replies = [e for e in events if e[0] == "reply"]
    assert len(replies) >= 20, events
    logged = synced = False
    for kind, l in events:
        if kind == "log":
            logged, synced = True, False
        elif kind == "sync" and logged:
            synced = True
        elif kind == "reply":
            assert synced, "reply before the fdatasync of its entry: " + l


def _connects(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                        str(mnt)], stderr=subprocess.PIPE)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.decode().strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def fill(path):
    """Write a file until the filesystem is full."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_always_enospc_refuses_then_recovers(herd_factory, small_tmpfs):
    herd = herd_factory(topology={"A": []},
                        herd_extra="data_dir = %s\nfsync = always\n"
                        % small_tmpfs)
    herd.start()
    assert herd.iamat("A", b"before", LOC, b"1.0").startswith(b"AT A ")
    fill(small_tmpfs / "filler")
    from conftest import Client
    waiting = Client(herd.port("A"), timeout=15)
    # Past the log's last allocated page: some of these cannot be written.
    waiting.send(b"".join(b"IAMAT pending%d %s 2.0\n" % (i, LOC)
                          for i in range(200)))
    wait_until(lambda: herd.stats("A")["persist"] == "failing", 10,
               what="persist failing")
    refused = herd.iamat("A", b"refused", LOC, b"3.0")
    assert refused == b"? IAMAT refused %s 3.0" % LOC
    os.unlink(small_tmpfs / "filler")
    # Acknowledged (the held ones once synced), then "?" once failing.
    refusing = False
    for i in range(200):
        line = waiting.readline()
        if line.startswith(b"? "):
            refusing = True
            assert line == b"? IAMAT pending%d %s 2.0" % (i, LOC)
        else:
            assert not refusing and line.startswith(b"AT A ")
            assert b" pending%d " % i in line
    wait_until(lambda: herd.stats("A")["persist"] == "ok", 10,
               what="persist ok")
    assert herd.iamat("A", b"after", LOC, b"4.0").startswith(b"AT A ")
    waiting.close()


def test_sighup_keeps_persistence_keys_until_restart(herd_factory,
                                                      tmp_path):
    """A herd-node run by hand that gets SIGHUP with a new fsync keeps
    its running policy and says it needs a restart; the restart applies
    it, with the records."""
    herd, data = persist_herd(herd_factory, tmp_path, "everysec",
                              topology={"A": []})
    herd.start()
    a = herd.iamat("A", b"kept", LOC, b"5.0")
    herd.herd_extra = "data_dir = %s\nfsync = always\n" % data
    herd.write()
    herd.signal("A", signal.SIGHUP)
    wait_until(lambda: "reload: persist, fsync or data_dir changed; it takes"
               " effect only after a restart" in herd.log("A"), 10,
               what="the warning")
    assert herd.stats("A")["fsync"] == "everysec"
    assert herd.stop("A") == 0
    herd.start("A")
    assert herd.stats("A")["fsync"] == "always"
    assert held_line(herd, "A", b"kept") == a
