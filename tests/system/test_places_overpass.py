"""WHATSAT through api = overpass: real libcurl HTTP against the fake
Overpass server (tests/fake_overpass.py)."""
import json
import signal

import pytest

from conftest import Client, exchange, wait_until
from fake_overpass import FakeOverpass, distance, elements_around

LOC = b"+34.068930-118.445127"
LAT, LON = 34.06893, -118.445127


@pytest.fixture
def fake():
    f = FakeOverpass().start()
    yield f
    f.stop()


def conf(fake, extra="", timeout_ms=8000, cache=30):
    return "\n".join(["api = overpass", "url = %s" % fake.url,
                      "timeout_ms = %d" % timeout_ms,
                      "cache_ttl_s = %d" % cache, extra])


def whatsat(port, cid, radius=b"10", bound=b"5", timeout=10):
    raw = exchange(port, b"WHATSAT %s %s %s\n" % (cid, radius, bound),
                   timeout=timeout)
    assert raw.endswith(b"\n\n") and not raw.endswith(b"\n\n\n"), raw[-40:]
    first, body = raw[:-2].split(b"\n", 1)
    assert b"\n" not in body
    return first, json.loads(body)


def answers(h, lines):
    """Send each WHATSAT line on its own connection, all at once; the
    parsed answers, in order."""
    conns = []
    for line in lines:
        c = Client(h.port("A"), timeout=15)
        c.send(line + b"\n")
        conns.append(c)
    out = []
    for c in conns:
        assert c.readline().startswith(b"AT A ")
        out.append(json.loads(c.readline()))
        assert c.readline() == b""
        c.close()
    return out


def statuses(h, lines):
    return [j["status"] for j in answers(h, lines)]


@pytest.fixture
def start(herd_factory, fake):
    def make(extra="", **kw):
        h = herd_factory(topology={"A": []},
                         places=conf(fake, extra, **kw)).start()
        h.iamat("A", b"c", LOC, b"1")
        return h
    return make


def test_request_is_overpass_ql_with_user_agent(start, fake):
    h = start(timeout_ms=4500)
    _, j = whatsat(h.port("A"), b"c", b"2.5", b"7")
    assert j["status"] == "OK"
    (req,) = fake.requests()
    assert req["method"] == "POST" and req["path"] == "/api/interpreter"
    assert req["headers"]["content-type"] == \
        "application/x-www-form-urlencoded"
    assert req["headers"]["user-agent"] == "herd/0.1"
    assert req["raw"].startswith("data=%5Bout%3Ajson%5D")
    ql = req["ql"]
    assert ql.startswith("[out:json][timeout:4];(")
    for kind in ("node", "way"):
        for key in ("amenity", "tourism", "shop", "leisure"):
            assert "%s[%s](around:2500,34.068930,-118.445127);" % (
                kind, key) in ql
    # Rings of 2500 m, halved down to 10 m at most 6: eight statements
    # and max(50, 5 x 7) elements each, smallest first.
    rings = [78.0, 156.0, 312.0, 625.0, 1250.0, 2500.0]
    assert req["around"] == [[r, LAT, LON] for r in rings for _ in range(8)]
    assert req["blocks"] == [[r, 50] for r in rings]
    assert ql.endswith(");out center 50;")
    whatsat(h.port("A"), b"c", b"2.5", b"20")
    assert fake.requests()[-1]["out"] == 100     # 5 x 20
    # A small radius has fewer rings: none under 10 m.
    whatsat(h.port("A"), b"c", b"0.03", b"1")
    assert fake.requests()[-1]["blocks"] == [[15.0, 50], [30.0, 50]]


