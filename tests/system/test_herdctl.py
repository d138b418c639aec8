"""herdctl and its supervisor, end to end: real processes and sockets."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import (AT_RE, BIN, SANITIZER_RE, Client, SyslogReceiver,
                      alive, connects, exchange, free_ports, harness_factory,
                      wait_until, write_ini, DEFAULT_TOPOLOGY)

HERDCTL = os.path.join(BIN, "herdctl")
NODE = os.path.join(BIN, "herd-node")
LOC = b"+34.068930-118.445127"


class Ctl:
    """A herd run by herdctl in a private run directory."""

    def __init__(self, tmp, topology=None, env=None, extra=""):
        self.tmp = tmp
        self.extra = extra
        self.topology = dict(topology or DEFAULT_TOPOLOGY)
        self.ports = dict(zip(self.topology, free_ports(len(self.topology))))
        self.ini = str(tmp / "herd.ini")
        self.run_dir = str(tmp / "run")
        self.syslog = SyslogReceiver(str(tmp / "log.sock"))
        self.env = dict(os.environ, **(env or {}))
        self.env.pop("NOTIFY_SOCKET", None)
        # Records on disk stay in the test's directory, never /var/lib/herd.
        self.env.setdefault("HERD_DATA_DIR", str(tmp / "data"))
        # Sanitizer builds: reports of background workers go to files.
        self.asan_dir = tmp / "asan"
        self.asan_dir.mkdir()
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            self.env[var] = ":".join(filter(None, [
                self.env.get(var), "log_path=%s/%s" % (self.asan_dir,
                                                       var.lower())]))
        self.sup_pid = None
        self.write()

    def write(self, topology=None, ports=None, extra=None):
        if extra is None:
            extra = self.extra
        if topology is not None:
            self.topology = dict(topology)
        for name in self.topology:
            if name not in self.ports:
                self.ports[name] = free_ports(1)[0]
        if ports:
            self.ports.update(ports)
        write_ini(self.ini, self.ports, self.topology,
                  "run_dir = %s\nlog_socket = %s\n%s"
                  % (self.run_dir, self.syslog.path, extra))

    def run(self, *args, timeout=60, check=None):
        p = subprocess.run([HERDCTL, "-c", self.ini] + list(args),
                           capture_output=True, text=True, env=self.env,
                           timeout=timeout, cwd=str(self.tmp))
        if check is not None:
            assert p.returncode == check, (args, p.returncode, p.stdout,
                                           p.stderr)
        return p

    def start(self, *args):
        p = self.run("start", *args, check=0)
        m = re.search(r"supervisor pid (\d+)", p.stdout)
        self.sup_pid = int(m.group(1))
        return p

    def status(self, *names):
        p = self.run("status", "--json", *names)
        assert p.returncode in (0, 3), (p.returncode, p.stderr)
        return {s["name"]: s for s in json.loads(p.stdout)["servers"]}

    def pid(self, name):
        return self.status()[name]["pid"]

    def kill_worker(self, name, sig=signal.SIGKILL):
        """Signal name's worker by the PID status gives, only if that PID
        is still a child of our supervisor (status can lag a death, and
        the PID be reused by an unrelated process); True if signalled."""
        pid = self.pid(name)
        try:
            with open("/proc/%d/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, TypeError):
            return False
        if ppid != self.sup_pid:
            return False
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def worker_pids(self):
        try:
            return [s["pid"] for s in self.status().values() if s["pid"]]
        except Exception:
            return []

    def iamat(self, name, cid, t=b"1"):
        return exchange(self.ports[name], b"IAMAT %s %s %s\n"
                        % (cid, LOC, t)).rstrip(b"\n")

    def wait_state(self, name, state, timeout=5):
        return wait_until(lambda: self.status()[name]["state"] == state
                          and self.status()[name], timeout,
                          what="%s %s" % (name, state))

    def close(self):
        pids = self.worker_pids()
        if self.sup_pid and alive(self.sup_pid):
            self.run("stop", timeout=30)
        if self.sup_pid and alive(self.sup_pid):
            os.kill(self.sup_pid, signal.SIGKILL)
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.syslog.close()

    def sanitizer_reports(self):
        out = []
        for f in sorted(self.asan_dir.iterdir()):
            text = f.read_text(errors="replace")
            if SANITIZER_RE.search(text):
                out.append("%s:\n%s" % (f.name, text[-4000:]))
        return out


@pytest.fixture
def ctl_factory(tmp_path):
    yield from harness_factory(tmp_path, Ctl, "ctl")


@pytest.fixture
def ctl(ctl_factory):
    c = ctl_factory()
    c.start()
    return c


def test_check_ok_and_errors(tmp_path):
    ini = tmp_path / "a.ini"
    ini.write_text("[server:A]\nport = 1\n[server:B]\nport = 2\n"
                   "neighbors = A\n")
    p = subprocess.run([HERDCTL, "-c", str(ini), "check"],
                       capture_output=True, text=True)
    assert p.returncode == 0
    assert p.stdout == "%s: ok (2 servers, 1 link)\n" % ini
    ini.write_text("[server:A]\nport = 0\nbogus = 1\n[server:B]\nport = 2\n"
                   "neighbors = C\n")
    p = subprocess.run([HERDCTL, "-c", str(ini), "check"],
                       capture_output=True, text=True)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert "herdctl: %s:2: bad port '0' (expected 1..65535)" % ini in lines
    assert "herdctl: %s:3: unknown key 'bogus' in [server:A]" % ini in lines
    assert any(l.startswith("herdctl: %s:6: " % ini) and
               "unknown neighbour 'C'" in l for l in lines)


def test_help_everywhere():
    p = subprocess.run([HERDCTL, "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "usage: herdctl" in p.stdout
    for cmd in ("check", "start", "stop", "restart", "reload", "status"):
        p = subprocess.run([HERDCTL, cmd, "--help"], capture_output=True,
                           text=True)
        assert p.returncode == 0 and ("herdctl [-c FILE] " + cmd) in p.stdout
    p = subprocess.run([HERDCTL, "frobnicate"], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "unknown command" in p.stderr


def test_start_status_stop(ctl):
    st = ctl.status()
    assert set(st) == set(DEFAULT_TOPOLOGY)
    for name, s in st.items():
        assert s["state"] == "running"
        assert alive(s["pid"])
        assert s["port"] == ctl.ports[name]
        assert s["restarts"] == 0 and s["last_exit"] is None
        assert s["peers"] == len(set(DEFAULT_TOPOLOGY[name]) | {
            n for n, nb in DEFAULT_TOPOLOGY.items() if name in nb})
        assert isinstance(s["uptime_s"], (int, float))
    # ps shows the server name
    with open("/proc/%d/cmdline" % st["Hill"]["pid"]) as f:
        assert f.read().split("\0")[-2] == "Hill"
    wait_until(lambda: all(s["peers_up"] == s["peers"]
                           for s in ctl.status().values()), 5,
               what="all links up")
    p = ctl.run("status", check=0)
    assert p.stdout.splitlines()[0].split() == [
        "NAME", "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "LAST", "EXIT",
        "PEERS"]
    at = ctl.iamat("Hill", b"c")
    assert AT_RE.match(at)
    pids = ctl.worker_pids()
    p = ctl.run("stop", check=0)
    assert "herd stopped" in p.stdout
    assert not alive(ctl.sup_pid)
    assert not any(alive(pid) for pid in pids)
    assert ctl.run("status").returncode == 4
    assert not os.path.exists(os.path.join(ctl.run_dir, "herd.sock"))


def test_second_supervisor_refuses(ctl):
    p = ctl.run("start")
    assert p.returncode == 1
    assert "another supervisor (pid %d) is running" % ctl.sup_pid in p.stderr
    p = ctl.run("start", "--foreground")
    assert p.returncode == 1


def test_stop_name_stays_stopped_neighbours_serve(ctl):
    old = ctl.pid("Jaquez")
    assert ctl.run("stop", "Jaquez", check=0).stdout == "Jaquez stopped\n"
    assert not alive(old)
    time.sleep(0.5)                 # it is not restarted behind our back
    st = ctl.status()
    assert st["Jaquez"]["state"] == "stopped" and st["Jaquez"]["pid"] is None
    assert ctl.run("status").returncode == 3
    assert ctl.run("status", "Hill").returncode == 0
    assert AT_RE.match(ctl.iamat("Hill", b"x"))
    with pytest.raises(OSError):
        exchange(ctl.ports["Jaquez"], b"IAMAT a +1+1 1\n", timeout=1)
    assert ctl.run("start", "Jaquez", check=0).stdout == "Jaquez started\n"
    assert ctl.status()["Jaquez"]["state"] == "running"
    assert ctl.run("status").returncode == 0


def test_kill_9_worker_restarted_after_first_backoff(ctl):
    """A killed worker is restarted after the first backoff step (100 ms,
    as the log says), not a longer one; serving again is polled with a
    generous deadline (make bench measures the time)."""
    old = ctl.pid("Smith")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: _try_iamat(ctl, "Smith"), 15,
               what="Smith serving again")
    ctl.syslog.wait_for(r"Smith: pid exited \(signal 9 \(KILL\)\).*; "
                        r"restarting in 100 ms")
    s = ctl.status()["Smith"]
    assert s["pid"] != old and alive(s["pid"])
    assert s["restarts"] == 1
    assert s["last_exit"] == "signal 9 (KILL)"


def _try_iamat(c, name):
    """An AT line from name, or None while it is not serving."""
    try:
        return AT_RE.match(c.iamat(name, b"probe"))
    except OSError:
        return None


def crashy_env(tmp):
    """A herd-node wrapper that exits with the code in FLAG when it exists."""
    flag = tmp / "crash"
    wrapper = tmp / "herd-node-wrapper"
    wrapper.write_text("#!/bin/sh\nif [ -f %s ]; then exit $(cat %s); fi\n"
                       "exec %s \"$@\"\n" % (flag, flag, NODE))
    wrapper.chmod(0o755)
    return {"HERD_NODE_BIN": str(wrapper)}, flag


def test_crash_loop_backoff_grows(ctl_factory, tmp_path):
    env, flag = crashy_env(tmp_path)
    c = ctl_factory(topology={"A": [], "B": ["A"]}, env=env)
    c.start()
    flag.write_text("3")
    os.kill(c.pid("A"), signal.SIGKILL)
    c.wait_state("A", "backoff", 10)
    delays = wait_until(lambda: [int(m) for l in c.syslog.drain()
                                 for m in re.findall(
                                     r"A: pid exited .* restarting in (\d+) ms",
                                     l)][:5] if len(re.findall(
                                         r"A: pid exited", "\n".join(
                                             c.syslog.drain()))) >= 5
                        else None, 20, what="5 restarts")
    assert delays == [100, 200, 400, 800, 1600]
    s = c.status()["A"]
    assert s["restarts"] >= 4 and s["last_exit"] == "exit 3"
    # B is unaffected; once fixed, A comes back by itself.
    assert AT_RE.match(c.iamat("B", b"b"))
    flag.unlink()
    c.wait_state("A", "running", 10)


def test_exit_config_is_fatal(ctl_factory, tmp_path):
    env, flag = crashy_env(tmp_path)
    c = ctl_factory(topology={"A": []}, env=env)
    c.start()
    flag.write_text("78")
    os.kill(c.pid("A"), signal.SIGKILL)     # first a crash: restarted...
    c.wait_state("A", "fatal", 10)          # ...then exit 78: fatal
    time.sleep(0.5)
    assert c.status()["A"]["state"] == "fatal"
    assert c.status()["A"]["last_exit"] == "exit 78"
    flag.unlink()
    assert c.run("start", "A").returncode == 0
    assert c.status()["A"]["state"] == "running"


def test_reload_add_remove_neighbours_port_and_invalid(ctl_factory):
    topo = {"A": ["B"], "B": ["C"], "C": [], "D": []}
    c = ctl_factory(topology=topo)
    c.start()
    pids = {n: s["pid"] for n, s in c.status().items()}
    cl = Client(c.ports["A"])            # a client of a reconfigured node
    assert AT_RE.match(cl.request(b"IAMAT keep +1+1 1"))

    new_topo = {"A": ["B", "E"], "B": ["C"], "C": [], "E": []}   # D gone
    new_port = free_ports(1)[0]
    c.write(new_topo, ports={"C": new_port})
    p = c.run("reload", check=0)
    assert "A: signal" in p.stdout and "E: start" in p.stdout
    assert "D: stop" in p.stdout and "C: restart" in p.stdout
    st = c.status()
    assert set(st) == {"A", "B", "C", "E"}
    assert st["A"]["pid"] == pids["A"]        # neighbours changed: same PID
    assert st["B"]["pid"] == pids["B"]        # unchanged: same PID
    assert st["C"]["pid"] != pids["C"]        # port changed: restarted
    assert not alive(pids["D"])               # removed
    assert st["E"]["state"] == "running"
    assert st["C"]["port"] == new_port and connects(new_port)
    assert AT_RE.match(cl.request(b"IAMAT keep +1+1 2"))   # connection kept
    cl.close()
    wait_until(lambda: c.status()["A"]["peers_up"] == 2, 5,
               what="A linked to B and E")
    at = c.iamat("A", b"r")
    wait_until(lambda: exchange(c.ports["E"], b"WHATSAT r 1 1\n")
               .startswith(at), 10, what="flood to E")

    # An invalid INI changes nothing.
    before = {n: s["pid"] for n, s in c.status().items()}
    with open(c.ini, "a") as f:
        f.write("\n[server:Z]\nport = 0\n")
    p = c.run("reload")
    assert p.returncode == 1
    assert "bad port '0'" in p.stderr and c.ini in p.stderr
    assert {n: s["pid"] for n, s in c.status().items()} == before


def test_sighup_to_supervisor_reloads(ctl_factory):
    c = ctl_factory(topology={"A": []})
    c.start()
    c.write({"A": [], "B": ["A"]})
    os.kill(c.sup_pid, signal.SIGHUP)
    # The signal is handled asynchronously: B appears once it was.
    wait_until(lambda: c.status().get("B", {}).get("state") == "running", 5,
               what="B running")


def test_restart_one_at_a_time(ctl):
    old = {n: s["pid"] for n, s in ctl.status().items()}
    ctl.run("restart", "Hill", "Campbell", check=0)
    st = ctl.status()
    assert st["Hill"]["pid"] != old["Hill"]
    assert st["Campbell"]["pid"] != old["Campbell"]
    assert st["Smith"]["pid"] == old["Smith"]
    assert st["Hill"]["restarts"] == 0       # asked for, not a crash
    lines = ctl.syslog.drain()
    hill_ready = [i for i, l in enumerate(lines)
                  if re.search(r"supervisor: Hill: ready", l)][-1]
    camp_stop = [i for i, l in enumerate(lines)
                 if re.search(r"supervisor: Campbell: stopping", l)][-1]
    assert hill_ready < camp_stop


def test_start_with_port_taken_fails_and_leaves_nothing(ctl_factory):
    c = ctl_factory()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", c.ports["Smith"]))
        s.listen()
        p = c.run("start")
    assert p.returncode == 1
    assert ("Smith: did not start (exit 69): cannot listen on "
            "127.0.0.1:%d: Address already in use" % c.ports["Smith"]) \
        in p.stderr
    assert c.run("status").returncode == 4
    for name in ("Hill", "Jaquez", "Campbell", "Singleton"):
        assert not connects(c.ports[name])


def test_supervisor_sigkill_leaves_no_worker(ctl):
    pids = ctl.worker_pids()
    assert len(pids) == 5
    os.kill(ctl.sup_pid, signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in pids), 5,
               what="workers gone")


def test_sigusr1_relayed_to_workers(ctl):
    os.kill(ctl.sup_pid, signal.SIGUSR1)
    for name in DEFAULT_TOPOLOGY:
        ctl.syslog.wait_for(r"herd-node\[\d+\]: %s: stats: records=" % name)


def test_only_overrides_local_choice(ctl_factory):
    c = ctl_factory(topology={"A": ["B"], "B": []})
    c.start("--only", "B")
    assert set(c.status()) == {"B"}
    assert not connects(c.ports["A"])


def test_remote_servers_are_not_started(ctl_factory):
    c = ctl_factory(topology={"A": ["R"], "R": []})
    with open(c.ini) as f:
        text = f.read()
    # 192.0.2.1 (TEST-NET-1) is never an address of this machine; the
    # node only dials it (nothing is listening: retries are harmless).
    text = text.replace("[server:R]\n", "[server:R]\nhost = 192.0.2.1\n")
    with open(c.ini, "w") as f:
        f.write(text)
    c.start()
    assert set(c.status()) == {"A"}
    assert c.status()["A"]["peers"] == 1


def test_foreground_sd_notify_protocol(ctl_factory, tmp_path):
    c = ctl_factory(topology={"A": [], "B": ["A"]})
    path = str(tmp_path / "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(10)
    env = dict(c.env, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
    p = subprocess.Popen([HERDCTL, "-c", c.ini, "start", "--foreground"],
                         env=env, stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, cwd=str(tmp_path))
    c.sup_pid = p.pid
    msgs = []

    def until(pred):
        while True:
            m = ns.recv(4096).decode()
            msgs.append(m)
            if pred(m):
                return m
    try:
        until(lambda m: "READY=1" in m.split("\n"))
        assert c.status()["A"]["state"] == "running"
        until(lambda m: m == "WATCHDOG=1")
        c.write({"A": [], "B": ["A"], "C": []})
        r = subprocess.run([HERDCTL, "-c", c.ini, "reload"], env=c.env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        m = until(lambda m: "RELOADING=1" in m)
        assert re.search(r"MONOTONIC_USEC=\d+", m)
        until(lambda m: "READY=1" in m.split("\n"))
        p.send_signal(signal.SIGTERM)
        until(lambda m: "STOPPING=1" in m)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        ns.close()
    err = p.stderr.read().decode()
    assert "supervisor: all workers ready" in err      # logs on stderr
    assert any(m.startswith("STATUS=") for m in msgs)


def test_foreground_under_journald_logs_once(ctl_factory, tmp_path):
    """With $JOURNAL_STREAM (systemd: stderr is the journal) lines go to
    syslog only, not twice."""
    c = ctl_factory(topology={"A": []})
    env = dict(c.env, JOURNAL_STREAM="8:12345")
    errf = open(tmp_path / "fg.err", "wb")
    p = subprocess.Popen([HERDCTL, "-c", c.ini, "start", "--foreground"],
                         env=env, stderr=errf, stdout=subprocess.DEVNULL,
                         cwd=str(tmp_path))
    errf.close()
    c.sup_pid = p.pid
    try:
        c.syslog.wait_for(r"herdctl\[%d\]: supervisor: all workers ready"
                          % p.pid)
        c.syslog.wait_for(r"herd-node\[\d+\]: A: listening on")
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
    assert (tmp_path / "fg.err").read_text() == ""


STOP_UNDER_SUBREAPER = r"""
import ctypes, os, re, subprocess, sys, time
# PR_SET_CHILD_SUBREAPER: the detached supervisor becomes our child, and
# we do not reap it until the end (as a busy init may not, for a while).
assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
herdctl, ini = sys.argv[1:3]
out = subprocess.run([herdctl, "-c", ini, "start"], capture_output=True,
                     text=True, check=True).stdout
pid = int(re.search(r"supervisor pid (\d+)", out).group(1))
t0 = time.monotonic()
subprocess.run([herdctl, "-c", ini, "stop"], check=True, timeout=60)
took = time.monotonic() - t0
with open("/proc/%d/stat" % pid) as f:
    state = f.read().rsplit(")", 1)[1].split()[0]
os.waitpid(pid, 0)
print(state, took)
"""


def test_stop_returns_when_the_supervisor_is_a_zombie(ctl_factory):
    """herdctl stop waits for the supervisor to exit; an exited but not
    yet reaped one (a zombie: its parent is init, which may reap late)
    has exited.  It used to wait for the reaping, up to its 10 s limit."""
    c = ctl_factory(topology={"A": []})
    p = subprocess.run([sys.executable, "-c", STOP_UNDER_SUBREAPER, HERDCTL,
                        c.ini], capture_output=True, text=True, env=c.env,
                       timeout=90, cwd=str(c.tmp))
    assert p.returncode == 0, p.stderr
    state, took = p.stdout.splitlines()[-1].split()
    assert state == "Z"         # stop returned before anyone reaped it
    assert float(took) < 5, took        # half of the old 10 s limit
