#!/usr/bin/env python3
"""fake_overpass.py -- a fake Overpass API server for the system tests.

Serves POST /api/interpreter on a loopback port the way the public
Overpass instances do: a form body data=<Overpass QL>, a JSON answer
{"version":0.6,"generator":...,"elements":[...]} with nodes (lat/lon)
and ways ("out center": a center object), in type then id order, not
nearest first.  It records every request (method, path, headers, raw
body, the decoded QL and what it asked for) and how many were open at
once.  Failure modes (set_mode or the control API):

  ok            named and unnamed nodes and ways around the centre
  empty         no elements
  unnamed       only elements without a name tag
  http429       HTTP 429 with the rate_limited HTML page
  rate_limited  HTTP 200 whose text body is the rate_limited page
  http504       HTTP 504 Gateway Timeout (the server is too busy)
  remark        HTTP 200 JSON with a "runtime error" remark
  garbage       HTTP 200 with a truncated, not-JSON body
  huge          HTTP 200 with a valid JSON answer over 5 MB
  slow          ok after delay_s (default 1 s)

delay_s is slept before every answer in any mode; count (default 30) is
how many elements exist within the query's largest radius.  A query of
several "(...);out center N;" blocks (herd's rings) is answered block by
block, as Overpass does: each block's N lowest ids among the elements
within its own radius, the outputs one after the other (an element in
two blocks appears twice).  Control API on the same port
(never recorded):

  POST /_fake/mode      {"mode": ..., "delay_s": 0.5, "count": 30}
  GET  /_fake/requests  every request so far, oldest first
  POST /_fake/reset     forget the requests, back to mode "ok"

Run standalone: python3 tests/fake_overpass.py [--host H] [--port P]
(prints "LISTENING <port>"), or import FakeOverpass and start()/stop().
Python 3 standard library only.
"""

import argparse
import copy
import json
import math
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/api/interpreter"
MODES = ("ok", "empty", "unnamed", "http429", "rate_limited", "http504",
         "remark", "garbage", "huge", "slow")
DEFAULT_COUNT = 30
MAX_BODY = 1 << 16
METRES_PER_DEGREE = 111320.0
RATE_LIMITED_PAGE = (
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<html><head>"
    "<title>OSM3S Response</title></head><body>\n<p><strong style=\"color:"
    "#FF0000\">Error</strong>: runtime error: open64: 0 Success "
    "/osm3s_osm_base Dispatcher_Client::request_read_and_idx::rate_limited."
    " Please check /api/status for the quota of your IP address. </p>\n"
    "</body></html>\n")
GATEWAY_TIMEOUT_PAGE = (
    "<html><head><title>504 Gateway Timeout</title></head><body>"
    "<h1>Gateway Timeout</h1><p>The server is probably too busy to handle"
    " your request.</p></body></html>\n")
GARBAGE = b'{"version":0.6,"elements":[{"type":"node","id":1,"lat":'
AROUND_RE = re.compile(r"\(around:([0-9.]+),(-?[0-9.]+),(-?[0-9.]+)\)")
OUT_RE = re.compile(r"out center (\d+);")
BLOCK_RE = re.compile(r"\((.*?)\);out center (\d+);")
TIMEOUT_RE = re.compile(r"^\[out:json\]\[timeout:(\d+)\];")
TAGS = (("amenity", "cafe"), ("tourism", "museum"), ("shop", "bakery"),
        ("leisure", "park"), ("amenity", "restaurant"))
NAMES = ("Caf\u00e9 \"Royce\"", "Fowler Museum", "Westwood Bakery",
         "Sunset Park", "\u6771\u4eac Ramen")