def test_answer_sorted_nearest_first_named_only_and_cut(start, fake):
    h = start()
    first, j = whatsat(h.port("A"), b"c", b"1", b"8")
    assert first.startswith(b"AT A ")
    assert j["status"] == "OK"
    assert j["html_attributions"] == ["\u00a9 OpenStreetMap contributors"]
    els = elements_around(LAT, LON, 1000, 30)
    named = [e for e in els if "name" in e["tags"]]
    assert len(named) < len(els)          # the fake sends unnamed ones

    def pos(e):
        c = e.get("center", e)
        return c["lat"], c["lon"]
    named.sort(key=lambda e: distance(LAT, LON, *pos(e)))
    want = named[:8]
    got = j["results"]
    assert [r["place_id"] for r in got] == \
        ["osm:%s/%d" % (e["type"], e["id"]) for e in want]
    assert any(r["place_id"].startswith("osm:way/") for r in got)
    dists = [distance(LAT, LON, r["geometry"]["location"]["lat"],
                      r["geometry"]["location"]["lng"]) for r in got]
    assert dists == sorted(dists)
    # Overpass's own order (by id) is not the answer's.
    assert [r["place_id"] for r in got] != sorted(
        (r["place_id"] for r in got))
    for r, e in zip(got, want):
        assert r["name"] == e["tags"]["name"]
        lat, lon = pos(e)
        assert r["geometry"]["location"] == {"lat": lat, "lng": lon}
        (key, value), = [(k, v) for k, v in e["tags"].items()
                         if k in ("amenity", "tourism", "shop", "leisure")]
        assert r["types"] == [value] + (["store"] if key == "shop" else []) \
            + ["point_of_interest", "establishment"]
        t = e["tags"]
        parts = []
        if "addr:street" in t:
            parts.append("%s %s" % (t["addr:housenumber"], t["addr:street"]))
        if "addr:city" in t:
            parts.append(t["addr:city"])
        if parts:
            assert r["vicinity"] == ", ".join(parts)
        else:
            assert "vicinity" not in r


def test_only_unnamed_elements_is_zero_results(start, fake):
    h = start()
    fake.set_mode("unnamed")
    _, j = whatsat(h.port("A"), b"c")
    assert j["status"] == "ZERO_RESULTS" and j["results"] == []
    assert len(fake.requests()) == 1


@pytest.mark.parametrize("mode,words", [
    ("http504", "HTTP 504"),
    ("garbage", "not JSON"),
    ("remark", "Query timed out"),
    ("huge", "larger than"),
])
def test_provider_failures_are_unknown_error(start, fake, mode, words):
    h = start()
    fake.set_mode(mode)
    _, j = whatsat(h.port("A"), b"c")
    assert j["status"] == "UNKNOWN_ERROR", j
    assert words in j["error_message"]
    # Not cached, and no backoff: the next one asks and succeeds.
    fake.set_mode("ok")
    _, j = whatsat(h.port("A"), b"c")
    assert j["status"] == "OK"
    assert len(fake.requests()) == 2


def test_slow_server_times_out_as_unknown_error(start, fake):
    h = start(timeout_ms=300)
    fake.set_mode("slow", delay_s=30)
    _, j = whatsat(h.port("A"), b"c")       # answered long before 30 s
    assert j["status"] == "UNKNOWN_ERROR"
    assert "did not answer within 300 ms" in j["error_message"]


@pytest.mark.parametrize("mode", ["http429", "rate_limited"])
def test_rate_limit_backs_off_without_requests(start, fake, mode):
    h = start("backoff_s = 2")
    fake.set_mode(mode)
    _, j = whatsat(h.port("A"), b"c")
    assert j["status"] == "OVER_QUERY_LIMIT", j
    fake.set_mode("ok")
    # In the window: answered at once, nothing sent, nothing cached.
    for radius in (b"3", b"4", b"10"):
        _, j = whatsat(h.port("A"), b"c", radius)
        assert j["status"] == "OVER_QUERY_LIMIT"
        assert "backoff_s" in j["error_message"]
    assert len(fake.requests()) == 1
    # After it, requests flow again.
    wait_until(lambda: whatsat(h.port("A"), b"c")[1]["status"] == "OK",
               10, interval=0.2, what="the backoff window to end")
    assert len(fake.requests()) == 2


def test_backoff_zero_disables_it(start, fake):
    h = start("backoff_s = 0")
    fake.set_mode("http429")
    assert whatsat(h.port("A"), b"c")[1]["status"] == "OVER_QUERY_LIMIT"
    fake.set_mode("ok")
    assert whatsat(h.port("A"), b"c")[1]["status"] == "OK"
    assert len(fake.requests()) == 2


