#!/usr/bin/python3
"""chaos.py -- randomized fault injection against a herd run by herdctl.

    tests/chaos/chaos.py [--seconds N] [--seed N] [--bin DIR] [--keep]
    (make chaos CHAOS_SECONDS=N CHAOS_SEED=N)

Five servers on loopback, every peer link through the LinkProxy
(proxy.py): server k listens on 127.0.0.(2k+2) (`bind`), its neighbours
dial 127.0.0.(2k+3) (`host`), where the proxy forwards to `bind`.
Clients and attackers talk to `bind` directly.  On a schedule drawn from
the seed, the run breaks links (blackhole without FIN, reset, delay,
throttle), kills, pauses and restarts servers, crashes the whole herd
(kill -9 of every worker, and of the supervisor, at once), reloads
topology changes, fails the places provider, and sends hostile traffic
(also at every server's metrics port), while clients send IAMATs
with unique timestamps and poll WHATSATs.  Every server keeps its records
in its own data directory, under an fsync policy drawn from the seed.
Then it heals everything, waits for the herd to settle and checks:

  (a) every server holds, for every client, the newest record any client
      was acknowledged for (or a newer one that was sent), and every
      server holds the same number of records;
  (b) no reply ever carried a record that no client sent;
  (c) a server's record for a client never goes back, not even across
      its restarts (kill -9 included): what it acknowledged or showed in
      a reply had reached its log first;
  (d) every configured link is up again and `herdctl status` says so;
      it also says every server persists under the run's fsync policy;
  (e) every process the run started is gone;
  (f) a server that stored an IAMAT answered it, unless it was killed;
  (g) a server closes a well-behaved client only when it is stopped;
  (h) a node closes an authenticated link connection only for a reason
      the run caused (a fault on that link, a restart, a reload);
  (i) no server restarts unless the run made it;
  (j) no /metrics counter goes back within one process lifetime, and a
      process keeps its process_start_time_seconds;
  (k) herd_requests_total{command="IAMAT"} is at least the IAMATs the
      server acknowledged in that lifetime before the scrape;
  (l) /healthz says 200 ok and /metrics answers while the server serves
      (503 stopping only after a SIGTERM); after the settle herd_peer_up
      is 1 for exactly the configured neighbours;
  (m) the metrics port survives slowloris, huge heads, POST bodies and
      1,100 connections at once, answering 431/405 as promised;
  (n) every WHATSAT answer is one legacy-shaped JSON object, in order,
      whichever provider (fake Google or fake Overpass, seed-chosen).

The seed is printed first; a failure prints the seed, the schedule and
each violated rule with the exact client/server/record, and exits 1.
Python 3 standard library, plus python3-prometheus-client (scrape.py).
"""

import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from proxy import LinkProxy, rst_close  # noqa: E402
from fake_places import FakePlaces  # noqa: E402
from fake_overpass import FakeOverpass  # noqa: E402
from scrape import (METRICS_KINDS, Scraper, check_final,  # noqa: E402
                    check_scrapes, hostile_metrics)
from procs import alive, gone  # noqa: E402
from topology import DEFAULT_TOPOLOGY  # noqa: E402

TOPOLOGY = DEFAULT_TOPOLOGY
NAMES = list(TOPOLOGY)
CLIENT_IDS = ["c%d" % i for i in range(6)]
KEY = "chaos-key"
OP_TIMEOUT = 5.0          # every client socket operation
AT_RE = re.compile(
    rb"^AT (\S+) ([+-]\d+\.\d{9}) (\S+) ([+-]\d+(?:\.\d+)?[+-]\d+(?:\.\d+)?)"
    rb" (\d+(?:\.\d+)?)$")
SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
    r"SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer)")
# Slack around an event when asking whether it explains what was seen.
EXCUSE_BEFORE = 1.0
EXCUSE_AFTER = 5.0
# Events that stop a server (and so close its clients, change its pid).
STOPS = ("kill", "term", "isolate", "backlog", "crash")
# Events that kill -9 servers (so may drop an IAMAT they had not answered).
KILLS = ("kill", "isolate", "crash")
FSYNC = ("always", "everysec", "no")
PLACES = ("google", "overpass")
# Events that SIGTERM a server (its /healthz may say 503 stopping).
SIGTERMS = ("term", "backlog")
LEGACY_STATUS = ("OK", "ZERO_RESULTS", "OVER_QUERY_LIMIT", "REQUEST_DENIED",
                 "INVALID_REQUEST", "UNKNOWN_ERROR")


def links_of(topo):
    """The undirected links of a topology, as sorted name pairs."""
    out = set()
    for a, nbrs in topo.items():
        for b in nbrs:
            out.add(tuple(sorted((a, b))))
    return sorted(out)


def topo_from_links(links):
    """A topology (each link listed once, by its first name) from links."""
    topo = {n: [] for n in NAMES}
    for a, b in links:
        topo[a].append(b)
    return topo


def connected(links):
    """True when links connect every server."""
    seen, todo = set(), [NAMES[0]]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo += [b if a == n else a for a, b in links if n in (a, b)]
    return len(seen) == len(NAMES)


