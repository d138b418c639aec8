"""scrape.py -- the chaos suite's view of every server's metrics port.

A Scraper thread per server reads /healthz and /metrics every ~200 ms
(like Prometheus, with a short timeout) and journals what it saw;
check_scrapes() judges those observations (rules j, k, l);
hostile_metrics() attacks a metrics port (rule m).  The exposition is
parsed with Debian's python3-prometheus-client (tests/deps.sh).
"""

import bisect
import socket
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

SCRAPE_EVERY = 0.2
SCRAPE_TIMEOUT = 2.0      # a scrape slower than this is a failed one
MAX_ANSWER = 4 << 20
# Counters that must never go back within one process lifetime.
COUNTERS = ("herd_requests_total", "herd_flood_received_total",
            "herd_flood_sent_total", "herd_places_requests_total",
            "herd_places_cache_hits_total")
# Acks sent this soon after a process start may have met its predecessor.
LIFETIME_MARGIN = 0.5


def http_get(addr, path, timeout=SCRAPE_TIMEOUT, method="GET", extra=b""):
    """One HTTP/1.0 request; (status, body) or raises OSError (a
    timeout, a refused or reset connection, a truncated answer)."""
    deadline = time.monotonic() + timeout
    s = socket.create_connection(addr, timeout=timeout)
    try:
        s.sendall(b"%s %s HTTP/1.0\r\nHost: chaos\r\n%s\r\n"
                  % (method.encode(), path.encode(), extra))
        buf = b""
        while len(buf) < MAX_ANSWER:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            b = s.recv(65536)
            if not b:
                break
            buf += b
    finally:
        s.close()
    head, sep, body = buf.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise OSError("not an HTTP answer: %r" % buf[:80])
    return int(parts[1]), body


def parse_metrics(text):
    """The samples the checker uses, from one exposition:
    {"start": s, "counters": {(name, labels): v}, "peer_up": {peer: v}}."""
    out = {"start": None, "counters": {}, "peer_up": {}}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            name, labels, v = smp[0], smp[1], smp[2]
            if name == "process_start_time_seconds":
                out["start"] = v
            elif name == "herd_peer_up":
                out["peer_up"][labels.get("peer")] = v
            elif name in COUNTERS:
                out["counters"][(name, tuple(sorted(labels.items())))] = v
    if out["start"] is None:
        raise ValueError("no process_start_time_seconds")
    return out


class Scrape:
    """What one scrape of one server saw."""
    __slots__ = ("t_start", "t_end", "server", "pid", "health", "metrics",
                 "error")

    def __init__(self, t_start, server, pid):
        self.t_start, self.server, self.pid = t_start, server, pid
        self.t_end = None
        self.health = None     # (status, body)
        self.metrics = None    # parse_metrics()
        self.error = None      # text: why the scrape failed


