"""WHATSAT through the real libcurl path against the fake places server."""
import json
import socket
import time

import pytest

from conftest import (AT_RE, Client, assert_rtts, exchange, rtt_worst,
                      wait_until)
from fake_places import FakePlaces

LOC = b"+34.068930-118.445127"
KEY = "test-key"


@pytest.fixture
def fake():
    f = FakePlaces(key=KEY).start()
    yield f
    f.stop()


def places_conf(fake, api="new", key=KEY, timeout_ms=8000, cache=30):
    url = fake.url_new if api == "new" else fake.url_legacy
    lines = ["api = %s" % api, "url = %s" % url,
             "timeout_ms = %d" % timeout_ms, "cache_ttl_s = %d" % cache]
    if key is not None:
        lines.append("key = %s" % key)
    return "\n".join(lines)


def whatsat(port, cid, radius=b"10", bound=b"5", timeout=10):
    """Full WHATSAT reply split into (first line, parsed JSON, raw)."""
    raw = exchange(port, b"WHATSAT %s %s %s\n" % (cid, radius, bound),
                   timeout=timeout)
    assert raw.endswith(b"\n\n") and not raw.endswith(b"\n\n\n"), raw[-40:]
    first, body = raw[:-2].split(b"\n", 1)
    assert b"\n\n" not in body and not body.endswith(b"\n")
    j = json.loads(body)
    assert isinstance(j["html_attributions"], list)
    assert isinstance(j["results"], list)
    assert isinstance(j["status"], str)
    return first, j, raw


def searches(fake):
    return [r for r in fake.requests()
            if "searchNearby" in r["path"] or "nearbysearch" in r["path"]]


@pytest.mark.parametrize("api", ["new", "legacy"])
def test_whatsat_both_apis_origin_and_flooded(herd_factory, fake, api):
    h = herd_factory(places=places_conf(fake, api)).start()
    at = h.iamat("Hill", b"kiwi", LOC, b"1621464827.959498503")
    h.wait_record("Campbell", b"kiwi", at)
    for name, bound in (("Hill", 5), ("Campbell", 3), ("Smith", 20)):
        first, j, _ = whatsat(h.port(name), b"kiwi", b"10", b"%d" % bound)
        assert first == at
        assert j["status"] == "OK"
        assert 1 <= len(j["results"]) <= bound
        r = j["results"][0]
        assert r["name"] and r["place_id"]
        assert set(r["geometry"]["location"]) == {"lat", "lng"}


def test_new_api_request_as_google_wants_it(herd_factory, fake):
    h = herd_factory(topology={"A": []}, places=places_conf(fake, "new"),
                     ).start()
    h.iamat("A", b"c", b"+34.068930-118.445127", b"1")
    whatsat(h.port("A"), b"c", b"2.5", b"7")
    (req,) = searches(fake)
    assert req["method"] == "POST"
    assert req["headers"]["x-goog-api-key"] == KEY
    mask = req["headers"]["x-goog-fieldmask"]
    for f in ("places.id", "places.displayName", "places.location",
              "places.types", "places.rating"):
        assert f in mask.split(",")
    body = req["body"]
    circle = body["locationRestriction"]["circle"]
    assert circle["radius"] == 2500
    assert circle["center"] == {"latitude": 34.06893,
                                "longitude": -118.445127}
    assert body["maxResultCount"] == 7


def test_legacy_request_and_results_cut(herd_factory, fake):
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "legacy")).start()
    h.iamat("A", b"c", b"-33.8670522+151.1957362", b"1")
    _, j, _ = whatsat(h.port("A"), b"c", b"0.5", b"4")
    assert j["status"] == "OK" and len(j["results"]) == 4
    assert "next_page_token" in j     # other fields kept
    (req,) = searches(fake)
    q = req["query"]
    assert req["method"] == "GET"
    assert q["key"] == KEY
    assert q["radius"] == "500"
    assert q["location"] == "-33.867052,151.195736"


def test_no_key_is_request_denied(herd_factory, fake):
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", key=None)).start()
    h.iamat("A", b"c", LOC, b"1")
    _, j, _ = whatsat(h.port("A"), b"c")
    assert j["status"] == "REQUEST_DENIED"
    assert "HERD_PLACES_KEY" in j["error_message"]
    assert searches(fake) == []


def test_key_from_environment_overrides(herd_factory, fake):
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", key="wrong"),
                     env={"HERD_PLACES_KEY": KEY}).start()
    h.iamat("A", b"c", LOC, b"1")
    _, j, _ = whatsat(h.port("A"), b"c")
    assert j["status"] == "OK"


