"""[server:NAME] metrics_port: /metrics parsed by a real Prometheus parser
(Debian's python3-prometheus-client), /healthz, and hostile scrapers."""
import signal
import socket
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (Herd, assert_rtts, exchange, free_ports,
                      harness_factory, rtt_worst, wait_until)
from fake_places import FakePlaces

LOC = b"+34.068930-118.445127"


class MetricsHerd(Herd):
    """A Herd whose servers all have a metrics_port."""

    def other_ports(self, n):
        """n free ports none of the servers' own (a second free_ports()
        call may hand out a port the first one did)."""
        taken = set(self.ports.values()) | set(
            getattr(self, "mports", {}).values())
        return [p for p in free_ports(n + len(taken)) if p not in taken][:n]

    def write(self, topology=None):
        super().write(topology)
        if not hasattr(self, "mports"):
            self.mports = dict(zip(self.topology,
                                   self.other_ports(len(self.topology))))
        with open(self.ini) as f:
            lines = f.read().split("\n")
        out = []
        for line in lines:
            out.append(line)
            if line.startswith("[server:"):
                name = line[len("[server:"):-1]
                out.append("metrics_port = %d" % self.mports[name])
        with open(self.ini, "w") as f:
            f.write("\n".join(out))


@pytest.fixture
def mherd_factory(tmp_path):
    yield from harness_factory(tmp_path, MetricsHerd, "mherd")


def http(port, request, timeout=5.0):
    """Send raw request bytes; the whole answer (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:    # closed with our bytes unread
                return data
            if not chunk:
                return data
            data += chunk
    finally:
        s.close()


def get(port, path):
    """(status code, headers text, body) of GET path."""
    raw = http(port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    head, body = raw.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), head.decode(), body


def scrape(port):
    """{(name, sorted label items): value} of every sample of /metrics,
    and the families, through prometheus_client's parser."""
    code, head, body = get(port, "/metrics")
    assert code == 200, head
    assert "text/plain; version=0.0.4" in head
    fams = list(text_string_to_metric_families(body.decode()))
    samples = {}
    for f in fams:
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, fams


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def test_families_and_counters_move_exactly(mherd_factory):
    h = mherd_factory().start()
    port = h.mports["Hill"]
    before, fams = scrape(port)
    types = {f.name: f.type for f in fams}
    # The parser strips _total from a counter family's name.
    for name, typ in (("herd_requests", "counter"), ("herd_records", "gauge"),
                      ("herd_clients_connected", "gauge"),
                      ("herd_peer_up", "gauge"),
                      ("herd_flood_received", "counter"),
                      ("herd_flood_sent", "counter"),
                      ("herd_places_requests", "counter"),
                      ("herd_places_request_duration_seconds", "histogram"),
                      ("herd_places_cache_hits", "counter"),
                      ("herd_log_dropped", "counter"),
                      ("herd_persist_state", "gauge"),
                      ("herd_persist_lag_seconds", "gauge"),
                      ("herd_persist_fsync_duration_seconds", "histogram"),
                      ("herd_build_info", "gauge"),
                      ("process_start_time_seconds", "gauge"),
                      ("process_resident_memory_bytes", "gauge"),
                      ("process_open_fds", "gauge")):
        assert types.get(name) == typ, (name, types.get(name))
    assert value(before, "herd_build_info", version="0.1") == 1
    assert value(before, "herd_persist_state", state="off") == 1
    assert value(before, "process_resident_memory_bytes") > 1e6
    assert value(before, "process_open_fds") > 3
    assert abs(value(before, "process_start_time_seconds") - time.time()) < 600
    assert value(before, "herd_places_request_duration_seconds_bucket",
                 le="+Inf") == 0
    for peer in ("Jaquez", "Smith"):
        wait_until(lambda: value(scrape(port)[0], "herd_peer_up",
                                 peer=peer) == 1, 10, what="%s up" % peer)

    n = 37
    c = h.client("Hill")
    for i in range(n):
        c.request(b"IAMAT m%d +1+1 %d" % (i, i + 1))
    for line in (b"NOPE", b"IAMAT", b"WHATSAT nobody 10 5",
                 b"IAMAT x +1+1 notatime"):
        assert c.request(line).startswith(b"? ")
    c.close()
    after, _ = scrape(port)
    assert value(after, "herd_requests_total", command="IAMAT") - \
        value(before, "herd_requests_total", command="IAMAT") == n
    assert value(after, "herd_requests_total", command="invalid") - \
        value(before, "herd_requests_total", command="invalid") == 4
    assert value(after, "herd_requests_total", command="WHATSAT") == \
        value(before, "herd_requests_total", command="WHATSAT")
    assert value(after, "herd_records") == n
    # Hill floods each new record to both its neighbours.
    assert value(after, "herd_flood_sent_total") >= 2 * n
    j = h.mports["Jaquez"]
    wait_until(lambda: value(scrape(j)[0], "herd_records") == n, 10,
               what="Jaquez to hold the records")
    assert value(scrape(j)[0], "herd_flood_received_total") >= n


