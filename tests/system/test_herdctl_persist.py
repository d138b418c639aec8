"""herdctl's side of persistence: the data directory it gives its servers,
the PERSIST status lines it shows, and a fatal server's reason.

The resolution order itself is unit-tested (tests/unit/test_rundir.c);
here the supervisor's answer shows which directory each server gets.  The
PERSIST lines are driven by a fake herd-node (a shell script given as
$HERD_NODE_BIN) that writes what the test asks for on its status pipe, so
the supervisor and herdctl are tested without the node's persistence.
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import alive, connects, exchange, wait_until
from test_herdctl import HERDCTL, LOC, Ctl, ctl_factory  # noqa: F401

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ONE = {"Hill": []}
TWO = {"Hill": ["Smith"], "Smith": []}


FAKE_NODE = r"""#!/bin/sh
# A fake herd-node: record argv, say READY, then relay whatever the test
# drops into $dir/NAME.say to the status pipe (fd 3); FAIL + exit 78 when
# $dir/NAME.fatal exists.
dir=%(dir)s
for last; do :; done
name=$last
printf '%%s\n' "$@" > "$dir/$name.argv"
if [ -e "$dir/$name.fatal" ]; then
    cat "$dir/$name.fatal" >&3
    exit 78
fi
printf 'READY\n' >&3
trap 'kill $pid 2>/dev/null; exit 0' TERM INT
while :; do
    if [ -e "$dir/$name.say" ]; then
        cat "$dir/$name.say" >&3
        rm -f "$dir/$name.say"
    fi
    sleep 0.05 & pid=$!
    wait $pid