@pytest.mark.parametrize("api", ["new", "legacy"])
def test_wrong_key_is_request_denied_and_key_not_logged(herd_factory, fake,
                                                        api):
    secret = "wrong-key-5f1c"
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, api, key=secret)).start()
    h.iamat("A", b"c", LOC, b"1")
    _, j, _ = whatsat(h.port("A"), b"c")
    assert j["status"] == "REQUEST_DENIED"
    assert j["error_message"]
    h.syslog.wait_for(r"A: places: .* -> HTTP (403|200), REQUEST_DENIED")
    logs = "\n".join(h.syslog.drain()) + h.log("A")
    assert secret not in logs
    if api == "legacy":
        assert "key=REDACTED" in logs


@pytest.mark.parametrize("mode,status,http", [
    ("http500", "UNKNOWN_ERROR", "500"),
    ("http429", "OVER_QUERY_LIMIT", "429"),
    ("garbage", "UNKNOWN_ERROR", "200"),
    ("drop", "UNKNOWN_ERROR", r"\d+"),
])
@pytest.mark.parametrize("api", ["new", "legacy"])
def test_provider_failures(herd_factory, fake, api, mode, status, http):
    h = herd_factory(topology={"A": []}, places=places_conf(fake, api)).start()
    at = h.iamat("A", b"c", LOC, b"1")
    fake.set_mode(mode)
    first, j, _ = whatsat(h.port("A"), b"c")
    assert first == at
    assert j["status"] == status, j
    assert j["error_message"]
    assert j["results"] == []
    h.syslog.wait_for(r"A: places: .* -> HTTP %s, %s" % (http, status))
    # The node still serves, and recovers when the provider does.
    assert AT_RE.match(h.iamat("A", b"d", LOC, b"2"))
    fake.set_mode("ok")
    _, j, _ = whatsat(h.port("A"), b"c", b"11")
    assert j["status"] == "OK"


def test_timeout_is_unknown_error(herd_factory, fake):
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", timeout_ms=300)).start()
    h.iamat("A", b"c", LOC, b"1")
    fake.set_mode("slow", delay_s=6)
    t0 = time.monotonic()
    _, j, _ = whatsat(h.port("A"), b"c")
    took = time.monotonic() - t0
    # After the 300 ms timeout, long before the provider would answer.
    assert 0.3 <= took < 3, took
    assert j["status"] == "UNKNOWN_ERROR"
    assert "300 ms" in j["error_message"]


def test_unreachable_provider_is_unknown_error(herd_factory):
    with socket.socket() as s:       # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    h = herd_factory(topology={"A": []}, places="key = k\nurl = "
                     "http://127.0.0.1:%d/v1/places:searchNearby" % port
                     ).start()
    h.iamat("A", b"c", LOC, b"1")
    _, j, _ = whatsat(h.port("A"), b"c")
    assert j["status"] == "UNKNOWN_ERROR"
    assert "cannot reach" in j["error_message"]


def test_slow_provider_does_not_delay_iamat(herd_factory, fake):
    """100 WHATSATs in flight on a 2 s provider; an IAMAT on the same node
    is answered about as fast as without them (assert_rtts: 10 times the
    worst round trip measured first, at least 50 ms)."""
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", cache=0) +
                     "\nmax_in_flight = 100").start()
    port = h.port("A")
    for i in range(100):     # 100 distinct locations: 100 distinct queries
        assert AT_RE.match(h.iamat("A", b"w%d" % i, b"+%d.5-%d.25"
                                   % (i % 80, 100 + i % 70), b"1"))
    baseline = rtt_worst(port)
    fake.set_mode("slow", delay_s=2)
    conns = []
    for i in range(100):
        c = Client(port, timeout=15)
        c.send(b"WHATSAT w%d 10 5\n" % i)
        conns.append(c)
    wait_until(lambda: len(searches(fake)) >= 100, 5,
               what="100 provider requests in flight")
    rtts = []
    for i in range(5):
        t0 = time.monotonic()
        assert AT_RE.match(h.iamat("A", b"fast%d" % i, LOC, b"1"))
        rtts.append(time.monotonic() - t0)
    assert_rtts(rtts, baseline, "IAMAT round trip")
    for c in conns:
        first = c.readline()
        assert first.startswith(b"AT A ")
        c.read_until(b"\n\n")
        c.close()