def test_healthz_404_405(mherd_factory):
    h = mherd_factory(topology={"Hill": []}).start()
    port = h.mports["Hill"]
    assert get(port, "/healthz")[0] == 200
    assert get(port, "/healthz")[2] == b"ok"
    assert get(port, "/nothing")[0] == 404
    assert get(port, "/metricsX")[0] == 404
    raw = http(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
               b"hello")
    assert raw.startswith(b"HTTP/1.1 405 "), raw[:60]
    raw = http(port, b"DELETE /healthz HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 405 "), raw[:60]


def test_healthz_503_during_sigterm_grace(mherd_factory):
    """SIGTERM with a WHATSAT still at a slow provider: until the node
    exits, /healthz answers 503 "stopping" (a load balancer sends no one
    new), while /metrics still serves."""
    fake = FakePlaces(key="k").start()
    try:
        places = "api = new\nurl = %s\nkey = k" % fake.url_new
        h = mherd_factory(topology={"Hill": []}, places=places).start()
        port = h.mports["Hill"]
        assert get(port, "/healthz")[0] == 200
        h.iamat("Hill", b"kiwi", LOC, b"1621464827.959498503")
        fake.set_mode("slow", delay_s=60)
        c = socket.create_connection(("127.0.0.1", h.port("Hill")),
                                     timeout=20)
        c.sendall(b"WHATSAT kiwi 10 5\n")
        wait_until(lambda: any(r["path"].endswith("searchNearby")
                               for r in fake.requests()), 10,
                   what="the WHATSAT at the provider")
        h.signal("Hill", signal.SIGTERM)
        # The signal and this GET are events of the same loop, in either
        # order: 503 once the SIGTERM is handled.
        wait_until(lambda: get(port, "/healthz")[0] == 503, 5,
                   what="/healthz 503")
        code, _, body = get(port, "/healthz")
        assert (code, body) == (503, b"stopping\n")
        assert get(port, "/metrics")[0] == 200
        assert h.procs["Hill"].wait(20) == 0
        c.close()
    finally:
        fake.stop()


def test_peer_up_flips_when_a_neighbour_stops(mherd_factory):
    h = mherd_factory(topology={"Hill": ["Smith"], "Smith": ["Hill"]}).start()
    port = h.mports["Hill"]
    wait_until(lambda: value(scrape(port)[0], "herd_peer_up",
                             peer="Smith") == 1, 10, what="Smith up")
    h.stop("Smith")
    wait_until(lambda: value(scrape(port)[0], "herd_peer_up",
                             peer="Smith") == 0, 10, what="Smith down")
    h.start("Smith")
    wait_until(lambda: value(scrape(port)[0], "herd_peer_up",
                             peer="Smith") == 1, 10, what="Smith up again")


def test_places_counters(mherd_factory):
    fake = FakePlaces(key="k").start()
    try:
        places = "api = new\nurl = %s\nkey = k\ncache_ttl_s = 30" % \
            fake.url_new
        h = mherd_factory(topology={"Hill": []}, places=places).start()
        port = h.mports["Hill"]
        h.iamat("Hill", b"kiwi", LOC, b"1621464827.959498503")
        for _ in range(3):      # one provider request, two cache hits
            out = exchange(h.port("Hill"), b"WHATSAT kiwi 10 5\n", timeout=10)
            assert out.startswith(b"AT "), out[:80]
        s, _ = scrape(port)
        assert value(s, "herd_places_requests_total", status="OK") == 1
        assert value(s, "herd_places_cache_hits_total") == 2
        assert value(s, "herd_requests_total", command="WHATSAT") == 3
        assert value(s, "herd_places_request_duration_seconds_count") == 1
        assert value(s, "herd_places_request_duration_seconds_bucket",
                     le="+Inf") == 1
        assert value(s, "herd_places_request_duration_seconds_bucket",
                     le="10") == 1
    finally:
        fake.stop()