class Scraper:
    """One thread per server scraping its metrics port until stop()."""

    def __init__(self, herd, journal, names):
        self.h, self.j, self.names = herd, journal, names
        self.running = True
        self.threads = []
        self.scrapes = []
        self.lock = threading.Lock()

    def start(self):
        for n in self.names:
            t = threading.Thread(target=self.run, args=(n,), daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(3 * SCRAPE_TIMEOUT)

    def once(self, name):
        """Scrape name now; the Scrape (pid None: it changed meanwhile)."""
        addr = self.h.metrics_addr(name)
        pid = self.h.cur_pid.get(name)
        sc = Scrape(self.j.now(), name, pid)
        try:
            sc.health = http_get(addr, "/healthz")
            code, body = http_get(addr, "/metrics")
            if code != 200:
                sc.error = "/metrics answered %d %r" % (code, body[:80])
            else:
                try:
                    sc.metrics = parse_metrics(body.decode())
                except (ValueError, UnicodeDecodeError) as e:
                    sc.error = "/metrics does not parse: %s" % e
        except OSError as e:
            sc.error = "%s: %s" % (type(e).__name__, e)
        sc.t_end = self.j.now()
        if self.h.cur_pid.get(name) != pid:
            sc.pid = None
        return sc

    def run(self, name):
        while self.running:
            t = time.monotonic()
            sc = self.once(name)
            with self.lock:
                self.scrapes.append(sc)
            time.sleep(max(0.0, SCRAPE_EVERY - (time.monotonic() - t)))


def check_scrapes(j, scrapes, acks, wall_off, stops, sigterms, attacks,
                  quiet_links):
    """Rules (j), (k) and (l) over the scrapes of the run.  acks:
    (t_send, t_done, server) of every acknowledged IAMAT; wall_off:
    journal time = wall clock - wall_off; stops/sigterms: event kinds
    that stop a server / SIGTERM it; attacks: (start, end, server) of
    every hostile burst at a metrics port; quiet_links(server, peer, t):
    the link was up and unfaulted for a while before t.  Returns an
    info line."""
    by = {}
    for sc in scrapes:
        by.setdefault(sc.server, []).append(sc)
    acks_of = {}
    for t_send, t_done, server in acks:
        acks_of.setdefault(server, []).append((t_send, t_done))
    n_ok = n_excused = peer_seen = n_stopping = 0
    peer_down = []           # (t, server, peer) of quiet links at 0

    def attacked(t, server):
        return any(a - 1 <= t <= b + 1 for a, b, s in attacks if s == server)

    for server, lst in sorted(by.items()):
        lst.sort(key=lambda s: s.t_start)
        prev = None          # the last scrape with metrics
        life_acks = None     # (start, sorted t_done of acks in lifetime)
        for sc in lst:
            down = j.excused(sc.t_start, servers=[server], kinds=stops) or \
                j.excused(sc.t_end, servers=[server], kinds=stops)
            # (l) /healthz and /metrics answer while the server serves.
            if sc.health is not None and sc.health[0] == 503:
                n_stopping += 1
                if sc.health[1] != b"stopping\n" or not (
                        j.excused(sc.t_start, servers=[server],
                                  kinds=sigterms)):
                    j.violation("l", "%s /healthz answered 503 %r at %.2f "
                                "with no SIGTERM the run sent"
                                % (server, sc.health[1], sc.t_start))
            elif sc.health is not None and sc.health != (200, b"ok"):
                j.violation("l", "%s /healthz answered %d %r at %.2f"
                            % (server, sc.health[0], sc.health[1][:80],
                               sc.t_start))
            if sc.error is not None:
                if down or attacked(sc.t_start, server):
                    n_excused += 1
                else:
                    j.violation("l", "%s's metrics port failed a scrape at "
                                "%.2f-%.2f while it served (no stop, no "
                                "attack on it): %s" % (server, sc.t_start,
                                                       sc.t_end, sc.error))
            if sc.metrics is None:
                continue
            n_ok += 1
            m = sc.metrics
            # (j) counters never go back within one lifetime.
            if prev is not None and prev.metrics["start"] == m["start"]:
                for key, v in m["counters"].items():
                    pv = prev.metrics["counters"].get(key)
                    if pv is not None and v < pv:
                        j.violation("j", "%s: %s%s went back from %g (%.2f)"
                                    " to %g (%.2f) with the same process "
                                    "start time %.6f" % (
                                        server, key[0], dict(key[1]) or "",
                                        pv, prev.t_start, v, sc.t_start,
                                        m["start"]))
                for key in prev.metrics["counters"]:
                    if key not in m["counters"]:
                        j.violation("j", "%s: %s%s vanished at %.2f"
                                    % (server, key[0], dict(key[1]) or "",
                                       sc.t_start))
            elif prev is not None and sc.pid is not None and \
                    sc.pid == prev.pid and not down:
                j.violation("j", "%s (pid %d): process_start_time_seconds "
                            "changed from %.6f to %.6f (%.2f-%.2f) with no "
                            "restart" % (server, sc.pid, prev.metrics["start"],
                                         m["start"], prev.t_start, sc.t_start))
            prev = sc
            # (k) IAMATs counted >= IAMATs acknowledged in this lifetime
            # before the scrape started.
            if life_acks is None or life_acks[0] != m["start"]:
                born = m["start"] - wall_off + LIFETIME_MARGIN
                life_acks = (m["start"], sorted(
                    d for s, d in acks_of.get(server, []) if s >= born))
            want = bisect.bisect_left(life_acks[1], sc.t_start)
            got = m["counters"].get(("herd_requests_total",
                                     (("command", "IAMAT"),)))
            if got is None or got < want:
                j.violation("k", "%s: herd_requests_total{command=\"IAMAT\"}"
                            " was %s at %.2f, but it had acknowledged %d "
                            "IAMATs in this lifetime (started %.6f) before"
                            % (server, got, sc.t_start, want, m["start"]))
            # herd_peer_up: info only during the run (rule l checks it
            # after the settle).
            for peer, v in m["peer_up"].items():
                if sc.t_start > 5 and quiet_links(server, peer, sc.t_start):
                    peer_seen += 1
                    if v != 1:
                        peer_down.append((sc.t_start, server, peer))
    peer_down.sort()
    return ("scrapes: %d with metrics, %d failed while excused (stopped or "
            "attacked), %d /healthz 503; herd_peer_up of quiet links after 5 s: %d seen, %d "
            "at 0%s" % (n_ok, n_excused, n_stopping, peer_seen, len(peer_down),
                        "".join(" (%.2f %s->%s)" % x
                                for x in peer_down[:4])))


def check_final(scraper, names, nbrs):
    """Rule (l) after the settle: every server answers /healthz 200 ok
    and its herd_peer_up names exactly its configured neighbours, all 1.
    Returns [(rule, text)]."""
    out = []
    for n in names:
        sc = scraper.once(n)
        if sc.health != (200, b"ok") or sc.metrics is None:
            out.append(("l", "%s after the settle: /healthz %r, /metrics %s"
                        % (n, sc.health, sc.error)))
            continue
        want = {p: 1.0 for p in nbrs(n)}
        if sc.metrics["peer_up"] != want:
            out.append(("l", "%s after the settle (every link up): "
                        "herd_peer_up %s, configured neighbours %s"
                        % (n, sc.metrics["peer_up"], sorted(want))))
    return out


def read_all(s):
    """Read s to its end: (bytes, True when it ended in an error)."""
    ans = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return ans, False
            ans += b
    except OSError:
        return ans, True


METRICS_KINDS = ("m_slowloris", "m_header", "m_post", "m_flood")


def hostile_metrics(addr, rng, kind):
    """One burst of hostile traffic of kind at a metrics port; returns
    [("m", text)] for what was answered wrongly on the spot (the caller
    excuses it when the server was stopped meanwhile)."""
    bad = []
    socks = []
    try:
        if kind == "m_slowloris":
            # A head one byte at a time: dropped at the 5 s deadline.
            for _ in range(rng.randint(5, 30)):
                socks.append(socket.create_connection(addr, timeout=2))
            head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + \
                b"a" * 100
            t0 = time.monotonic()
            k = 0
            while socks and time.monotonic() - t0 < 9:
                for s in list(socks):
                    try:
                        s.send(head[k % len(head):k % len(head) + 1])
                    except OSError:
                        socks.remove(s)
                        s.close()
                k += 1
                time.sleep(0.3)
            if socks:
                bad.append(("m", "%d slowloris connections still open %.1f s"
                            " after they began (the deadline is 5 s)"
                            % (len(socks), time.monotonic() - t0)))
        elif kind == "m_header":
            s = socket.create_connection(addr, timeout=5)
            socks.append(s)
            big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" \
                % (b"b" * rng.randint(9000, 200000))
            try:
                s.sendall(big)
            except OSError:
                pass        # closed on us mid-head: bounded, fine
            ans, _reset = read_all(s)
            if ans and not ans.startswith((b"HTTP/1.1 431", b"HTTP/1.0 431")):
                bad.append(("m", "a %d-byte request head was answered %r, "
                            "not 431" % (len(big), ans[:60])))
        elif kind == "m_post":
            s = socket.create_connection(addr, timeout=5)
            socks.append(s)
            body = b"x" * rng.randint(1, 100000)
            try:
                s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            ans, reset = read_all(s)  # reset: our body left unread
            if (ans or not reset) and \
                    not ans.startswith((b"HTTP/1.1 405", b"HTTP/1.0 405")):
                bad.append(("m", "a POST with a %d-byte body was answered "
                            "%r, not 405" % (len(body), ans[:60])))
        elif kind == "m_flood":
            # More connections than the 1,024 bound, at once, then closed.
            for _ in range(1100):
                try:
                    socks.append(socket.create_connection(addr, timeout=2))
                except OSError:
                    break
            time.sleep(rng.uniform(0.2, 1.5))
    except OSError as e:
        bad.append(("m", "%s: %s" % (kind, e)))
    finally:
        for s in socks:
            s.close()
    # Afterwards /metrics answers again (the excess was closed at once).
    deadline = time.monotonic() + 6
    last = None
    while time.monotonic() < deadline:
        try:
            code, _body = http_get(addr, "/metrics")
            if code == 200:
                return bad
            last = "answered %d" % code
        except OSError as e:
            last = "%s: %s" % (type(e).__name__, e)
        time.sleep(0.2)
    bad.append(("m", "/metrics does not answer 6 s after a %s burst: %s"
                % (kind, last)))
    return bad