def free_port(addrs):
    """A TCP port free on every address of addrs."""
    for _ in range(200):
        s = socket.socket()
        s.bind((addrs[0], 0))
        port = s.getsockname()[1]
        others = []
        try:
            for a in addrs[1:]:
                o = socket.socket()
                others.append(o)
                o.bind((a, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
            for o in others:
                o.close()
    raise RuntimeError("no free port")


class Journal:
    """The run's shared record: events, sends, acks, observations,
    violations; every method is thread-safe."""

    def __init__(self, t0):
        self.t0 = t0
        self.lock = threading.Lock()
        self.events = []          # (t, end, kind, servers, links, text)
        self.sent = {}            # (cid, time) -> (server, location)
        self.acked = []           # (t, cid, time, server)
        self.unanswered = []      # (t_send, t_close, cid, time, server)
        self.obs = []             # (t_start, t_end, server, cid, time);
        #                           time None: the server held nothing
        self.client_closes = []   # (t_open, t_close, server, why)
        self.link_closes = []     # (t, link, closer, why)
        self.violations = []
        self.pid_changes = []     # (t, server, old, new)
        self.ack_times = []       # (t_send, t_reply, server) of each ack
        self.mattacks = []        # (start, end, server): metrics port
        self.info = []            # lines for the report, not violations
        self.whatsat_status = collections.Counter()
        # Journal time of a wall-clock time w: w - self.wall_off.
        self.wall_off = time.time() - time.monotonic() + t0

    def now(self):
        """Seconds since the start of the run."""
        return time.monotonic() - self.t0

    def event(self, kind, text, servers=(), links=(), end=None):
        """Log an event; returns it so that its end can be set later."""
        t = self.now()
        ev = [t, end if end is not None else t, kind, tuple(servers),
              tuple(links), text]
        with self.lock:
            self.events.append(ev)
        print("  %7.2f %s" % (t, text), flush=True)
        return ev

    def end(self, ev):
        """Mark ev as over now."""
        with self.lock:
            ev[1] = self.now()

    def observe(self, t_start, server, cid, t):
        """Note what server held for cid in a reply that was asked for at
        t_start (t None: nothing, WHATSAT answered "?")."""
        with self.lock:
            self.obs.append((t_start, self.now(), server, cid, t))

    def violation(self, rule, text):
        """Record a broken rule."""
        with self.lock:
            self.violations.append((rule, text))

    def excused(self, t, servers=(), links=(), kinds=None):
        """Is there an event touching servers or links (or a reload) near
        t that explains what was seen then?"""
        with self.lock:
            for ev in self.events:
                start, end, kind, evs, evl = ev[0], ev[1], ev[2], ev[3], ev[4]
                if kinds is not None and kind not in kinds:
                    continue
                if not start - EXCUSE_BEFORE <= t <= end + EXCUSE_AFTER:
                    continue
                if kind == "reload" and kinds is None:
                    return True
                if set(evs) & set(servers) or set(evl) & set(links):
                    return True
        return False


class Herd:
    """The herd under test: INI, herdctl, the proxy, fake places."""

    def __init__(self, tmp, bindir, settings, journal):
        self.tmp = tmp
        self.herdctl = os.path.join(bindir, "herdctl")
        self.j = journal
        self.settings = settings
        self.addr = {}
        for k, name in enumerate(NAMES):
            self.addr[name] = ("127.0.0.%d" % (2 * k + 3),
                               "127.0.0.%d" % (2 * k + 2))
        self.port = {n: free_port(list(self.addr[n])) for n in NAMES}
        # Each server's metrics port, on its own bind address.
        self.mport = {n: free_port([self.addr[n][1]]) for n in NAMES}
        self.links = links_of(TOPOLOGY)
        self.ini = os.path.join(tmp, "herd.ini")
        self.run_dir = os.path.join(tmp, "run")
        self.log_path = os.path.join(tmp, "herd.log")
        self.env = dict(os.environ)
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.pop("HERD_CONFIG", None)
        self.env.pop("HERD_RUN_DIR", None)
        self.env.pop("HERD_DATA_DIR", None)
        # Server NAME keeps its records in data/NAME (herdctl's data_dir).
        self.data_dir = os.path.join(tmp, "data")
        # Sanitizer builds (make SANITIZE=1): reports go to files here.
        self.asan_dir = os.path.join(tmp, "asan")
        os.mkdir(self.asan_dir)
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            self.env[var] = ":".join(filter(None, [
                self.env.get(var), "log_path=%s/%s" % (self.asan_dir,
                                                       var.lower())]))
        self.sup_pid = None
        self.pids = set()         # every pid the run ever saw
        self.cur_pid = {}
        # The fake places provider of the run's api (rule n).
        if settings["places"] == "overpass":
            self.places = FakeOverpass().start()
        else:
            self.places = FakePlaces(key=KEY).start()
        self.proxy = LinkProxy(
            {n: (self.addr[n][0], self.addr[n][1], self.port[n])
             for n in NAMES}, on_close=self._link_closed)
        self.syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.syslog.bind(os.path.join(tmp, "log.sock"))
        self.syslog.settimeout(0.2)
        self.syslog_on = True
        self.syslog_thread = threading.Thread(target=self._syslog_run,
                                              daemon=True)
        self.syslog_thread.start()
        self.write()

    def _syslog_run(self):
        """Drain the nodes' syslog datagrams into herd.log."""
        with open(self.log_path, "ab") as f:
            while self.syslog_on:
                try:
                    b = self.syslog.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                f.write(b"%.3f " % self.j.now() + b + b"\n")

    def metrics_addr(self, name):
        """Where name's metrics port listens."""
        return (self.addr[name][1], self.mport[name])

    def _link_closed(self, t, link, closer, why):
        """The proxy saw a node close an authenticated link connection."""
        with self.j.lock:
            self.j.link_closes.append((t - self.j.t0, link, closer, why))

    def write(self):
        """Write the INI for the current link set."""
        s = self.settings
        out = ["[herd]", "run_dir = %s" % self.run_dir,
               "log_socket = %s" % os.path.join(self.tmp, "log.sock"),
               "log_requests = no",
               "reconcile_s = %d" % s["reconcile_s"],
               "line_timeout_s = %d" % s["line_timeout_s"],
               "data_dir = %s" % self.data_dir, "persist = yes",
               "fsync = %s" % s["fsync"], "",
               "[places]", "timeout_ms = 4000", "cache_ttl_s = 30"]
        if s["places"] == "overpass":
            out += ["api = overpass", "url = %s" % self.places.url,
                    "user_agent = herd-chaos/1.0 (tests/chaos)",
                    "backoff_s = 2", ""]
        else:
            out += ["api = new", "url = %s" % self.places.url_new,
                    "key = %s" % KEY, ""]
        topo = topo_from_links(self.links)
        for n in NAMES:
            out += ["[server:%s]" % n, "port = %d" % self.port[n],
                    "host = %s" % self.addr[n][0],
                    "bind = %s" % self.addr[n][1],
                    "metrics_port = %d" % self.mport[n],
                    "metrics_bind = %s" % self.addr[n][1]]
            if topo[n]:
                out.append("neighbors = %s" % " ".join(topo[n]))
            out.append("")
        tmp = self.ini + ".new"
        with open(tmp, "w") as f:
            f.write("\n".join(out))
        os.rename(tmp, self.ini)

    def ctl(self, *args, timeout=60):
        """Run herdctl; returns the CompletedProcess (never raises on exit
        status; a timeout gives returncode None)."""
        try:
            return subprocess.run([self.herdctl, "-c", self.ini] +
                                  list(args), capture_output=True,
                                  text=True, env=self.env, timeout=timeout,
                                  cwd=self.tmp)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, None, "", "timeout")

    def start(self):
        """herdctl start; remember the supervisor's pid."""
        p = self.ctl("start")
        m = re.search(r"supervisor pid (\d+)", p.stdout or "")
        if m:
            self.sup_pid = int(m.group(1))
            self.pids.add(self.sup_pid)
        if p.returncode != 0:
            raise RuntimeError("herdctl start failed: %r %r"
                               % (p.stdout, p.stderr))
        self.status()

    def status(self):
        """herdctl status --json as {name: server}; also notes pids."""
        p = self.ctl("status", "--json", timeout=20)
        if p.returncode not in (0, 3):
            return None
        try:
            servers = {s["name"]: s for s in json.loads(p.stdout)["servers"]}
        except (ValueError, KeyError, TypeError):
            return None
        for name, s in servers.items():
            pid = s.get("pid") or 0
            if pid:
                self.pids.add(pid)
                old = self.cur_pid.get(name)
                if old and old != pid:
                    with self.j.lock:
                        self.j.pid_changes.append((self.j.now(), name, old,
                                                   pid))
                self.cur_pid[name] = pid
        return servers

    def signal(self, name, sig):
        """Send sig to name's current worker."""
        pid = self.cur_pid.get(name)
        if pid:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def close(self):
        """Stop everything the run started, by pid."""
        if self.sup_pid and alive(self.sup_pid):
            self.ctl("stop", timeout=30)
        if self.sup_pid and alive(self.sup_pid):
            os.kill(self.sup_pid, signal.SIGKILL)
        for pid in self.pids:
            if pid != self.sup_pid and alive(pid):
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p)
                                                  for p in self.pids):
            time.sleep(0.1)
        survivors = [p for p in self.pids if alive(p)]
        for pid in survivors:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proxy.stop()
        self.places.stop()
        self.syslog_on = False
        self.syslog_thread.join(2)
        self.syslog.close()
        return survivors

    def sanitizer_reports(self):
        """Sanitizer reports that any process of the run wrote."""
        out = []
        for f in sorted(os.listdir(self.asan_dir)):
            with open(os.path.join(self.asan_dir, f), errors="replace") as fh:
                text = fh.read()
            if SANITIZER_RE.search(text):
                out.append("%s:\n%s" % (f, text[-3000:]))
        return out


