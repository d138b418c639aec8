"""Tests of tests/fake_places.py itself (loopback only, a few seconds)."""

import http.client
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS_DIR)

import fake_places  # noqa: E402

KEY = "test-key"
CENTER = (34.068930, -118.445127)
NEW_FIELDS = {
    "name", "id", "types", "formattedAddress", "shortFormattedAddress",
    "location", "viewport", "rating", "userRatingCount", "businessStatus",
    "priceLevel", "displayName", "currentOpeningHours", "iconMaskBaseUri",
    "iconBackgroundColor", "plusCode", "photos",
}
LEGACY_FIELDS = {
    "business_status", "geometry", "icon", "icon_background_color",
    "icon_mask_base_uri", "name", "opening_hours", "photos", "place_id",
    "plus_code", "price_level", "rating", "reference", "scope", "types",
    "user_ratings_total", "vicinity",
}


@pytest.fixture(scope="module")
def server():
    fake = fake_places.FakePlaces("127.0.0.1", 0, KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server):
    server.reset()
    yield server
    server.reset()


def new_body(lat=CENTER[0], lng=CENTER[1], radius=1000.0, count=None,
             **extra):
    body = {"locationRestriction": {"circle": {
        "center": {"latitude": lat, "longitude": lng}, "radius": radius}}}
    if count is not None:
        body["maxResultCount"] = count
    body.update(extra)
    return body