def distance(lat1, lon1, lat2, lon2):
    """Great-circle distance in metres (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = (math.sin(dp / 2) ** 2 +
         math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2)
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(a)))


def elements_around(lat, lon, radius, count, named=True, unnamed=True):
    """count elements within radius of lat,lon: every third a way with a
    center, every fifth unnamed; ids unrelated to the distance, sorted as
    Overpass sorts them (nodes, then ways, each by id)."""
    out = []
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    for i in range(count):
        bearing = math.radians(i * 137.50776405)
        dist = 0.9 * radius * math.sqrt((i + 0.5) / max(count, 1))
        plat = round(lat + dist * math.cos(bearing) / METRES_PER_DEGREE, 7)
        plon = round(lon + dist * math.sin(bearing) /
                     (METRES_PER_DEGREE * coslat), 7)
        key, value = TAGS[i % len(TAGS)]
        tags = {key: value}
        is_named = i % 5 != 4
        if (is_named and not named) or (not is_named and not unnamed):
            continue
        if is_named:
            tags["name"] = NAMES[i % len(NAMES)] + " #%d" % i
        if i % 2 == 0:
            tags["addr:housenumber"] = str(100 + i)
            tags["addr:street"] = "Fake Street"
        if i % 4 == 0:
            tags["addr:city"] = "Westwood"
        el_id = 1000 + (i * 7919) % 10007
        if i % 3 == 2:
            out.append({"type": "way", "id": el_id,
                        "center": {"lat": plat, "lon": plon},
                        "nodes": [1, 2, 3], "tags": tags})
        else:
            out.append({"type": "node", "id": el_id, "lat": plat,
                        "lon": plon, "tags": tags})
    out.sort(key=lambda e: (e["type"] != "node", e["id"]))
    return out


def position(e):
    """(lat, lon) of a node, or of a way's center."""
    c = e.get("center", e)
    return c["lat"], c["lon"]