class Conn:
    """A client connection to one server with bounded line reads."""

    def __init__(self, herd, name):
        self.name = name
        self.sock = socket.create_connection(
            (herd.addr[name][1], herd.port[name]), timeout=OP_TIMEOUT)
        self.buf = b""
        self.opened = herd.j.now()

    def readline(self):
        """One line; EOFError when the server closed, socket.timeout."""
        while b"\n" not in self.buf:
            b = self.sock.recv(65536)
            if not b:
                raise EOFError("closed")
            self.buf += b
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def close(self):
        """Close our side."""
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with an RST, so that a partial line we leave behind is
        never answered as a final line at EOF."""
        rst_close(self.sock)


class Clients:
    """Well-behaved clients: IAMATs with unique timestamps, WHATSAT polls,
    one that always ends its writes mid-line, and pipelined probes."""

    def __init__(self, herd, rng, journal, deadline):
        self.h = herd
        self.rng = rng
        self.j = journal
        self.deadline = deadline
        self.tlock = threading.Lock()
        self.last_ns = 0
        self.probe_n = 0
        self.running = True
        self.threads = []
        self.probe_target = None  # a server to probe hard just now

    def stamp(self):
        """A unique, increasing time_sent."""
        with self.tlock:
            t = max(self.last_ns + 1, time.time_ns())
            self.last_ns = t
        return "%d.%09d" % divmod(t, 10 ** 9)

    def fresh_id(self, prefix):
        """A client id no one used before."""
        with self.tlock:
            self.probe_n += 1
            return "%s%d" % (prefix, self.probe_n)

    def location(self, rng):
        """A random ISO 6709 location."""
        return "%+.6f%+.6f" % (rng.uniform(-80, 80), rng.uniform(-170, 170))

    def new_iamat(self, rng, server, cid):
        """Register and return the bytes of a fresh IAMAT line."""
        t = self.stamp()
        loc = self.location(rng)
        with self.j.lock:
            self.j.sent[(cid, t)] = (server, loc)
        return (cid, t, loc), ("IAMAT %s %s %s" % (cid, loc, t)).encode()

    def check_at(self, line, server, t_start, what):
        """Check an AT line seen in a reply (rule b) and note it as an
        observation of server's store (rule c); returns (cid, time)."""
        m = AT_RE.match(line)
        if not m:
            self.j.violation("b", "%s from %s: not an AT line: %r"
                             % (what, server, line))
            return None
        origin, _diff, cid, loc, t = (x.decode() for x in m.groups())
        with self.j.lock:
            s = self.j.sent.get((cid, t))
        if s is None or s[1] != loc or s[0] != origin:
            self.j.violation("b", "%s from %s returned a record no client "
                             "sent: %r (sent: %r)" % (what, server, line, s))
            return None
        self.j.observe(t_start, server, cid, t)
        return cid, t

    def closed_by_server(self, conn, why):
        """Note that a server closed one of our connections."""
        with self.j.lock:
            self.j.client_closes.append((conn.opened, self.j.now(),
                                         conn.name, why))

    def worker(self, k):
        """IAMATs and WHATSATs to random servers on persistent
        connections, a few per second."""
        rng = random.Random(self.rng.random())
        conn = None
        while self.running and time.monotonic() < self.deadline:
            time.sleep(rng.uniform(0.05, 0.25))
            try:
                if conn is None or rng.random() < 0.1:
                    if conn:
                        conn.close()
                    conn = None
                    conn = Conn(self.h, rng.choice(NAMES))
                cid = rng.choice(CLIENT_IDS)
                if rng.random() < 0.1:
                    # A client seen once: only catch-up can bring its
                    # record to a server that missed the flood.
                    cid = self.fresh_id("u")
                    self.one_iamat(conn, rng, cid)
                elif rng.random() < 0.7:
                    self.one_iamat(conn, rng, cid)
                else:
                    self.one_whatsat(conn, cid)
            except (EOFError, ConnectionResetError) as e:
                if conn is not None:
                    self.closed_by_server(conn, type(e).__name__)
                    conn.close()
                conn = None
            except OSError:
                if conn:
                    conn.close()
                conn = None

    def one_iamat(self, conn, rng, cid):
        """Send one IAMAT and account for its reply."""
        rec, line = self.new_iamat(rng, conn.name, cid)
        t0 = self.j.now()
        conn.sock.sendall(line + b"\n")
        try:
            reply = conn.readline()
        except (EOFError, ConnectionResetError):
            with self.j.lock:
                self.j.unanswered.append((t0, self.j.now(), rec[0], rec[1],
                                          conn.name))
            raise
        self.account(reply, rec, conn.name, t0)

    def account(self, reply, rec, server, t0):
        """Rules for an IAMAT reply: our record or a newer stored one."""
        cid, t, _loc = rec
        got = self.check_at(reply, server, t0, "IAMAT reply")
        if got is None:
            return
        if got == (cid, t):
            origin = reply.split()[1].decode()
            if origin != server:
                self.j.violation("b", "IAMAT to %s answered as %s: %r"
                                 % (server, origin, reply))
            with self.j.lock:
                self.j.acked.append((t0, cid, t, server))
                self.j.ack_times.append((t0, self.j.now(), server))
        elif got[0] != cid or float(got[1]) < float(t):
            self.j.violation("b", "IAMAT %s %s to %s got %r"
                             % (cid, t, server, reply))

    def check_json(self, line, server, what):
        """Rule (n): the second line of a WHATSAT reply is one
        legacy-shaped Nearby Search answer, whatever the provider."""
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict) or \
                obj.get("status") not in LEGACY_STATUS or \
                not isinstance(obj.get("results", []), list) or \
                (obj.get("status") == "OK" and
                 not isinstance(obj.get("results"), list)):
            self.j.violation("n", "%s from %s: not one legacy-shaped JSON "
                             "answer: %r" % (what, server, line[:200]))
            return
        with self.j.lock:
            self.j.whatsat_status[obj["status"]] += 1

    def one_whatsat(self, conn, cid):
        """Send one WHATSAT and check the AT line of its reply."""
        t0 = self.j.now()
        conn.sock.sendall(b"WHATSAT %s 10 1\n" % cid.encode())
        first = conn.readline()
        if first.startswith(b"? "):
            self.j.observe(t0, conn.name, cid, None)   # holds nothing
            return
        self.check_at(first, conn.name, t0, "WHATSAT reply")
        self.check_json(conn.readline(), conn.name, "WHATSAT reply")
        if conn.readline() != b"":
            self.j.violation("b", "WHATSAT reply from %s does not end in an"
                             " empty line" % conn.name)

    def midline(self):
        """A client whose every write ends in the middle of a line: the
        rest of the last line, then the start of the next, every 0.2 s."""
        rng = random.Random(self.rng.random())
        conn = None
        pending = []
        carry = b""
        while self.running and time.monotonic() < self.deadline:
            try:
                if conn is None:
                    conn = Conn(self.h, rng.choice(NAMES))
                    pending, carry = [], b""
                rec, line = self.new_iamat(rng, conn.name,
                                           rng.choice(CLIENT_IDS))
                line += b"\n"
                cut = rng.randint(5, len(line) - 5)
                conn.sock.sendall(carry + line[:cut])
                carry = line[cut:]
                pending.append((rec, self.j.now()))
                if len(pending) > 1:
                    rec0, t0 = pending.pop(0)
                    try:
                        reply = conn.readline()
                    except (EOFError, ConnectionResetError):
                        with self.j.lock:
                            self.j.unanswered.append(
                                (t0, self.j.now(), rec0[0], rec0[1],
                                 conn.name))
                        raise
                    self.account(reply, rec0, conn.name, t0)
                time.sleep(0.2)
            except (EOFError, ConnectionResetError) as e:
                if conn is not None:
                    self.closed_by_server(conn, "mid-line client: %s"
                                          % type(e).__name__)
                    conn.abort()
                conn = None
            except OSError:
                if conn:
                    conn.abort()
                conn = None
        if conn:
            conn.abort()

    def prober(self):
        """While probe_target is set: pipelined WHATSAT + IAMAT (a fresh
        client id each) to it, so a stop finds WHATSATs in flight with
        lines queued behind them."""
        rng = random.Random(self.rng.random())
        while self.running and time.monotonic() < self.deadline:
            target = self.probe_target
            if target is None:
                time.sleep(0.05)
                continue
            cid = self.fresh_id("probe")
            try:
                conn = Conn(self.h, target)
            except OSError:
                time.sleep(0.05)
                continue
            rec, line = self.new_iamat(rng, target, cid)
            t0 = self.j.now()
            wcid = rng.choice(CLIENT_IDS)
            try:
                conn.sock.sendall(b"WHATSAT %s 10 1\n%s\n"
                                  % (wcid.encode(), line))
                first = conn.readline()
                if first.startswith(b"? "):
                    self.j.observe(t0, target, wcid, None)
                else:
                    self.check_at(first, target, t0, "WHATSAT reply")
                    self.check_json(conn.readline(), target,
                                    "pipelined WHATSAT reply")
                    if conn.readline() != b"":
                        self.j.violation("n", "pipelined WHATSAT reply from"
                                         " %s does not end in an empty "
                                         "line" % target)
                self.account(conn.readline(), rec, target, t0)
            except (EOFError, ConnectionResetError):
                with self.j.lock:
                    self.j.unanswered.append((t0, self.j.now(), cid, rec[1],
                                              target))
            except OSError:
                pass
            conn.close()
            time.sleep(0.02)

    def start(self, n_workers, midline):
        """Start the client threads."""
        targets = [lambda k=k: self.worker(k) for k in range(n_workers)]
        targets.append(self.prober)
        if midline:
            targets.append(self.midline)
        for fn in targets:
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        """Stop the client threads (each op is bounded by OP_TIMEOUT)."""
        self.running = False
        for t in self.threads:
            t.join(3 * OP_TIMEOUT)