def closed(s):
    """True once the server closed socket s."""
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True

def test_hostile_scrapers_bounded_clients_unaffected(mherd_factory):
    h = mherd_factory(topology={"Hill": []}).start()
    port, mport = h.port("Hill"), h.mports["Hill"]
    baseline = rtt_worst(port)
    socks = []
    stop = threading.Event()
    try:
        # Huge headers: 431 and closed (reset when the rest is unread).
        raw = http(mport, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 100000 +
                   b"\r\n\r\n")
        assert raw == b"" or raw.startswith(b"HTTP/1.1 431 "), raw[:60]
        raw = http(mport, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000)
        assert raw.startswith(b"HTTP/1.1 431 "), raw[:60]
        # Slowloris: a byte now and then never gets past the deadline.
        slow = socket.create_connection(("127.0.0.1", mport))
        slow.sendall(b"GET /metrics HTTP/1.1\r\n")

        def drip():
            try:
                while not stop.wait(0.5):
                    slow.sendall(b"X")
            except OSError:
                pass
        t = threading.Thread(target=drip, daemon=True)
        t.start()
        # 2000 idle connections: at most 1024 held, the rest closed.
        for _ in range(2000):
            socks.append(socket.create_connection(("127.0.0.1", mport)))
        # The excess is closed at once (and logged), never more than
        # 1024 held.
        wait_until(lambda: "closed a new one" in h.log("Hill"), 10,
                   what="the excess connections closed")
        held = sum(not closed(s) for s in socks)
        assert held <= 1024, held
        rtts = []
        for i in range(60):
            t0 = time.monotonic()
            r = exchange(port, b"IAMAT a%d +1+1 %d\n" % (i, i + 1))
            rtts.append(time.monotonic() - t0)
            assert r.startswith(b"AT "), r
        assert_rtts(rtts, baseline, "IAMAT with hostile scrapers")

        # The slowloris and idle ones are dropped at their deadline...
        wait_until(lambda: closed(slow), 15, what="the slowloris dropped")
        wait_until(lambda: all(closed(s) for s in socks), 15,
                   what="the idle connections dropped")
        # ... and a real scraper gets in again.
        assert scrape(mport)[0]
    finally:
        stop.set()
        for s in socks:
            s.close()


def test_reload_rebinds_metrics_port(mherd_factory):
    import signal
    h = mherd_factory(topology={"Hill": []}).start()
    old = h.mports["Hill"]
    assert get(old, "/healthz")[0] == 200
    h.mports["Hill"] = h.other_ports(1)[0]
    h.write()
    h.signal("Hill", signal.SIGHUP)
    wait_until(lambda: _healthy(h.mports["Hill"]), 10, what="the new port")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", old), timeout=1).close()


def _healthy(port):
    try:
        return get(port, "/healthz")[0] == 200
    except OSError:
        return False


def test_persist_metrics(mherd_factory, tmp_path):
    h = mherd_factory(topology={"Hill": []},
                      herd_extra="data_dir = %s\nfsync = always\n"
                      % (tmp_path / "data")).start()
    port = h.mports["Hill"]
    s, _ = scrape(port)
    assert value(s, "herd_persist_state", state="ok") == 1
    assert value(s, "herd_persist_state", state="off") == 0
    before = value(s, "herd_persist_fsync_duration_seconds_count")
    c = h.client("Hill")
    for i in range(5):      # fsync = always: each waits for its fdatasync
        c.request(b"IAMAT p%d +1+1 %d" % (i, i + 1))
    c.close()
    s, _ = scrape(port)
    n = value(s, "herd_persist_fsync_duration_seconds_count")
    assert n >= before + 1
    assert value(s, "herd_persist_fsync_duration_seconds_bucket",
                 le="+Inf") == n
    assert value(s, "herd_persist_lag_seconds") >= 0


def test_reload_to_a_busy_port_keeps_the_old_one(mherd_factory):
    import signal
    h = mherd_factory(topology={"Hill": []}).start()
    old = h.mports["Hill"]
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        h.mports["Hill"] = busy.getsockname()[1]
        h.write()
        h.signal("Hill", signal.SIGHUP)
        wait_until(lambda: "reload: metrics: cannot listen" in h.log("Hill"),
                   10, what="the failed rebind logged")
        assert get(old, "/healthz")[0] == 200
    finally:
        busy.close()