def answer(elements):
    """An Overpass JSON answer holding elements."""
    return {"version": 0.6, "generator": "fake_overpass",
            "osm3s": {"timestamp_osm_base": "2026-01-01T00:00:00Z",
                      "copyright": "The data included in this document is"
                      " from www.openstreetmap.org. The data is made"
                      " available under ODbL."},
            "elements": elements}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-overpass/1"

    def log_message(self, fmt, *args):
        if self.server.fake.verbose:
            sys.stderr.write("fake_overpass: " + fmt % args + "\n")

    def _send(self, code, body, ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(n, MAX_BODY)) if n > 0 else b""

    def do_GET(self):  # noqa: N802
        self._handle()

    def do_POST(self):  # noqa: N802
        self._handle()

    def _handle(self):
        path = urllib.parse.urlsplit(self.path).path
        raw = self._body()
        if path.startswith("/_fake/"):
            self._control(path, raw)
            return
        fake = self.server.fake
        req = {"method": self.command, "path": path,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "raw": raw.decode("latin-1"), "t": time.monotonic()}
        form = urllib.parse.parse_qs(raw.decode("latin-1"),
                                     keep_blank_values=True)
        ql = form.get("data", [""])[0]
        req["ql"] = ql
        around = AROUND_RE.findall(ql)
        out = OUT_RE.search(ql)
        tmo = TIMEOUT_RE.search(ql)
        req["around"] = [[float(x) for x in a] for a in around]
        req["out"] = int(out.group(1)) if out else None
        req["blocks"] = [[float(AROUND_RE.search(b).group(1)), int(n)]
                         for b, n in BLOCK_RE.findall(ql)
                         if AROUND_RE.search(b)]
        req["timeout"] = int(tmo.group(1)) if tmo else None
        mode, delay, count = fake._begin(req)
        try:
            self._answer(mode, delay, count, path, req)
        finally:
            fake._end()

    def _answer(self, mode, delay, count, path, req):
        if delay > 0 or mode == "slow":
            time.sleep(delay if delay > 0 else 1.0)
        if path != PATH or req["method"] != "POST":
            self._send(404, "not found\n", "text/plain")
            return
        if not req["around"] or req["out"] is None:
            self._send(400, "<p>Error: line 1: parse error</p>\n",
                       "text/html")
            return
        radius = max(a[0] for a in req["around"])
        _, lat, lon = req["around"][0]
        if mode == "http429":
            self._send(429, RATE_LIMITED_PAGE, "text/html; charset=utf-8")
        elif mode == "rate_limited":
            self._send(200, RATE_LIMITED_PAGE, "text/plain")
        elif mode == "http504":
            self._send(504, GATEWAY_TIMEOUT_PAGE, "text/html")
        elif mode == "garbage":
            self._send(200, GARBAGE)
        elif mode == "remark":
            doc = answer([])
            doc["remark"] = ("runtime error: Query timed out in \"query\""
                             " at line 1 after 2 seconds.")
            self._send(200, doc)
        elif mode == "huge":
            els = elements_around(lat, lon, radius, count)
            pad = "x" * 1000
            doc = answer(els + [{"type": "node", "id": 900000 + i,
                                 "lat": lat, "lon": lon,
                                 "tags": {"note": pad}}
                                for i in range(5500)])
            self._send(200, doc)
        else:
            els = [] if mode == "empty" else elements_around(
                lat, lon, radius, count, named=mode != "unnamed")
            out = []
            for r, n in req["blocks"]:
                out += [e for e in els
                        if distance(lat, lon, *position(e)) <= r][:n]
            self._send(200, answer(out))

    def _control(self, path, raw):
        fake = self.server.fake
        if path == "/_fake/requests":
            self._send(200, fake.requests())
        elif path == "/_fake/reset" and self.command == "POST":
            fake.reset()
            self._send(200, {"mode": "ok"})
        elif path == "/_fake/mode" and self.command == "POST":
            try:
                req = json.loads(raw.decode("utf-8"))
                fake.set_mode(req.get("mode", "ok"), req.get("delay_s"),
                              req.get("count"))
            except (ValueError, TypeError, AttributeError) as e:
                self._send(400, {"error": str(e)})
                return
            self._send(200, {"mode": fake.mode})
        else:
            self._send(404, {"error": "unknown control request"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr, handler, fake):
        self.fake = fake
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


class FakeOverpass:
    """The fake Overpass server, in-process or from the command line."""

    def __init__(self, host="127.0.0.1", port=0, verbose=False):
        self.verbose = verbose
        self._lock = threading.Lock()
        self._requests = []
        self.mode = "ok"
        self._delay = 0.0
        self._count = DEFAULT_COUNT
        self.open = 0           # requests being answered now
        self.max_open = 0       # the most at once
        self._thread = None
        self._server = _Server((host, port), _Handler, self)
        self.port = self._server.server_address[1]
        self.url = "http://%s:%d%s" % (host, self.port, PATH)

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def set_mode(self, mode, delay_s=None, count=None):
        if mode not in MODES:
            raise ValueError("mode must be one of %s" % ", ".join(MODES))
        if delay_s is not None and not 0 <= float(delay_s) <= 3600:
            raise ValueError("delay_s must be 0..3600")
        if count is not None and not 0 <= int(count) <= 100000:
            raise ValueError("count must be 0..100000")
        with self._lock:
            self.mode = mode
            self._delay = float(delay_s or 0.0)
            self._count = DEFAULT_COUNT if count is None else int(count)

    def requests(self):
        """A copy of the recorded requests, oldest first."""
        with self._lock:
            return copy.deepcopy(self._requests)

    def reset(self):
        """Forget the requests and the most open at once; mode ok."""
        self.set_mode("ok")
        with self._lock:
            self._requests.clear()
            self.max_open = self.open

    def _begin(self, req):
        with self._lock:
            self._requests.append(req)
            self.open += 1
            self.max_open = max(self.max_open, self.open)
            return self.mode, self._delay, self._count

    def _end(self):
        with self._lock:
            self.open -= 1


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Overpass API server.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    fake = FakeOverpass(args.host, args.port, args.verbose).start()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print("LISTENING %d" % fake.port, flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:       # SIGINT or SIGTERM
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