def test_queued_queries_are_not_sent_in_the_backoff(start, fake):
    """WHATSATs waiting for one of the 2 slots when a 429 arrives are
    answered OVER_QUERY_LIMIT, not sent."""
    h = start(cache=0)
    fake.set_mode("http429", delay_s=0.5)
    lines = [b"WHATSAT c %d 5" % (i + 1) for i in range(6)]
    assert statuses(h, lines) == ["OVER_QUERY_LIMIT"] * 6
    assert len(fake.requests()) == 2


def test_max_in_flight_defaults_to_two(start, fake):
    h = start(cache=0)
    fake.set_mode("slow", delay_s=0.3)
    lines = [b"WHATSAT c %d 3" % (i + 1) for i in range(8)]
    assert statuses(h, lines) == ["OK"] * 8
    assert len(fake.requests()) == 8
    assert fake.max_open == 2


def test_explicit_max_in_flight_is_kept(start, fake):
    h = start("max_in_flight = 4", cache=0)
    fake.set_mode("slow", delay_s=0.5)
    lines = [b"WHATSAT c %d 3" % (i + 1) for i in range(8)]
    assert statuses(h, lines) == ["OK"] * 8
    assert fake.max_open == 4


def test_cache_and_coalescing(start, fake):
    h = start()
    fake.set_mode("slow", delay_s=0.4)
    bodies = set(json.dumps(j) for j in answers(h, [b"WHATSAT c 10 5"] * 6))
    assert len(bodies) == 1 and len(fake.requests()) == 1
    _, j = whatsat(h.port("A"), b"c")
    assert j["status"] == "OK" and len(fake.requests()) == 1


def test_custom_user_agent_is_sent(start, fake):
    h = start("user_agent = herd-test/2.0 (ops@example.org)")
    whatsat(h.port("A"), b"c")
    assert fake.requests()[0]["headers"]["user-agent"] == \
        "herd-test/2.0 (ops@example.org)"


@pytest.mark.parametrize("ua", ["curl/8.1.2", "python-requests/2.31",
                                "Wget/1.21", "libcurl"])
def test_stock_user_agent_is_refused(herd_factory, fake, ua):
    import subprocess
    from conftest import NODE
    h = herd_factory(topology={"A": []},
                     places=conf(fake, "user_agent = %s" % ua))
    p = subprocess.run([NODE, "-c", h.ini, "--stderr", "A"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    line = [i for i, l in enumerate(open(h.ini).read().split("\n"), 1)
            if l.startswith("user_agent")][0]
    assert "herd.ini:%d: user_agent '%s' is a stock agent" % (line, ua) \
        in p.stderr


def test_reload_keeps_backoff_for_same_server_new_server_ends_it(
        herd_factory, fake):
    other = FakeOverpass().start()
    try:
        h = herd_factory(topology={"A": []},
                         places=conf(fake, "backoff_s = 600")).start()
        h.iamat("A", b"c", LOC, b"1")
        fake.set_mode("http429")
        assert whatsat(h.port("A"), b"c")[1]["status"] == "OVER_QUERY_LIMIT"
        fake.set_mode("ok")
        # Same server, another user agent: still quiet.
        h.places = conf(fake, "backoff_s = 600\nuser_agent = herd-x/1")
        h.write()
        h.signal("A", signal.SIGHUP)
        h.syslog.wait_for(r"A: places: api overpass, .*herd-x/1")
        assert whatsat(h.port("A"), b"c", b"9")[1]["status"] == \
            "OVER_QUERY_LIMIT"
        assert len(fake.requests()) == 1
        # Another server: no quiet owed to it.
        h.places = conf(other, "backoff_s = 600")
        h.write()
        h.signal("A", signal.SIGHUP)
        h.syslog.wait_for(r"A: places: api overpass, endpoint %s"
                          % other.url)
        assert whatsat(h.port("A"), b"c", b"9")[1]["status"] == "OK"
        assert len(other.requests()) == 1
        assert len(fake.requests()) == 1
    finally:
        other.stop()