def hostile(herd, rng, kind, target):
    """One burst of hostile traffic of kind at target, bounded in time;
    returns what it found on the spot as (rule, text); rule "close" is a
    connection the server closed (judged later, rule g)."""
    addr = (herd.addr[target][1], herd.port[target])
    bad = []
    nbrs = [b if a == target else a for a, b in herd.links if target in (a, b)]
    end = time.monotonic() + rng.uniform(1.0, 3.0)
    socks = []
    try:
        if kind == "hello":
            # Unauthenticated HELLOs claiming to be a live neighbour.
            frm = rng.choice(nbrs) if nbrs else NAMES[0]
            while time.monotonic() < end:
                try:
                    s = socket.create_connection(addr, timeout=1)
                    s.sendall(("HELLO herd/1 %s %s %032x\n"
                               % (frm, target, rng.getrandbits(128))).encode())
                    if rng.random() < 0.5:
                        s.sendall(b"AUTH %064x\n" % rng.getrandbits(256))
                    socks.append(s)
                    if len(socks) > 20:
                        socks.pop(0).close()
                except OSError:
                    pass
                time.sleep(0.1)
        elif kind in ("garbage", "peerlines"):
            s = socket.create_connection(addr, timeout=OP_TIMEOUT)
            socks.append(s)
            for _ in range(rng.randint(5, 30)):
                if kind == "garbage":
                    line = bytes(rng.randrange(33, 256)
                                 for _ in range(rng.randint(1, 80)))
                else:
                    cid = rng.choice(CLIENT_IDS)
                    line = rng.choice([
                        "AT %s +0.000000001 %s +1.0+1.0 9999999999.5"
                        % (target, cid),
                        "SYNCED 7", "DIGEST 1 0123456789abcdef",
                        "AUTH %064x" % rng.getrandbits(256),
                        "WELCOME herd/1 %s %032x %064x"
                        % (target, rng.getrandbits(128),
                           rng.getrandbits(256)),
                        "AT %s +0.1 %s +1.0+1.0 %s" % (
                            rng.choice(NAMES), cid, "9999999999")]).encode()
                s.sendall(line + b"\n")
                buf = b""
                while b"\n" not in buf:
                    b = s.recv(65536)
                    if not b:
                        bad.append(("close", "hostile %s: closed after %r"
                                    % (kind, line)))
                        return bad
                    buf += b
                if kind == "peerlines" and not buf.startswith(b"? "):
                    bad.append(("b", "%s answered the peer line %r on a "
                                "client connection with %r"
                                % (target, line, buf)))
        elif kind == "connflood":
            for _ in range(rng.randint(50, 200)):
                try:
                    socks.append(socket.create_connection(addr, timeout=1))
                except OSError:
                    break
            time.sleep(max(0.0, end - time.monotonic()))
        elif kind == "slowreader":
            s = socket.create_connection(addr, timeout=OP_TIMEOUT)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            socks.append(s)
            s.setblocking(False)
            lines = b"WHATSAT %s 10 20\n" % rng.choice(CLIENT_IDS).encode()
            lines = lines * 200
            try:
                while time.monotonic() < end:
                    s.send(lines)
                    time.sleep(0.1)
            except OSError:
                pass
            time.sleep(max(0.0, end - time.monotonic()))
    except OSError:
        pass
    finally:
        for s in socks:
            rst_close(s) if rng.random() < 0.5 else s.close()
    return bad


class Schedule:
    """The seeded list of fault events and the code that performs them."""

    KINDS = [("blackhole", 4), ("reset", 2), ("delay", 2), ("throttle", 2),
             ("kill", 2), ("sigstop", 2), ("restart", 3), ("isolate", 3),
             ("reload", 2), ("hostile", 5), ("backlog", 1), ("crash", 2),
             ("mhostile", 3), ("places", 2)]

    def __init__(self, rng, seconds, only=None):
        self.rng = rng
        self.plan = []
        t = 2.0
        kinds = [k for k, w in self.KINDS for _ in range(w)
                 if not only or k in only]
        while t < seconds - 3:
            kind = rng.choice(kinds)
            self.plan.append((t, kind, rng.random()))
            t += rng.uniform(1.0, 4.0)

    def describe(self):
        """The plan as text."""
        return "\n".join("  %6.2f %s" % (t, k) for t, k, _ in self.plan)