done
"""


def fake_ctl(ctl_factory, topology=ONE, extra="", env=None):
    """A Ctl whose workers are the fake node above."""
    c = ctl_factory(topology=topology, extra=extra, env=env)
    d = c.tmp / "fake"
    d.mkdir()
    script = c.tmp / "fake-node"
    script.write_text(FAKE_NODE % {"dir": d})
    script.chmod(0o755)
    c.env["HERD_NODE_BIN"] = str(script)
    c.fake = d
    return c


def say(c, name, text):
    """Have fake worker name write text on its status pipe."""
    tmp = c.fake / (name + ".tmp")
    tmp.write_text(text)
    os.rename(tmp, c.fake / (name + ".say"))


def status_json(c):
    """herdctl status --json: (exit code, {name: server})."""
    p = c.run("status", "--json")
    return p.returncode, {s["name"]: s for s in
                          json.loads(p.stdout)["servers"]}


def test_data_dir_key_comes_first(ctl_factory, tmp_path):
    """[herd] data_dir wins over $HERD_DATA_DIR; each server gets its own
    directory under it."""
    base = str(tmp_path / "from-key")
    c = ctl_factory(topology=TWO, extra="data_dir = %s\n" % base,
                    env={"HERD_DATA_DIR": str(tmp_path / "from-env")})
    c.start()
    st = c.status()
    assert st["Hill"]["data_dir"] == base + "/Hill"
    assert st["Smith"]["data_dir"] == base + "/Smith"


def test_data_dir_env_relative_to_herdctl(ctl_factory):
    """$HERD_DATA_DIR, relative, is resolved against herdctl's working
    directory (the daemon changes to / later): nodes get an absolute
    path."""
    c = ctl_factory(topology=ONE, env={"HERD_DATA_DIR": "rel/data"})
    c.start()
    assert c.status()["Hill"]["data_dir"] == str(c.tmp / "rel/data/Hill")


@pytest.mark.skipif(os.geteuid() != 0, reason="the root default")
def test_data_dir_root_default(ctl_factory):
    """Root without data_dir or $HERD_DATA_DIR: /var/lib/herd (what
    herd.service's StateDirectory= creates).  Only the answer is looked
    at: the fake node writes nothing there."""
    c = fake_ctl(ctl_factory)
    c.env.pop("HERD_DATA_DIR", None)
    c.env["XDG_STATE_HOME"] = str(c.tmp / "xdg")
    c.start()
    assert c.status()["Hill"]["data_dir"] == "/var/lib/herd/Hill"


def test_persist_no_gives_no_data_dir(ctl_factory, tmp_path):
    """persist = no: no data directory, persistence off."""
    c = fake_ctl(ctl_factory, extra="persist = no\ndata_dir = %s\n"
                 % (tmp_path / "d"))
    c.start()
    s = c.status()["Hill"]
    assert s["data_dir"] is None
    assert s["persist"] == {"state": "off", "fsync": "-", "lag_ms": 0}
    argv = (c.fake / "Hill.argv").read_text().split("\n")
    assert "--data-dir" not in argv


def test_data_dir_handed_to_workers(ctl_factory, tmp_path):
    """Each worker gets --data-dir BASE (before its name, which stays the
    last argument)."""
    base = str(tmp_path / "d")
    c = fake_ctl(ctl_factory, topology=TWO, extra="data_dir = %s\n" % base)
    c.start()
    for name in TWO:
        argv = (c.fake / (name + ".argv")).read_text().split("\n")[:-1]
        i = argv.index("--data-dir")
        assert argv[i + 1] == base and argv[-1] == name, argv


def test_persist_lines_in_status(ctl_factory, tmp_path):
    """Before any PERSIST line: off/-/0.  Then the last line each worker
    sent is in --json; failing persistence is shown under the table and
    makes status exit 3, until the node reports ok again."""
    c = fake_ctl(ctl_factory, topology=TWO,
                 extra="data_dir = %s\n" % (tmp_path / "d"))
    c.start()
    code, st = status_json(c)
    assert code == 0
    assert st["Hill"]["persist"] == {"state": "off", "fsync": "-",
                                     "lag_ms": 0}
    say(c, "Hill", "PERSIST ok everysec 12\n")
    wait_until(lambda: status_json(c)[1]["Hill"]["persist"]["state"] == "ok",
               10, interval=0.05, what="Hill persist ok")
    code, st = status_json(c)
    assert code == 0
    assert st["Hill"]["persist"] == {"state": "ok", "fsync": "everysec",
                                     "lag_ms": 12}
    assert st["Smith"]["persist"]["state"] == "off"

    say(c, "Smith", "PERSIST failing always 1500\n")
    wait_until(lambda: status_json(c)[0] == 3, 10, interval=0.05,
               what="status exit 3 for failing persistence")
    assert status_json(c)[1]["Smith"]["persist"] == {
        "state": "failing", "fsync": "always", "lag_ms": 1500}
    p = c.run("status")
    assert p.returncode == 3
    assert "Smith: persistence failing (fsync always, 1500 ms behind)" \
        in p.stdout.splitlines(), p.stdout
    assert "Hill:" not in p.stdout

    # Garbage on the pipe changes nothing.
    say(c, "Smith", "PERSIST failing sometimes 1\nPERSIST ok no\n")
    say(c, "Hill", "PERSIST ok no 0\n")
    wait_until(lambda: status_json(c)[1]["Hill"]["persist"]["fsync"] == "no",
               10, interval=0.05, what="Hill's next line")
    assert status_json(c)[1]["Smith"]["persist"]["state"] == "failing"

    say(c, "Smith", "PERSIST ok always 0\n")
    wait_until(lambda: status_json(c)[0] == 0, 10, interval=0.05,
               what="status exit 0 again")
    assert "persistence" not in c.run("status").stdout


def test_fatal_shows_its_reason(ctl_factory, tmp_path):
    """A node that exits 78 for a bad data directory is fatal, and the
    table says why on a line of its own."""
    c = fake_ctl(ctl_factory, topology=TWO,
                 extra="data_dir = %s\n" % (tmp_path / "d"))
    c.start()
    why = "data directory %s/Hill belongs to uid 4242, not to us" % (
        tmp_path / "d")
    (c.fake / "Hill.fatal").write_text("FAIL %s\n" % why)
    p = c.run("restart", "Hill")
    assert p.returncode == 1
    c.wait_state("Hill", "fatal", timeout=10)
    assert c.status()["Hill"]["error"] == why
    p = c.run("status")
    assert p.returncode == 3
    assert "Hill: fatal: %s" % why in p.stdout.splitlines(), p.stdout
    assert "Smith:" not in p.stdout


def test_make_run_data_dir():
    """make run keeps the records of its herd in build/run/data."""
    p = subprocess.run(["make", "-n", "--no-print-directory", "-C", ROOT,
                        "run"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "HERD_DATA_DIR=%s/build/run/data" % ROOT in p.stdout, p.stdout


def _load(c, names, stop, acked):
    """IAMATs with unique ids to every server; log the acknowledged ones."""
    i = 0
    while not stop.is_set():
        cid = b"k%d" % i
        try:
            out = c.iamat(names[i % len(names)], cid, b"%d.25" % (5000 + i))
        except OSError:
            out = b""
        if out.startswith(b"AT "):
            acked.append((cid, out))
        i += 1


def _held(c, name, cid):
    """The AT line name holds for cid, read without changing the store
    (an older IAMAT answers with the stored record; an unknown id would
    be stored, so an answer carrying time 0.5 means the record was lost)."""
    return exchange(c.ports[name], b"IAMAT %s %s 0.5\n"
                    % (cid, LOC)).rstrip(b"\n")


@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_kill9_supervisor_and_every_worker_then_start(ctl_factory, fsync):
    """The real node: kill -9 of herdctl's supervisor and all five workers
    at once under a steady IAMAT load; after `herdctl start` every server
    holds every acknowledged record, in its persist state ok; the same
    after `herdctl stop` + `start`."""
    c = ctl_factory(extra="fsync = %s\n" % fsync)
    c.start()
    names = list(c.topology)
    stop, acked = threading.Event(), []
    t = threading.Thread(target=_load, args=(c, names, stop, acked))
    t.start()
    wait_until(lambda: len(acked) >= 300, 60, what="300 acknowledged")
    pids = [c.sup_pid] + c.worker_pids()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    stop.set()
    t.join(10)
    for pid in pids:
        wait_until(lambda: not alive(pid), 10, what="pid %d gone" % pid)
    c.start()
    for name in names:
        s = c.status()[name]
        assert s["persist"]["state"] == "ok", s
        assert s["persist"]["fsync"] == fsync, s
    _all_hold(c, names, acked)
    assert c.run("stop", timeout=60).returncode == 0
    # herdctl stop + start: still everything.
    c.start()
    for cid, line in acked[::7]:
        for name in names:
            assert _held(c, name, cid) == line


def _all_hold(c, names, acked):
    """The server that acknowledged a record has it from its files at
    once; the others (one killed with the flood unread in its socket, or
    down when it was sent) get it from the catch-up."""
    for cid, line in acked:
        origin = line.split()[1].decode()
        got = _held(c, origin, cid)
        assert got == line, "%s lost %r (answered %r)" % (origin, line, got)
        for name in names:
            wait_until(lambda: _held(c, name, cid) == line, 10,
                       what="%s to hold %r" % (name, line))


def _service_start(c, path):
    """herd.service's ExecStartPre and ExecStart (herdctl check, then
    start --foreground under a NOTIFY_SOCKET); returns once READY=1."""
    assert c.run("check").returncode == 0
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if os.path.exists(path):
        os.unlink(path)
    ns.bind(path)
    ns.settimeout(30)
    p = subprocess.Popen([HERDCTL, "-c", c.ini, "start", "--foreground"],
                         env=dict(c.env, NOTIFY_SOCKET=path),
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=str(c.tmp))
    c.sup_pid = p.pid
    try:
        while "READY=1" not in ns.recv(4096).decode().split("\n"):
            pass
    finally:
        ns.close()
    return p


@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_service_restart_keeps_every_acknowledged_record(ctl_factory,
                                                         tmp_path, fsync):
    """`systemctl restart herd` as herd.service runs it: ExecStop
    (herdctl stop) while clients keep sending, the main process exits,
    then ExecStartPre and ExecStart again; every record acknowledged
    before, during or after is held by every server afterwards."""
    c = ctl_factory(extra="fsync = %s\n" % fsync)
    sock = str(tmp_path / "notify.sock")
    p = _service_start(c, sock)
    names = list(c.topology)
    stop, acked = threading.Event(), []
    t = threading.Thread(target=_load, args=(c, names, stop, acked))
    t.start()
    try:
        wait_until(lambda: len(acked) >= 200, 60, what="200 acknowledged")
        assert c.run("stop", timeout=60).returncode == 0     # ExecStop
        assert p.wait(15) == 0
        before = len(acked)
        p = _service_start(c, sock)
        wait_until(lambda: len(acked) >= before + 100, 60,
                   what="100 more acknowledged after the restart")
    finally:
        stop.set()
        t.join(10)
    _all_hold(c, names, acked)
    assert c.run("stop", timeout=60).returncode == 0
    assert p.wait(15) == 0


# exit(2) of the calling thread only (not exit_group): its number.
SYS_EXIT = {"x86_64": 60, "aarch64": 93, "riscv64": 93}.get(os.uname().machine)


@pytest.mark.skipif(SYS_EXIT is None, reason="exit(2) number unknown here")
def test_alive_waits_for_every_thread():
    """procs.alive(): a process whose main thread exited (a zombie)
    while another thread runs is alive, the way a killed herd-node is
    until its disk writer has exited; it is gone once that thread ends."""
    import sys
    code = ("import ctypes, os, threading, time\n"
            "threading.Thread(target=lambda: (os.read(0, 1),)).start()\n"
            "ctypes.CDLL(None).syscall(%d, 0)\n" % SYS_EXIT)
    p = subprocess.Popen([sys.executable, "-c", code],
                         stdin=subprocess.PIPE)
    try:
        wait_until(lambda: "State:\tZ" in open(
            "/proc/%d/status" % p.pid).read(), 10, what="a zombie leader")
        assert alive(p.pid)
        p.stdin.close()         # the last thread's read returns: it exits
        wait_until(lambda: not alive(p.pid), 10, what="every thread gone")
    finally:
        p.kill()
        p.wait(5)


def test_reload_fsync_restarts_in_turn_data_dir_refused(ctl_factory,
                                                       tmp_path):
    """herdctl reload with a new fsync restarts the servers one at a time
    (one always listens) with every record, under the new policy; a new
    data_dir, or persist = no, is refused with a message saying a restart
    must move the records, and nothing changes."""
    topo = {"A": ["B", "C"], "B": ["A", "C"], "C": ["A", "B"]}
    base = tmp_path / "d"
    c = ctl_factory(topology=topo, extra="data_dir = %s\nfsync = everysec\n"
                    % base)
    c.start()
    acked = [(b"r%d" % i, c.iamat("A", b"r%d" % i, b"%d.5" % (10 + i)))
             for i in range(50)]
    for name in topo:
        wait_until(lambda: all(_held(c, name, cid) == line
                               for cid, line in acked[-1:]), 10,
                   what="%s to hold the records" % name)
    pids = {n: s["pid"] for n, s in c.status().items()}

    c.write(extra="data_dir = %s\nfsync = always\n" % base)
    stop, down = threading.Event(), []

    def watch():                # every millisecond: is any server up?
        while not stop.is_set():
            up = [n for n in topo if connects(c.ports[n], 0.2)]
            if not up:
                down.append(time.monotonic())
            time.sleep(0.001)
    t = threading.Thread(target=watch)
    t.start()
    try:
        p = c.run("reload", check=0)
    finally:
        stop.set()
        t.join(10)
    assert sorted(p.stdout.splitlines()) == [
        "A: restart", "B: restart", "C: restart", "reloaded"], p.stdout
    assert not down, "every server was down at once"
    st = c.status()
    for name in topo:
        assert st[name]["pid"] != pids[name]
        assert st[name]["persist"]["fsync"] == "always", st[name]
        for cid, line in acked:
            assert _held(c, name, cid) == line
    pids = {n: s["pid"] for n, s in st.items()}

    for extra, what in [("data_dir = %s\nfsync = always\n" % (tmp_path / "e"),
                         "data_dir changed from %s to %s" % (
                             base, tmp_path / "e")),
                        ("persist = no\ndata_dir = %s\n" % base,
                         "persistence turned off")]:
        c.write(extra=extra)
        p = c.run("reload")
        assert p.returncode == 1, p.stdout
        assert what in p.stderr and "nothing changed" in p.stderr and \
            "herdctl stop" in p.stderr, p.stderr
        st = c.status()
        assert {n: s["pid"] for n, s in st.items()} == pids
        assert st["A"]["data_dir"] == str(base / "A")
    # The file put back: reloading it changes nothing.
    c.write(extra="data_dir = %s\nfsync = always\n" % base)
    assert c.run("reload", check=0).stdout == "reloaded\n"
    assert {n: s["pid"] for n, s in c.status().items()} == pids