def test_pipelined_whatsat_keeps_reply_order(herd_factory, fake):
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", cache=0)).start()
    at = h.iamat("A", b"o", LOC, b"1")
    fake.set_mode("slow", delay_s=0.3)
    out = exchange(h.port("A"), b"WHATSAT o 10 2\nIAMAT p +1+1 5\n"
                   b"bad\nWHATSAT o 11 3\nIAMAT q +1+1 6")
    parts = out.split(b"\n")
    assert parts[0] == at
    j = json.loads(parts[1])
    assert len(j["results"]) <= 2 and parts[2] == b""
    assert AT_RE.match(parts[3]).group(3) == b"p"
    assert parts[4] == b"? bad"
    assert parts[5] == at
    assert len(json.loads(parts[6])["results"]) <= 3 and parts[7] == b""
    assert AT_RE.match(parts[8]).group(3) == b"q"
    assert parts[9:] == [b""]


def test_identical_queries_coalesce_and_cache(herd_factory, fake):
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", cache=30)).start()
    at = h.iamat("A", b"co", LOC, b"1")
    fake.set_mode("slow", delay_s=0.5)
    conns = [Client(h.port("A")) for _ in range(20)]
    for c in conns:
        c.send(b"WHATSAT co 10 5\n")
    bodies = set()
    for c in conns:
        assert c.readline() == at
        bodies.add(c.read_until(b"\n\n"))
        c.close()
    assert len(bodies) == 1
    assert len(searches(fake)) == 1
    # Served from the cache afterwards: still one provider request.
    fake.set_mode("ok")
    _, j, _ = whatsat(h.port("A"), b"co")
    assert j["status"] == "OK"
    assert len(searches(fake)) == 1
    # A different bound is a different query.
    whatsat(h.port("A"), b"co", b"10", b"6")
    assert len(searches(fake)) == 2


def test_cache_disabled_asks_every_time(herd_factory, fake):
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", cache=0)).start()
    h.iamat("A", b"nc", LOC, b"1")
    whatsat(h.port("A"), b"nc")
    whatsat(h.port("A"), b"nc")
    assert len(searches(fake)) == 2


def test_errors_are_not_cached(herd_factory, fake):
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", cache=30)).start()
    h.iamat("A", b"ec", LOC, b"1")
    fake.set_mode("http500")
    assert whatsat(h.port("A"), b"ec")[1]["status"] == "UNKNOWN_ERROR"
    fake.set_mode("ok")
    assert whatsat(h.port("A"), b"ec")[1]["status"] == "OK"


def test_client_disconnect_mid_request(herd_factory, fake):
    """Clients that vanish while their WHATSATs are in flight (half of
    them half-close, half reset) are cleaned up, their queries are sent
    at most once, and a client beside them is served all along."""
    import struct
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", cache=0)).start()
    at = h.iamat("A", b"dc", LOC, b"1")
    fake.set_mode("slow", delay_s=0.5)
    polite = Client(h.port("A"), timeout=10)
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", h.port("A")))
        s.sendall(b"WHATSAT dc %d 5\nWHATSAT dc 10 5\nIAMAT x +1+1 1\n"
                  % (i + 1))
        if i % 2:                   # vanish: reset, no half-close
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        s.close()
        m = AT_RE.match(polite.request(b"IAMAT p%d +1+1 %d" % (i, i + 1)))
        assert m and m.group(3) == b"p%d" % i
    polite.send(b"WHATSAT dc 33 5\n")
    assert polite.readline() == at
    assert json.loads(polite.readline())["status"] == "OK"
    assert polite.readline() == b""
    polite.close()
    # Every departed client is freed (nothing leaks a session).
    wait_until(lambda: h.stats("A")["clients"] == "0", 10,
               what="every client freed")
    radii = [r["body"]["locationRestriction"]["circle"]["radius"]
             for r in searches(fake)]
    # The half-closed ones still wanted their answers: each was asked
    # exactly once; nothing was asked twice or invented.
    for i in range(0, 20, 2):
        assert radii.count((i + 1) * 1000) == 1, (i, radii)
    assert all(radii.count(r * 1000) <= 1 for r in range(1, 21)
               if r != 10), radii
    assert set(radii) <= {r * 1000 for r in range(1, 21)} | {33000}
    assert radii.count(33000) == 1
    assert h.stop("A") == 0


def test_places_reload_reaches_node(herd_factory, fake):
    h = herd_factory(topology={"A": []},
                     places=places_conf(fake, "new", key=None)).start()
    h.iamat("A", b"rl", LOC, b"1")
    assert whatsat(h.port("A"), b"rl")[1]["status"] == "REQUEST_DENIED"
    h.places = places_conf(fake, "legacy")
    h.write()
    import signal
    h.signal("A", signal.SIGHUP)
    h.syslog.wait_for(r"A: reloaded")
    _, j, _ = whatsat(h.port("A"), b"rl")
    assert j["status"] == "OK"
    assert searches(fake)[-1]["method"] == "GET"