class Chaos:
    """One run: set up, inject the schedule, heal, check, tear down."""

    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.rng = random.Random(self.seed)
        s = self.rng
        self.settings = {
            "reconcile_s": 0 if s.random() < 0.75 else s.randint(3, 10),
            "line_timeout_s": 2 if s.random() < 0.5 else 10,
            "workers": s.randint(2, 4),
            "midline": s.random() < 0.7,
            "fsync": s.choice(FSYNC),
        }
        for kv in (args.set or "").split(","):
            if kv.strip():
                k, _, v = (x.strip() for x in kv.partition("="))
                if k == "places":
                    continue        # set below, after the schedule's draw
                if k not in self.settings:
                    raise SystemExit("chaos: unknown setting %r" % k)
                if k == "fsync" and v not in FSYNC:
                    raise SystemExit("chaos: fsync is one of %s"
                                     % ", ".join(FSYNC))
                self.settings[k] = v if k == "fsync" else int(v)
        self.schedule = Schedule(random.Random(s.random()), args.seconds,
                                 args.kinds.split(",") if args.kinds else None)
        self.settings["places"] = "overpass" if s.random() < 0.4 \
            else "google"
        for kv in (args.set or "").split(","):
            k, _, v = (x.strip() for x in kv.partition("="))
            if k == "places":
                if v not in PLACES:
                    raise SystemExit("chaos: places is one of %s"
                                     % ", ".join(PLACES))
                self.settings[k] = v
        self.threads = []
        self.busy = set()
        self.busy_lock = threading.Lock()
        # Servers left alone after an isolate, so that no later fault
        # repairs (by a fresh link-up) what its catch-up must repair.
        self.quiet = {}

    def bg(self, fn, *a):
        """Run fn(*a) in a daemon thread (events overlap in time)."""
        t = threading.Thread(target=self._guard, args=(fn,) + a, daemon=True)
        t.start()
        self.threads.append(t)

    def _guard(self, fn, *a):
        """Run fn; a crash of the harness itself is a failure too."""
        try:
            fn(*a)
        except Exception:
            self.j.violation("harness", traceback.format_exc())

    def claim(self, names):
        """Reserve servers for one event; False when one is busy (two
        stops of one server at once would only confuse herdctl)."""
        with self.busy_lock:
            if self.busy & set(names):
                return False
            self.busy |= set(names)
            return True

    def release(self, names):
        """End a claim()."""
        with self.busy_lock:
            self.busy -= set(names)

    def pick_server(self, r):
        """A random server that no isolate is watching just now (nor its
        neighbours: a restart of one would repair by a fresh link-up)."""
        now = time.monotonic()
        calm = [n for n in NAMES if self.quiet.get(n, 0) < now]
        ok = [n for n in calm if all(b in calm for b in self.nbrs(n))]
        return r.choice(ok) if ok else None

    def pick_link(self, r):
        """A random link whose servers no isolate is watching just now."""
        now = time.monotonic()
        ok = [l for l in self.h.links
              if all(self.quiet.get(n, 0) < now for n in l)]
        return r.choice(ok) if ok else (None, None)

    def nbrs(self, name):
        """Current neighbours of name."""
        return [b if a == name else a for a, b in self.h.links
                if name in (a, b)]

    def wait_pid_change(self, name, old, timeout=20):
        """Wait until name runs with a pid other than old."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.h.status()
            if st and st[name]["state"] == "running" and \
                    st[name]["pid"] not in (0, old):
                return True
            time.sleep(0.2)
        return False

    # -- the events ----------------------------------------------------

    def ev_blackhole(self, r):
        """Blackhole one link both ways (no FIN) for a while, then heal."""
        a, b = self.pick_link(r)
        if a is None:
            return
        dur = r.uniform(0.5, 6.0)
        how = r.choice(["resume", "reset", "zombie"])
        ev = self.j.event("link", "blackhole %s-%s %.1fs, heal by %s"
                          % (a, b, dur, how), links=[(a, b)], end=1e9)
        self.h.proxy.set_link(a, b, "blackhole")
        time.sleep(dur)
        self.h.proxy.heal(a, b, how, zombie_s=r.uniform(1, 6))
        self.j.end(ev)
        ev[1] += 6

    def ev_reset(self, r):
        """RST every connection of one link."""
        a, b = self.pick_link(r)
        if a is None:
            return
        self.j.event("link", "reset %s-%s" % (a, b), links=[(a, b)])
        self.h.proxy.reset_link(a, b)

    def ev_delay(self, r):
        """Delay one link for a while."""
        a, b = self.pick_link(r)
        if a is None:
            return
        d, dur = r.uniform(0.05, 0.5), r.uniform(1, 6)
        ev = self.j.event("link", "delay %s-%s %dms %.1fs"
                          % (a, b, d * 1000, dur), links=[(a, b)], end=1e9)
        self.h.proxy.set_link(a, b, "delay", delay=d)
        time.sleep(dur)
        self.h.proxy.set_link(a, b, "ok")
        self.j.end(ev)

    def ev_throttle(self, r):
        """Throttle one link for a while."""
        a, b = self.pick_link(r)
        if a is None:
            return
        rate, dur = r.choice([200, 1000, 5000]), r.uniform(1, 6)
        ev = self.j.event("link", "throttle %s-%s %dB/s %.1fs"
                          % (a, b, rate, dur), links=[(a, b)], end=1e9)
        self.h.proxy.set_link(a, b, "throttle", rate=rate)
        time.sleep(dur)
        self.h.proxy.set_link(a, b, "ok")
        self.j.end(ev)

    def on_server(self, r, body, also=()):
        """The prologue and epilogue of every single-server event: pick a
        server (none calm: skip), claim it and also (busy: skip), run
        body(name), release."""
        name = self.pick_server(r)
        if name is None:
            return
        names = [name] + list(also)
        if not self.claim(names):
            return
        try:
            body(name)
        finally:
            self.release(names)

    def ev_kill(self, r):
        """kill -9 one server; herdctl restarts it from its data directory.
        Half the time its links are cut first and stay cut until the new
        process has answered for what the old one held: those answers
        can only come from its files (rule c)."""
        self.on_server(r, lambda name: self.kill(r, name))

    def kill(self, r, name):
        """The body of ev_kill."""
        cut = self.nbrs(name) if r.random() < 0.5 else []
        links = [tuple(sorted((name, b))) for b in cut]
        old = self.h.cur_pid.get(name)
        ev = self.j.event("kill", "kill -9 %s (pid %s)%s" % (
            name, old, ", its links cut until it answered from disk"
            if cut else ""), servers=[name], links=links, end=1e9)
        for b in cut:
            self.h.proxy.set_link(name, b, "blackhole")
        self.h.signal(name, signal.SIGKILL)
        self.wait_pid_change(name, old)
        if cut:
            self.probe(name, "WHATSAT after kill -9")
            how = r.choice(["resume", "reset", "zombie"])
            for b in cut:
                self.h.proxy.heal(name, b, how, zombie_s=r.uniform(1, 4))
        self.j.end(ev)
        if cut:
            ev[1] += 4

    def ev_sigstop(self, r):
        """SIGSTOP one server for a while, then SIGCONT."""
        def body(name):
            dur = r.uniform(0.3, 3.0)
            ev = self.j.event("stop", "SIGSTOP %s %.1fs" % (name, dur),
                              servers=[name], end=1e9)
            self.h.signal(name, signal.SIGSTOP)
            time.sleep(dur)
            self.h.signal(name, signal.SIGCONT)
            self.j.end(ev)
        self.on_server(r, body)

    def ev_restart(self, r):
        """herdctl restart (SIGTERM) one server while slow WHATSATs with
        IAMATs behind them are in flight on it."""
        def body(name):
            delay = r.uniform(0.3, 1.5)
            old = self.h.cur_pid.get(name)
            ev = self.j.event("term", "restart %s (SIGTERM) with places delay "
                              "%.1fs" % (name, delay), servers=[name], end=1e9)
            self.h.places.set_mode("ok", delay_s=delay)
            self.clients.probe_target = name
            time.sleep(r.uniform(0.3, 1.0))
            p = self.h.ctl("restart", name, timeout=40)
            self.clients.probe_target = None
            self.h.places.set_mode("ok", delay_s=0)
            if p.returncode != 0:
                self.j.violation("d", "herdctl restart %s: exit %s: %s %s"
                                 % (name, p.returncode, p.stdout, p.stderr))
            self.wait_pid_change(name, old)
            self.j.end(ev)
        self.on_server(r, body, also=["places"])

    def ev_isolate(self, r):
        """Partition one server from every neighbour without FIN, let the
        others take records, kill -9 it (a host reboot), let it re-dial
        into the silence, then heal: often as zombies, so the neighbours'
        old connections still look alive when it comes back."""
        self.on_server(r, lambda name: self.isolate(r, name))

    def isolate(self, r, name):
        """The body of ev_isolate."""
        self.quiet[name] = time.monotonic() + 60
        nb = self.nbrs(name)
        how = r.choice(["zombie", "zombie", "resume", "reset"])
        old = self.h.cur_pid.get(name)
        ev = self.j.event("isolate", "isolate %s from %s, kill -9, heal "
                          "by %s" % (name, ",".join(nb), how),
                          servers=[name],
                          links=[tuple(sorted((name, b))) for b in nb],
                          end=1e9)
        for b in nb:
            self.h.proxy.set_link(name, b, "blackhole")
        time.sleep(r.uniform(0.5, 3.0))
        self.h.signal(name, signal.SIGKILL)
        self.wait_pid_change(name, old)
        time.sleep(r.uniform(0.2, 2.0))
        for b in nb:
            self.h.proxy.heal(name, b, how, zombie_s=r.uniform(2, 8))
        self.check_caught_up(name, self.j.now())
        self.j.end(ev)
        ev[1] += 8
        self.quiet[name] = time.monotonic() + 10

    def ev_backlog(self, r):
        """Cut every link of a server, send it big IAMATs until floods
        queue up inside the node (the kernel buffers are full), SIGTERM
        it and heal the links at once: a clean stop has time to write
        the floods it acknowledged (rule a)."""
        self.on_server(r, lambda name: self.backlog(r, name))

    def ev_crash(self, r):
        """A full-herd crash: kill -9 every worker at once (and, half the
        time, the supervisor first: then `herdctl start` again), with
        every link cut half the time until each new process has answered
        for what its predecessor held (from its files only, rule c)."""
        now = time.monotonic()
        if any(t > now for t in self.quiet.values()):
            return
        names = NAMES + ["reload"]
        deadline = now + 10
        while not self.claim(names):
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)
        try:
            self.crash(r)
        finally:
            self.release(names)

    def crash(self, r):
        """The body of ev_crash."""
        sup, cut = r.random() < 0.5, r.random() < 0.5
        links = list(self.h.links)
        old = dict(self.h.cur_pid)
        ev = self.j.event("crash", "crash: kill -9 %severy worker at once%s,"
                          " then restart all" % (
                              "the supervisor and " if sup else "",
                              ", every link cut until each answered from "
                              "disk" if cut else ""),
                          servers=NAMES, links=links, end=1e9)
        if cut:
            for a, b in links:
                self.h.proxy.set_link(a, b, "blackhole")
            time.sleep(r.uniform(0.2, 1.5))
        pids = [self.h.sup_pid] if sup else []
        pids += [old[n] for n in NAMES if old.get(n)]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if sup:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and \
                    not all(gone(p) for p in pids):
                time.sleep(0.05)
            try:
                self.h.start()
            except RuntimeError as e:
                self.j.violation("d", "after the crash: %s" % e)
        for n in NAMES:
            self.wait_pid_change(n, old.get(n))
        if cut:
            for n in NAMES:
                self.probe(n, "WHATSAT after the crash")
            how = r.choice(["resume", "reset", "zombie"])
            for a, b in links:
                self.h.proxy.heal(a, b, how, zombie_s=r.uniform(1, 4))
        self.j.end(ev)
        ev[1] += 4

    def probe(self, name, what):
        """WHATSAT name for every steady client id and a sample of the
        once-seen ones it was seen holding; each answer is an observation
        (rules b and c)."""
        with self.j.lock:
            seen = sorted({cid for _a, _b, s, cid, _t in self.j.obs
                           if s == name and cid not in CLIENT_IDS})
        ids = CLIENT_IDS + random.Random(self.j.now()).sample(
            seen, min(20, len(seen)))
        try:
            conn = Conn(self.h, name)
            for cid in ids:
                self.clients.one_whatsat(conn, cid)
            conn.close()
        except (OSError, EOFError) as e:
            self.j.violation("d", "%s, just restarted: %s: %r"
                             % (name, what, e))

    def backlog(self, r, name):
        """The body of ev_backlog."""
        nb = self.nbrs(name)
        n, size = r.randint(600, 900), r.randint(5000, 7000)
        old = self.h.cur_pid.get(name)
        ev = self.j.event("backlog", "backlog %s: cut %s, %d IAMATs of %d "
                          "bytes, SIGTERM, heal" % (name, ",".join(nb), n,
                                                    size),
                          servers=[name], end=1e9,
                          links=[tuple(sorted((name, b))) for b in nb])
        for b in nb:
            self.h.proxy.set_link(name, b, "blackhole")
        time.sleep(0.2)
        acked = []
        try:
            conn = Conn(self.h, name)
            for k in range(n):
                cid = self.clients.fresh_id("big") + "-" + "x" * size
                rec, line = self.clients.new_iamat(r, name, cid)
                t0 = self.j.now()
                conn.sock.sendall(line + b"\n")
                reply = conn.readline()
                self.clients.account(reply, rec, name, t0)
                acked.append((cid, rec[1]))
            conn.close()
        except (OSError, EOFError) as e:
            self.j.violation("g", "backlog at %s: %r" % (name, e))
        self.h.signal(name, signal.SIGTERM)
        time.sleep(0.05)
        for b in nb:
            self.h.proxy.heal(name, b, "resume")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            st = self.h.status()
            if st and st[name]["state"] == "stopped":
                self.h.ctl("start", name, timeout=30)
                break
            if st and st[name]["pid"] not in (0, old):
                break
            time.sleep(0.1)
        self.wait_pid_change(name, old)
        self.j.end(ev)
        # The last ones acknowledged are the ones left in the node.
        want = acked[-10:]
        deadline = time.monotonic() + 10
        other = r.choice(nb) if nb else name
        while want and time.monotonic() < deadline:
            time.sleep(1.0)
            want = [(cid, t) for cid, t in want
                    if (AT_RE.match(self.whatsat_first(other, cid) or b"")
                        or [None] * 6)[5] != t.encode()]
        for cid, t in want:
            self.j.violation("a", "%s lost a flood on SIGTERM: %s...%s %s, "
                             "acknowledged by %s, is not on %s 10 s later"
                             % (name, cid[:12], cid[-4:], t, name, other))

    def check_caught_up(self, name, t_heal):
        """Rule (a) right after an isolate: within 10 s of the heal, name
        holds the once-seen clients that other servers acknowledged
        before it (a sample); only catch-up can have brought them."""
        with self.j.lock:
            want = [(cid, t, s, t0) for t0, cid, t, s in self.j.acked
                    if s != name and cid[0] == "u" and t0 < t_heal - 1]
        want = random.Random(t_heal).sample(want, min(15, len(want)))
        deadline = time.monotonic() + 10
        while want and time.monotonic() < deadline:
            time.sleep(1.0)
            left = []
            for cid, t, s, t0 in want:
                m = AT_RE.match(self.whatsat_first(name, cid) or b"")
                if not m or m.group(5).decode() != t:
                    left.append((cid, t, s, t0))
            want = left
        for cid, t, s, t0 in want:
            self.j.violation("a", "%s did not catch up after its isolate "
                             "healed at %.2f: %s %s acknowledged by %s at "
                             "%.2f is missing 10 s later" % (name, t_heal,
                                                             cid, t, s, t0))

    def ev_reload(self, r):
        """Add or remove one link (keeping the herd connected) and run
        herdctl reload."""
        cur = set(self.h.links)
        every = {tuple(sorted((a, b))) for a in NAMES for b in NAMES
                 if a != b}
        now = time.monotonic()
        if any(t > now for t in self.quiet.values()):
            return
        removable = [l for l in cur if connected(sorted(cur - {l}))]
        if removable and (r.random() < 0.5 or cur == every):
            l = r.choice(sorted(removable))
            new = sorted(cur - {l})
            text = "reload: remove link %s-%s" % l
        else:
            l = r.choice(sorted(every - cur))
            new = sorted(cur | {l})
            text = "reload: add link %s-%s" % l
        if not self.claim(list(l) + ["reload"]):
            return
        try:
            ev = self.j.event("reload", text, servers=list(l), links=[l],
                              end=1e9)
            self.h.links = new
            self.h.write()
            p = self.h.ctl("reload", timeout=40)
            if p.returncode != 0:
                self.j.violation("d", "herdctl reload: exit %s: %s %s"
                                 % (p.returncode, p.stdout, p.stderr))
            self.j.end(ev)
        finally:
            self.release(list(l) + ["reload"])

    def ev_hostile(self, r):
        """Hostile traffic at a random server."""
        kind = r.choice(["hello", "hello", "garbage", "peerlines",
                         "connflood", "slowreader"])
        name = r.choice(NAMES)
        ev = self.j.event("hostile", "hostile %s at %s" % (kind, name),
                          end=1e9)
        t_open = self.j.now()
        for rule, text in hostile(self.h, r, kind, name):
            if rule == "close":
                with self.j.lock:
                    self.j.client_closes.append((t_open, self.j.now(), name,
                                                 text))
            else:
                self.j.violation(rule, text)
        self.j.end(ev)

    def ev_mhostile(self, r):
        """Hostile traffic at a random server's metrics port (rule m):
        slowloris, a huge head, a POST with a body, 1,100 connections at
        once; afterwards /metrics answers again."""
        kind = r.choice(METRICS_KINDS)
        name = r.choice(NAMES)
        ev = self.j.event("hostile", "hostile %s at %s's metrics port"
                          % (kind, name), end=1e9)
        t_open = self.j.now()
        bad = hostile_metrics(self.h.metrics_addr(name), r, kind)
        t_close = self.j.now()
        with self.j.lock:
            self.j.mattacks.append((t_open, t_close, name))
        for rule, text in bad:
            if not (self.j.excused(t_open, servers=[name],
                                   kinds=STOPS + ("stop",)) or
                    self.j.excused(t_close, servers=[name],
                                   kinds=STOPS + ("stop",))):
                self.j.violation(rule, "%s at %s (%.2f-%.2f): %s"
                                 % (kind, name, t_open, t_close, text))
        self.j.end(ev)

    def ev_places(self, r):
        """The places provider fails for a while (Overpass: 429 and its
        backoff among them); every WHATSAT still gets one legacy-shaped
        answer, in order (rule n)."""
        if self.settings["places"] == "overpass":
            modes = ["http429", "http429", "rate_limited", "http504",
                     "garbage", "remark", "slow"]
        else:
            modes = ["http429", "http500", "garbage", "drop", "slow"]
        if not self.claim(["places"]):
            return
        try:
            mode, dur = r.choice(modes), r.uniform(1.0, 4.0)
            ev = self.j.event("places", "places provider: %s for %.1fs"
                              % (mode, dur), end=1e9)
            self.h.places.set_mode(mode, delay_s=0.5 if mode == "slow"
                                   else 0)
            time.sleep(dur)
            self.h.places.set_mode("ok", delay_s=0)
            self.j.end(ev)
        finally:
            self.release(["places"])

    # -- the run -------------------------------------------------------

    def run(self):
        """The whole run; returns the exit status."""
        a = self.args
        print("chaos: seed %d, %d s (replay: make chaos CHAOS_SEED=%d "
              "CHAOS_SECONDS=%d)" % (self.seed, a.seconds, self.seed,
                                     a.seconds), flush=True)
        print("chaos: settings %s" % json.dumps(self.settings, sort_keys=True),
              flush=True)
        tmp = tempfile.mkdtemp(prefix="herd-chaos-")
        self.j = Journal(time.monotonic())
        self.h = None
        survivors = []
        try:
            self.h = Herd(tmp, a.bin, self.settings, self.j)
            self.h.start()
            self.scraper = Scraper(self.h, self.j, NAMES)
            self.scraper.start()
            self.clients = Clients(self.h, random.Random(self.rng.random()),
                                   self.j, time.monotonic() + a.seconds)
            self.clients.start(self.settings["workers"],
                               self.settings["midline"])
            self.inject()
            self.clients.stop()
            for t in self.threads:
                t.join(60)
            self.scraper.stop()
            self.heal_and_check()
        except KeyboardInterrupt:
            self.j.violation("harness", "interrupted")
        except Exception:
            self.j.violation("harness", traceback.format_exc())
        finally:
            if self.h is not None:
                if hasattr(self, "clients"):
                    self.clients.running = False
                if hasattr(self, "scraper"):
                    self.scraper.stop()
                survivors = self.h.close()
                for rep in self.h.sanitizer_reports():
                    self.j.violation("sanitizer", rep)
        if survivors:
            self.j.violation("e", "processes still alive after the run "
                             "(killed now): %s" % survivors)
        return self.report(tmp)

    def inject(self):
        """Perform the schedule, each event in its own thread."""
        t_end = self.j.t0 + self.args.seconds
        last_status = 0
        for t, kind, x in self.schedule.plan:
            while time.monotonic() < self.j.t0 + t:
                if time.monotonic() - last_status > 1.0:
                    self.h.status()
                    last_status = time.monotonic()
                time.sleep(0.05)
            self.bg(getattr(self, "ev_" + kind), random.Random(x))
        while time.monotonic() < t_end:
            if time.monotonic() - last_status > 1.0:
                self.h.status()
                last_status = time.monotonic()
            time.sleep(0.1)

    def heal_and_check(self):
        """Heal every link, wait for the herd to settle, then check."""
        self.j.event("heal", "heal everything; quiet period")
        self.h.proxy.heal_all()
        for n in NAMES:
            self.h.signal(n, signal.SIGCONT)
        self.h.places.set_mode("ok", delay_s=0)
        deadline = time.monotonic() + self.args.settle
        last = None
        while time.monotonic() < deadline:
            last = self.final_state()
            if not last[0]:
                break
            time.sleep(1.0)
        if last[0]:
            last = self.final_state(detail=True)
        problems, _counts = last
        self.j.event("check", "settled after %.1fs" % (
            self.args.settle - max(0, deadline - time.monotonic())))
        for rule, text in problems:
            self.j.violation(rule, text)
        if not problems:
            for rule, text in check_final(self.scraper, NAMES, self.nbrs):
                self.j.violation(rule, text)
        self.check_history()
        self.check_unanswered()
        self.check_metrics()

    def check_metrics(self):
        """Rules (j), (k), (l) over the scrapes of the run."""
        j = self.j
        with j.lock:
            acks = list(j.ack_times)
            attacks = list(j.mattacks)
        with self.scraper.lock:
            scrapes = list(self.scraper.scrapes)

        def quiet_links(server, peer, t):
            # Up and unfaulted for a while (or a reload near): info only.
            return not j.excused(t, servers=[server, peer],
                                 links=[tuple(sorted((server, peer)))])
        info = check_scrapes(j, scrapes, acks, j.wall_off,
                             STOPS + ("stop",), SIGTERMS, attacks,
                             quiet_links)
        with j.lock:
            j.info.append(info)

    def whatsat_first(self, name, cid):
        """The AT line (or '?' line) name holds for cid, or None."""
        try:
            c = Conn(self.h, name)
            c.sock.sendall(b"WHATSAT %s 10 1\n" % cid.encode())
            first = c.readline()
            if not first.startswith(b"? "):
                c.readline()
            c.close()
            return first
        except (OSError, EOFError):
            return None

    def final_state(self, detail=False):
        """Rules (a) and (d) on the herd as it is now: (problems, record
        counts); detail: look up more once-seen clients, to name what is
        missing where (a larger sample)."""
        problems = []
        st = self.h.status()
        if st is None:
            return [("d", "herdctl status failed")], {}
        topo = topo_from_links(self.h.links)
        degree = {n: 0 for n in NAMES}
        for x, y in self.h.links:
            degree[x] += 1
            degree[y] += 1
        for n in NAMES:
            s = st.get(n, {})
            if s.get("state") != "running":
                problems.append(("d", "%s is %s" % (n, s.get("state"))))
            pst = s.get("persist") or {}
            if pst.get("state") != "ok" or \
                    pst.get("fsync") != self.settings["fsync"]:
                problems.append(("d", "%s does not persist with fsync %s: "
                                 "persist %s" % (n, self.settings["fsync"],
                                                 pst)))
            if s.get("peers") != degree[n] or s.get("peers_up") != degree[n]:
                problems.append(("d", "%s: peers %s/%s, %d configured (%s)"
                                 % (n, s.get("peers_up"), s.get("peers"),
                                    degree[n], ",".join(topo[n]))))
        counts = {n: st.get(n, {}).get("records") for n in NAMES}
        if len(set(counts.values())) != 1:
            problems.append(("a", "record counts differ: %s" % counts))
        with self.j.lock:
            acked = list(self.j.acked)
            sent = dict(self.j.sent)
        newest = {}
        for t0, cid, t, server in acked:
            # Acknowledged means on the server's disk: a kill -9 does not
            # excuse a loss (it restarts with the record and passes it on).
            if cid not in newest or float(t) > float(newest[cid][0]):
                newest[cid] = (t, server, t0)
        ids = [c for c in CLIENT_IDS if c in newest]
        once = sorted(c for c in newest if c not in CLIENT_IDS)
        k = 40 if detail and len(set(counts.values())) != 1 else 10
        ids += random.Random(self.seed).sample(once, min(k, len(once)))
        for cid in ids:
            if len(problems) > 40:
                break
            t, server, t0 = newest[cid]
            for n in NAMES:
                line = self.whatsat_first(n, cid)
                m = AT_RE.match(line or b"")
                if not m:
                    problems.append((
                        "a", "%s does not hold %s: newest acknowledged %s "
                        "(by %s at %.2f), WHATSAT gave %r"
                        % (n, cid, t, server, t0, line)))
                    continue
                held = m.group(5).decode()
                if (cid, held) not in sent or float(held) < float(t):
                    problems.append((
                        "a", "%s holds %s at %s, older than %s acknowledged"
                        " by %s at %.2f" % (n, cid, held, t, server, t0)))
        return problems, counts

    def check_history(self):
        """Rules (c), (g), (h) and (i) over what was seen during the run."""
        j = self.j
        with j.lock:
            obs = sorted(j.obs)
            closes = list(j.client_closes)
            lcloses = list(j.link_closes)
            pidc = list(j.pid_changes)
        # (c) per server and client, observations in time order, across
        # restarts too: no restart excuses going back.
        def value(t):
            return -1.0 if t is None else float(t)
        best = {}
        for t_start, t_end, server, cid, t in obs:
            key = (server, cid)
            prev = best.get(key)
            if prev is not None and prev[1] < t_start and \
                    value(t) < value(prev[2]):
                j.violation("c", "%s went back in time for %s: held %s "
                            "(seen %.2f-%.2f), later %s (seen %.2f-%.2f)%s"
                            % (server, cid, prev[2], prev[0], prev[1],
                               t or "nothing", t_start, t_end,
                               self.restarts_between(server, prev[0],
                                                     t_end)))
            if prev is None or value(t) >= value(prev[2]):
                best[key] = (t_start, t_end, t)
        # (g) a server closes a polite client only when stopped, or just
        # after a SIGSTOP (its deadlines, line_timeout_s, ran meanwhile).
        for t_open, t_close, server, why in closes:
            if not j.excused(t_close, servers=[server],
                             kinds=STOPS + ("stop",)):
                j.violation("g", "%s closed a well-behaved client connection"
                            " (open since %.2f) at %.2f: %s"
                            % (server, t_open, t_close, why))
        # (h) a node closes an authenticated link only for a reason.
        for t, link, closer, why in lcloses:
            if not j.excused(t, servers=link, links=[link]):
                j.violation("h", "link %s-%s: %s closed the authenticated "
                            "connection at %.2f (%s) with no fault on that "
                            "link or its servers" % (link[0], link[1], closer,
                                                     t, why))
        # (i) no restart the run did not cause.
        for t, s, old, new in pidc:
            if not j.excused(t, servers=[s], kinds=STOPS):
                j.violation("i", "%s restarted by itself at %.2f (pid %d -> "
                            "%d)" % (s, t, old, new))

    def restarts_between(self, server, t0, t1):
        """Text naming the events that restarted server between t0 and t1
        (for a rule c report)."""
        with self.j.lock:
            evs = [ev[5] for ev in self.j.events if ev[2] in STOPS and
                   server in ev[3] and t0 <= ev[1] and ev[0] <= t1]
        return "; restarted meanwhile by: %s" % " | ".join(evs) \
            if evs else ""

    def check_unanswered(self):
        """Rule (f): an IAMAT whose connection the server closed without a
        reply must not have been stored, unless the server was killed."""
        with self.j.lock:
            un = list(self.j.unanswered)
            obs = {(cid, t) for _a, _b, _s, cid, t in self.j.obs}
        for t_send, t_close, cid, t, server in un:
            if self.j.excused(t_close, servers=[server],
                              kinds=KILLS):
                continue
            where = []
            if (cid, t) in obs:
                where.append("seen during the run")
            if cid not in CLIENT_IDS:
                for n in NAMES:
                    line = self.whatsat_first(n, cid) or b""
                    m = AT_RE.match(line)
                    if m and m.group(5).decode() == t:
                        where.append("held by %s" % n)
            if where:
                self.j.violation("f", "IAMAT %s %s sent to %s at %.2f: "
                                 "connection closed at %.2f with no reply, "
                                 "yet the record was stored (%s)"
                                 % (cid, t, server, t_send, t_close,
                                    ", ".join(where)))

    def report(self, tmp):
        """Print the verdict; returns the exit status."""
        j = self.j
        with j.lock:
            n_sent, n_acked = len(j.sent), len(j.acked)
        print("chaos: %d IAMATs sent, %d acknowledged, %d events"
              % (n_sent, n_acked, len(j.events)), flush=True)
        print("chaos: WHATSAT answers by status (%s): %s"
              % (self.settings["places"],
                 json.dumps(dict(j.whatsat_status), sort_keys=True)))
        for line in j.info:
            print("chaos: %s" % line, flush=True)
        if not j.violations:
            print("chaos: seed %d: ok" % self.seed)
            if not self.args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
            return 0
        print("\nchaos: FAILED, seed %d; replay: make chaos CHAOS_SEED=%d "
              "CHAOS_SECONDS=%d" % (self.seed, self.seed, self.args.seconds))
        print("settings: %s" % json.dumps(self.settings, sort_keys=True))
        print("schedule (planned start, kind):")
        print(self.schedule.describe())
        print("events as run:")
        for ev in j.events:
            print("  %7.2f-%7.2f %s" % (ev[0], min(ev[1], 1e6), ev[5]))
        rules = collections.Counter(r for r, _ in j.violations)
        print("violations: %s" % dict(sorted(rules.items())))
        shown = collections.Counter()
        for rule, text in j.violations:
            shown[rule] += 1
            if shown[rule] <= 8:
                print("  (%s) %s" % (rule, text))
        print("logs kept in %s (herd.log: the nodes' syslog)" % tmp)
        return 1


def main():
    """Parse the command line and run once."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int,
                    default=int(os.environ.get("CHAOS_SECONDS") or 120))
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("CHAOS_SEED") or 0) or None)
    ap.add_argument("--settle", type=float, default=30.0,
                    help="longest wait for the herd to converge after healing")
    ap.add_argument("--bin", default=os.environ.get("HERD_BIN") or
                    os.path.join(ROOT, "bin"))
    ap.add_argument("--kinds", default=os.environ.get("CHAOS_KINDS"),
                    help="only these event kinds, comma-separated (%s)"
                    % ",".join(k for k, _ in Schedule.KINDS))
    ap.add_argument("--set", default=os.environ.get("CHAOS_SET"),
                    help="override drawn settings: reconcile_s=0,midline=0,"
                    "places=overpass")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run directory even on success")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2 ** 31)
    # Ctrl-C and SIGTERM end the run the same way: everything the run
    # started is stopped by pid.  SIGINT explicitly, because a shell's
    # background job starts with it ignored.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    sys.exit(Chaos(args).run())


def interrupted(signo, frame):
    """Signal handler: unwind the main thread as Ctrl-C does."""
    raise KeyboardInterrupt()


if __name__ == "__main__":
    main()