def request(fake, method, path, body=None, headers=None, conn=None):
    """(status, headers, raw body) of one request."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp, data
    finally:
        if own:
            conn.close()


def post_new(fake, body, key=KEY, mask="*", ctype="application/json",
             conn=None):
    headers = {}
    if key is not None:
        headers["X-Goog-Api-Key"] = key
    if mask is not None:
        headers["X-Goog-FieldMask"] = mask
    if ctype is not None:
        headers["Content-Type"] = ctype
    status, resp, data = request(fake, "POST", fake_places.NEW_PATH, body,
                                 headers, conn)
    return status, resp, data


def get_legacy(fake, location="%f,%f" % CENTER, radius="1000", key=KEY,
               conn=None, **extra):
    q = {}
    if location is not None:
        q["location"] = location
    if radius is not None:
        q["radius"] = radius
    if key is not None:
        q["key"] = key
    q.update(extra)
    path = fake_places.LEGACY_PATH + "?" + urllib.parse.urlencode(q)
    return request(fake, "GET", path, conn=conn)


def distance_m(a, b):
    """Great-circle distance in metres."""
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (math.sin((la2 - la1) / 2) ** 2 +
         math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2)
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def assert_google_error(status, data, code, gstatus, text=None):
    assert status == code
    err = json.loads(data)["error"]
    assert err["code"] == code
    assert err["status"] == gstatus
    assert isinstance(err["message"], str) and err["message"]
    if text is not None:
        assert text in err["message"]


# -- Places API (New) ----------------------------------------------------

def test_new_ok(fake):
    status, resp, data = post_new(fake, new_body())
    assert status == 200
    assert resp.getheader("Content-Type").startswith("application/json")
    assert int(resp.getheader("Content-Length")) == len(data)
    places = json.loads(data)["places"]
    assert len(places) == 20
    ids = set()
    for p in places:
        assert set(p) == NEW_FIELDS
        assert p["name"] == "places/" + p["id"]
        ids.add(p["id"])
        loc = (p["location"]["latitude"], p["location"]["longitude"])
        assert distance_m(CENTER, loc) <= 1000
        assert p["viewport"]["low"]["latitude"] < loc[0] < \
            p["viewport"]["high"]["latitude"]
        assert p["priceLevel"] in fake_places.PRICE_LEVELS
        assert isinstance(p["currentOpeningHours"]["openNow"], bool)
        assert isinstance(p["displayName"]["text"], str)
        assert {"globalCode", "compoundCode"} <= set(p["plusCode"])
        ph = p["photos"][0]
        assert ph["name"].startswith(p["name"] + "/photos/")
        assert ph["widthPx"] > 0 and ph["heightPx"] > 0
        assert ph["authorAttributions"][0]["displayName"]
        assert 1.0 <= p["rating"] <= 5.0
        assert isinstance(p["userRatingCount"], int)
    assert len(ids) == 20
    # Deterministic: the same question gets the same answer.
    assert post_new(fake, new_body())[2] == data
    # Centred on the request.
    other = json.loads(post_new(fake, new_body(lat=-33.86, lng=151.2))[2])
    for p in other["places"]:
        loc = (p["location"]["latitude"], p["location"]["longitude"])
        assert distance_m((-33.86, 151.2), loc) <= 1000


@pytest.mark.parametrize("count", [1, 5, 20])
def test_new_max_result_count(fake, count):
    status, _, data = post_new(fake, new_body(count=count))
    assert status == 200
    assert len(json.loads(data)["places"]) == count


def test_new_boundaries(fake):
    for body in (new_body(radius=50000), new_body(radius=0.5),
                 new_body(lat=90, lng=180), new_body(lat=-90, lng=-180),
                 new_body(radius="1000", count="3")):
        status, _, data = post_new(fake, body)
        assert status == 200, data
        for p in json.loads(data)["places"]:
            assert -90 <= p["location"]["latitude"] <= 90
            assert -180 <= p["location"]["longitude"] <= 180


def test_new_field_mask(fake):
    mask = "places.id,places.displayName,places.location"
    status, _, data = post_new(fake, new_body(count=3), mask=mask)
    assert status == 200
    for p in json.loads(data)["places"]:
        assert set(p) == {"id", "displayName", "location"}
    status, _, data = post_new(fake, new_body(count=3), mask="places")
    assert set(json.loads(data)["places"][0]) == NEW_FIELDS
    # Real fields this fake does not generate are fine.
    status, _, data = post_new(fake, new_body(count=1),
                               mask="places.websiteUri, places.id")
    assert status == 200
    assert set(json.loads(data)["places"][0]) == {"id"}
    status, _, data = post_new(fake, new_body(), mask="places.bogus")
    assert_google_error(status, data, 400, "INVALID_ARGUMENT",
                        "places.bogus")


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_new_bad_key(fake, key):
    status, _, data = post_new(fake, new_body(), key=key)
    assert_google_error(status, data, 403, "PERMISSION_DENIED",
                        "API key not valid")


@pytest.mark.parametrize("mask", [None, "", "  "])
def test_new_missing_field_mask(fake, mask):
    status, _, data = post_new(fake, new_body(), mask=mask)
    assert_google_error(status, data, 400, "INVALID_ARGUMENT",
                        "FieldMask is a required parameter")


@pytest.mark.parametrize("body", [
    "not json",
    "[1, 2]",
    "{}",
    {"locationRestriction": "x"},
    {"locationRestriction": {"circle": {"radius": 10}}},
    new_body(lat=90.5),
    new_body(lat=-91),
    new_body(lng=180.01),
    new_body(lat="north"),
    new_body(lat=True),
    new_body(radius=0),
    new_body(radius=-5),
    new_body(radius=50000.5),
    new_body(radius=None),
    new_body(count=0),
    new_body(count=21),
    new_body(count=2.5),
    new_body(count="many"),
    new_body(maxResultsCount=5),
    {"locationRestriction": {"circle": {"center": {"latitude": 1},
                                        "radius": 10}}},
    {"locationRestriction": {"circle": {"center": {"latitude": 1,
                                                   "longitude": 2}}}},
])
def test_new_bad_body(fake, body):
    status, _, data = post_new(fake, body)
    assert_google_error(status, data, 400, "INVALID_ARGUMENT")


def test_new_needs_json_content_type(fake):
    status, _, data = post_new(fake, new_body(),
                               ctype="application/x-www-form-urlencoded")
    assert_google_error(status, data, 400, "INVALID_ARGUMENT",
                        "Cannot bind query parameter")
    status, _, _ = post_new(fake, new_body(),
                            ctype="application/json; charset=utf-8")
    assert status == 200


def test_unknown_path(fake):
    status, _, data = request(fake, "GET", "/v1/places:searchNearby")
    assert_google_error(status, data, 404, "NOT_FOUND")
    status, _, data = request(fake, "GET", "/nope")
    assert status == 404


# -- Nearby Search (legacy) ------------------------------------------------

def test_legacy_ok(fake):
    status, resp, data = get_legacy(fake)
    assert status == 200
    assert int(resp.getheader("Content-Length")) == len(data)
    text = data.decode()
    assert "\n   \"html_attributions\" : []" in text
    doc = json.loads(text)
    assert list(doc) == ["html_attributions", "next_page_token", "results",
                         "status"]
    assert doc["status"] == "OK"
    assert doc["html_attributions"] == []
    assert isinstance(doc["next_page_token"], str) and doc["next_page_token"]
    assert len(doc["results"]) >= 25
    for r in doc["results"]:
        assert set(r) == LEGACY_FIELDS
        assert r["place_id"] == r["reference"]
        loc = r["geometry"]["location"]
        assert distance_m(CENTER, (loc["lat"], loc["lng"])) <= 1000
        assert {"northeast", "southwest"} == set(r["geometry"]["viewport"])
        assert r["price_level"] in range(5)
        assert isinstance(r["opening_hours"]["open_now"], bool)
        assert {"height", "html_attributions", "photo_reference",
                "width"} == set(r["photos"][0])
        assert {"compound_code", "global_code"} == set(r["plus_code"])
    assert get_legacy(fake)[2] == data


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_legacy_bad_key(fake, key):
    status, _, data = get_legacy(fake, key=key)
    assert status == 200
    assert json.loads(data) == {
        "error_message": "The provided API key is invalid. ",
        "html_attributions": [], "results": [], "status": "REQUEST_DENIED"}


@pytest.mark.parametrize("location,radius", [
    (None, "1000"), ("", "1000"), ("34.0", "1000"), ("a,b", "1000"),
    ("91,0", "1000"), ("0,181", "1000"), ("nan,0", "1000"),
    ("34,-118", None), ("34,-118", "0"), ("34,-118", "-1"),
    ("34,-118", "50001"), ("34,-118", "x"), ("34,-118", "inf"),
])
def test_legacy_invalid_request(fake, location, radius):
    status, _, data = get_legacy(fake, location=location, radius=radius)
    assert status == 200
    doc = json.loads(data)
    assert doc["status"] == "INVALID_REQUEST"
    assert doc["results"] == [] and doc["html_attributions"] == []


def test_legacy_boundaries(fake):
    for loc, radius in (("90,180", "50000"), ("-90,-180", "0.5"),
                        ("+34.068930,-118.445127", "10")):
        status, _, data = get_legacy(fake, location=loc, radius=radius)
        assert status == 200
        assert json.loads(data)["status"] == "OK"


def test_count_zero(fake):
    fake.set_mode("ok", count=0)
    status, _, data = post_new(fake, new_body())
    assert status == 200 and json.loads(data) == {}
    status, _, data = get_legacy(fake)
    doc = json.loads(data)
    assert doc["status"] == "ZERO_RESULTS" and doc["results"] == []
    assert "next_page_token" not in doc


# -- modes ---------------------------------------------------------------

def set_mode_http(fake, **req):
    status, _, data = request(fake, "POST", "/_fake/mode", req,
                              {"Content-Type": "application/json"})
    return status, json.loads(data)


def test_mode_control_api(fake):
    status, doc = set_mode_http(fake, mode="http500", delay_s=0.0)
    assert status == 200 and doc["mode"] == "http500"
    assert json.loads(request(fake, "GET", "/_fake/mode")[2])["mode"] == \
        "http500"
    assert set_mode_http(fake, mode="bogus")[0] == 400
    assert set_mode_http(fake, mode="slow", delay_s=-1)[0] == 400
    assert set_mode_http(fake, mode="slow", delay_s="x")[0] == 400
    status, _, _ = request(fake, "POST", "/_fake/mode", "not json")
    assert status == 400
    status, _, data = request(fake, "POST", "/_fake/reset")
    assert status == 200
    assert fake.mode_info()["mode"] == "ok"
    with pytest.raises(ValueError):
        fake.set_mode("bogus")


def test_mode_slow(fake):
    set_mode_http(fake, mode="slow", delay_s=0.3)
    t0 = time.monotonic()
    status, _, data = post_new(fake, new_body(count=2))
    assert time.monotonic() - t0 >= 0.3
    assert status == 200 and len(json.loads(data)["places"]) == 2
    t0 = time.monotonic()
    status, _, data = get_legacy(fake)
    assert time.monotonic() - t0 >= 0.3
    assert json.loads(data)["status"] == "OK"


def test_mode_slow_concurrent(fake):
    fake.set_mode("slow", delay_s=0.5)
    results = []

    def one(i):
        if i % 2:
            results.append(post_new(fake, new_body(count=1))[0])
        else:
            results.append(get_legacy(fake)[0])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(30)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    assert results == [200] * 30
    # Concurrent: well under a third of the 15 s that one at a time takes.
    assert 0.5 <= elapsed < 30 * 0.5 / 3, elapsed


@pytest.mark.parametrize("mode,code,gstatus", [
    ("http500", 500, "INTERNAL"),
    ("http429", 429, "RESOURCE_EXHAUSTED"),
])
def test_mode_http_errors(fake, mode, code, gstatus):
    fake.set_mode(mode)
    status, _, data = post_new(fake, new_body())
    assert_google_error(status, data, code, gstatus)
    status, _, data = get_legacy(fake)
    assert_google_error(status, data, code, gstatus)
    if mode == "http500":
        assert json.loads(data)["error"]["message"] == \
            "Internal error encountered."


def test_mode_garbage(fake):
    fake.set_mode("garbage")
    for status, resp, data in (post_new(fake, new_body()),
                               get_legacy(fake)):
        assert status == 200
        assert int(resp.getheader("Content-Length")) == len(data) > 0
        with pytest.raises(ValueError):
            json.loads(data)


def test_mode_drop(fake):
    fake.set_mode("drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        post_new(fake, new_body())
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get_legacy(fake)
    assert len(fake.requests()) == 2
    fake.set_mode("ok")
    assert post_new(fake, new_body())[0] == 200


def test_mode_delay_with_error(fake):
    fake.set_mode("http500", delay_s=0.2)
    t0 = time.monotonic()
    assert post_new(fake, new_body())[0] == 500
    assert time.monotonic() - t0 >= 0.2


# -- recording and connections ---------------------------------------------

def test_recording(fake):
    t0 = time.time()
    post_new(fake, new_body(count=3), mask="places.id")
    get_legacy(fake, extra="a b")
    request(fake, "POST", fake_places.NEW_PATH, "garbage{",
            {"X-Goog-Api-Key": KEY, "X-Goog-FieldMask": "*",
             "Content-Type": "application/json"})
    request(fake, "GET", "/_fake/requests")
    request(fake, "POST", "/_fake/mode", {"mode": "ok"})
    status, _, data = request(fake, "GET", "/_fake/requests")
    assert status == 200
    reqs = json.loads(data)
    assert reqs == fake.requests()
    assert [(r["method"], r["path"]) for r in reqs] == [
        ("POST", fake_places.NEW_PATH), ("GET", fake_places.LEGACY_PATH),
        ("POST", fake_places.NEW_PATH)]
    r0, r1, r2 = reqs
    assert r0["headers"]["x-goog-api-key"] == KEY
    assert r0["headers"]["x-goog-fieldmask"] == "places.id"
    assert r0["headers"]["content-type"] == "application/json"
    assert all(k == k.lower() for k in r0["headers"])
    assert r0["body"] == new_body(count=3)
    assert r0["query"] == {}
    assert r1["query"] == {"location": "%f,%f" % CENTER, "radius": "1000",
                           "key": KEY, "extra": "a b"}
    assert r1["body"] is None
    assert r2["body"] is None
    assert t0 <= r0["time"] <= r1["time"] <= r2["time"] <= time.time()
    status, _, _ = request(fake, "POST", "/_fake/reset")
    assert status == 200
    assert fake.requests() == []


def test_keep_alive(fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        post_new(fake, new_body(count=1), conn=conn)
        sock = conn.sock
        assert sock is not None
        for _ in range(3):
            status, resp, _ = post_new(fake, new_body(count=2), conn=conn)
            assert status == 200 and not resp.will_close
            status, resp, _ = get_legacy(fake, conn=conn)
            assert status == 200 and not resp.will_close
            status, resp, _ = post_new(fake, new_body(), key="bad",
                                       conn=conn)
            assert status == 403 and not resp.will_close
        assert conn.sock is sock
    finally:
        conn.close()
    assert len(fake.requests()) == 10


def test_urls(server):
    assert server.url_new == "http://127.0.0.1:%d/v1/places:searchNearby" \
        % server.port
    assert server.url_legacy == \
        "http://127.0.0.1:%d/maps/api/place/nearbysearch/json" % server.port


def test_other_key_and_stop():
    with fake_places.FakePlaces(key="other") as f:
        assert post_new(f, new_body(), key="other")[0] == 200
        assert post_new(f, new_body(), key=KEY)[0] == 403
        # An idle keep-alive connection does not hold up stop().
        conn = http.client.HTTPConnection("127.0.0.1", f.port, timeout=5)
        post_new(f, new_body(), key="other", conn=conn)
    conn.close()


def test_cli(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, os.path.join(TESTS_DIR, "fake_places.py"),
         "--host", "127.0.0.1", "--port", "0", "--key", "cli-key",
         "--port-file", str(port_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("LISTENING ")
        port = int(line.split()[1])
        assert port > 0
        assert int(port_file.read_text()) == port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", fake_places.LEGACY_PATH +
                     "?location=1,2&radius=10&key=cli-key")
        assert json.loads(conn.getresponse().read())["status"] == "OK"
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
