#!/usr/bin/env python3
"""fake_places.py -- a fake Google Places server for the system tests.

Serves, on a loopback port, the two endpoints a herd node can use:

  POST /v1/places:searchNearby                 Places API (New)
  GET  /maps/api/place/nearbysearch/json       Nearby Search (legacy)

with Google's validation and error shapes, and deterministic places
around the requested centre.  Tests steer it through a control API on
the same port (never recorded):

  POST /_fake/mode      {"mode": "ok"|"slow"|"http500"|"drop"|"garbage"|
                         "http429", "delay_s": 0.5, "count": 25}
  GET  /_fake/mode      the current mode
  GET  /_fake/requests  every places request so far, in arrival order
  POST /_fake/reset     forget the requests, back to mode "ok"

delay_s is slept before every answer (in any mode; "slow" without a
delay_s sleeps 1 s).  count, if given, is how many places exist around
any centre (default: 20 for the New API, 25 for legacy).

Run it standalone:

  python3 tests/fake_places.py [--host 127.0.0.1] [--port 0]
      [--key test-key] [--port-file PATH] [--verbose]

It prints "LISTENING <port>" once bound.  Or import FakePlaces and use
start() / stop() to run it in-process (pytest fixtures).

Python 3 standard library only.
"""

import argparse
import hashlib
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NEW_PATH = "/v1/places:searchNearby"
LEGACY_PATH = "/maps/api/place/nearbysearch/json"
CONTROL_PREFIX = "/_fake/"
MODES = ("ok", "slow", "http500", "drop", "garbage", "http429")
DEFAULT_KEY = "test-key"
NEW_COUNT = 20
LEGACY_COUNT = 25
MAX_RADIUS = 50000.0
MAX_BODY = 1 << 20
METRES_PER_DEGREE = 111320.0

# Top-level fields of a SearchNearbyRequest.
REQUEST_FIELDS = {
    "languageCode", "regionCode", "includedTypes", "excludedTypes",
    "includedPrimaryTypes", "excludedPrimaryTypes", "maxResultCount",
    "locationRestriction", "rankPreference", "routingParameters",
}

# Fields of a Place (v1), so that field masks naming real fields pass
# even when this fake does not generate them.
PLACE_FIELDS = {
    "name", "id", "displayName", "types", "primaryType",
    "primaryTypeDisplayName", "nationalPhoneNumber",
    "internationalPhoneNumber", "formattedAddress",
    "shortFormattedAddress", "postalAddress", "addressComponents",
    "plusCode", "location", "viewport", "rating", "googleMapsUri",
    "websiteUri", "reviews", "regularOpeningHours", "timeZone", "photos",
    "adrFormatAddress", "businessStatus", "priceLevel", "attributions",
    "iconMaskBaseUri", "iconBackgroundColor", "currentOpeningHours",
    "currentSecondaryOpeningHours", "regularSecondaryOpeningHours",
    "editorialSummary", "paymentOptions", "parkingOptions",
    "subDestinations", "fuelOptions", "evChargeOptions",
    "generativeSummary", "areaSummary", "containingPlaces",
    "addressDescriptor", "priceRange", "reviewSummary",
    "evChargeAmenitySummary", "neighborhoodSummary", "googleMapsLinks",
    "userRatingCount", "utcOffsetMinutes", "takeout", "delivery",
    "dineIn", "curbsidePickup", "reservable", "servesBreakfast",
    "servesLunch", "servesDinner", "servesBeer", "servesWine",
    "servesBrunch", "servesVegetarianFood", "outdoorSeating", "liveMusic",
    "menuForChildren", "servesCocktails", "servesDessert", "servesCoffee",
    "goodForChildren", "allowsDogs", "restroom", "goodForGroups",
    "goodForWatchingSports", "accessibilityOptions",
    "pureServiceAreaBusiness", "movedPlace", "movedPlaceId",
}

# Names chosen to exercise escaping: quotes, backslash, UTF-8, emoji.
NAMES = (
    "Royce Hall Caf\u00e9", "The \"Quoted\" Diner", "Back\\slash Books",
    "S\u00e3o Paulo Bakery", "\u6771\u4eac Ramen", "Sunset Motel",
    "Pizza \U0001f355 Place", "Westwood Library", "Bruin Gym",
    "Ocean View Hotel", "Hill Street Pharmacy", "Night Owl Bar",
)
TYPES = (
    ["cafe", "food", "point_of_interest", "establishment"],
    ["restaurant", "food", "point_of_interest", "establishment"],
    ["book_store", "store", "point_of_interest", "establishment"],
    ["bakery", "food", "store", "point_of_interest", "establishment"],
    ["lodging", "point_of_interest", "establishment"],
    ["library", "point_of_interest", "establishment"],
)
PRICE_LEVELS = (
    "PRICE_LEVEL_FREE", "PRICE_LEVEL_INEXPENSIVE", "PRICE_LEVEL_MODERATE",
    "PRICE_LEVEL_EXPENSIVE", "PRICE_LEVEL_VERY_EXPENSIVE",
)
ICON_BASE = "https://maps.gstatic.com/mapfiles/place_api/icons"
AUTHORS = ("Ann Example", "Bob \"B\" Example", "Zo\u00eb Example")
GARBAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title>"
           b"</head><body>\n<h1>Bad Gateway</h1>\n{\"places\": [\n"
           b"</body></html>\n")
PLUS_ALPHABET = "23456789CFGHJMPQRVWX"


def _google_error(code, status, message):
    """A Google API (New) error body."""
    return {"error": {"code": code, "message": message, "status": status}}


def _plus_code(lat, lng):
    """The Open Location Code (plus code) of a point, 10 digits."""
    lat_v = int((lat + 90.0) * 8000)
    lng_v = int((lng + 180.0) * 8000)
    code = ""
    for _ in range(5):
        code = (PLUS_ALPHABET[lat_v % 20] + PLUS_ALPHABET[lng_v % 20] +
                code)
        lat_v //= 20
        lng_v //= 20
    return code[:8] + "+" + code[8:]


def _place_points(lat, lng, radius, count):
    """count (lat, lng) points spread deterministically within radius."""
    pts = []
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    for i in range(count):
        bearing = math.radians(i * 137.50776405)
        dist = 0.9 * radius * math.sqrt((i + 0.5) / max(count, 1))
        plat = lat + dist * math.cos(bearing) / METRES_PER_DEGREE
        plng = lng + dist * math.sin(bearing) / (METRES_PER_DEGREE * coslat)
        plat = max(-90.0, min(90.0, plat))
        plng = (plng + 180.0) % 360.0 - 180.0
        pts.append((round(plat, 7), round(plng, 7)))
    return pts


def _place_id(lat, lng, i):
    """A Google-looking, deterministic place id."""
    h = hashlib.sha256(("%.7f,%.7f,%d" % (lat, lng, i)).encode()).digest()
    alpha = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             "0123456789-_")
    return "ChIJ" + "".join(alpha[b % len(alpha)] for b in h[:23])


def _place_facts(lat, lng, radius, count):
    """Provider-neutral facts about the places around a centre."""
    facts = []
    for i, (plat, plng) in enumerate(_place_points(lat, lng, radius,
                                                   count)):
        pid = _place_id(plat, plng, i)
        types = TYPES[i % len(TYPES)]
        span = 0.0013 + 0.0001 * (i % 5)
        facts.append({
            "i": i, "id": pid, "lat": plat, "lng": plng,
            "name": NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else
                                             " #%d" % (i + 1)),
            "types": types,
            "street": "%d Fake Street" % (100 + 7 * i),
            "city": "Westwood",
            "rating": round(3.0 + (i * 7 % 21) / 10.0, 1),
            "user_ratings_total": 10 + 37 * i,
            "business_status": ("CLOSED_TEMPORARILY" if i % 9 == 8
                                else "OPERATIONAL"),
            "price": i % len(PRICE_LEVELS),
            "open_now": i % 3 != 2,
            "icon_mask": ICON_BASE + "/v2/" + types[0] + "_pinlet",
            "icon": ICON_BASE + "/v1/png_71/generic_business-71.png",
            "icon_bg": "#%06X" % (0x4B96F3 + 0x1111 * (i % 7)),
            "plus": _plus_code(plat, plng),
            "viewport": ((round(plat - span, 7), round(plng - span, 7)),
                         (round(plat + span, 7), round(plng + span, 7))),
            "photo_ref": "AcJnMuF" + pid[4:] + "Photo%d" % i,
            "photo_w": 4032 - 16 * i, "photo_h": 3024 - 12 * i,
            "author": AUTHORS[i % len(AUTHORS)],
            "author_id": 100000000000000000000 + i,
        })
    return facts


def _new_place(f):
    """One Places API (New) place."""
    name = "places/" + f["id"]
    return {
        "name": name,
        "id": f["id"],
        "types": list(f["types"]),
        "formattedAddress": "%s, %s, CA 90024, USA" % (f["street"],
                                                       f["city"]),
        "shortFormattedAddress": "%s, %s" % (f["street"], f["city"]),
        "location": {"latitude": f["lat"], "longitude": f["lng"]},
        "viewport": {
            "low": {"latitude": f["viewport"][0][0],
                    "longitude": f["viewport"][0][1]},
            "high": {"latitude": f["viewport"][1][0],
                     "longitude": f["viewport"][1][1]},
        },
        "rating": f["rating"],
        "userRatingCount": f["user_ratings_total"],
        "businessStatus": f["business_status"],
        "priceLevel": PRICE_LEVELS[f["price"]],
        "displayName": {"text": f["name"], "languageCode": "en"},
        "currentOpeningHours": {"openNow": f["open_now"]},
        "iconMaskBaseUri": f["icon_mask"],
        "iconBackgroundColor": f["icon_bg"],
        "plusCode": {"globalCode": f["plus"],
                     "compoundCode": f["plus"][4:] + " " + f["city"] +
                     ", CA, USA"},
        "photos": [{
            "name": name + "/photos/" + f["photo_ref"],
            "widthPx": f["photo_w"],
            "heightPx": f["photo_h"],
            "authorAttributions": [{
                "displayName": f["author"],
                "uri": "//maps.google.com/maps/contrib/%d" % f["author_id"],
                "photoUri": "//lh3.googleusercontent.com/a/fake%d" % f["i"],
            }],
        }],
    }


def _legacy_place(f):
    """One Nearby Search (legacy) result."""
    return {
        "business_status": f["business_status"],
        "geometry": {
            "location": {"lat": f["lat"], "lng": f["lng"]},
            "viewport": {
                "northeast": {"lat": f["viewport"][1][0],
                              "lng": f["viewport"][1][1]},
                "southwest": {"lat": f["viewport"][0][0],
                              "lng": f["viewport"][0][1]},
            },
        },
        "icon": f["icon"],
        "icon_background_color": f["icon_bg"],
        "icon_mask_base_uri": f["icon_mask"],
        "name": f["name"],
        "opening_hours": {"open_now": f["open_now"]},
        "photos": [{
            "height": f["photo_h"],
            "html_attributions": [
                "<a href=\"https://maps.google.com/maps/contrib/%d\">%s</a>"
                % (f["author_id"], f["author"])],
            "photo_reference": f["photo_ref"],
            "width": f["photo_w"],
        }],
        "place_id": f["id"],
        "plus_code": {"compound_code": f["plus"][4:] + " " + f["city"] +
                      ", CA, USA",
                      "global_code": f["plus"]},
        "price_level": f["price"],
        "rating": f["rating"],
        "reference": f["id"],
        "scope": "GOOGLE",
        "types": list(f["types"]),
        "user_ratings_total": f["user_ratings_total"],
        "vicinity": "%s, %s" % (f["street"], f["city"]),
    }


def _as_double(v):
    """A proto3-JSON double (number or numeric string), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        d = float(v)
    elif isinstance(v, str):
        try:
            d = float(v)
        except ValueError:
            return None
    else:
        return None
    return d if math.isfinite(d) else None


def _as_int32(v):
    """A proto3-JSON int32 (integral number or string), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        n = v
    elif isinstance(v, float) and v.is_integer():
        n = int(v)
    elif isinstance(v, str):
        try:
            n = int(v)
        except ValueError:
            return None
    else:
        return None
    return n if -2 ** 31 <= n < 2 ** 31 else None


class BadRequest(Exception):
    """A 400 INVALID_ARGUMENT answer with Google's message."""


def _check_fields(obj, allowed, where):
    """Reject unknown members the way Google's JSON binding does."""
    for k in obj:
        if k not in allowed:
            raise BadRequest(
                "Invalid JSON payload received. Unknown name \"%s\"%s: "
                "Cannot find field." % (k, " at '%s'" % where if where
                                        else ""))


def _parse_new_request(body):
    """Validate a searchNearby body; (lat, lng, radius, max_count)."""
    if not isinstance(body, dict):
        raise BadRequest("Invalid JSON payload received. Expected an "
                         "object.")
    _check_fields(body, REQUEST_FIELDS, "")
    lr = body.get("locationRestriction")
    if lr is None:
        raise BadRequest("location_restriction is required.")
    if not isinstance(lr, dict):
        raise BadRequest("Invalid value at 'location_restriction', "
                         "expected an object.")
    _check_fields(lr, {"circle"}, "location_restriction")
    circle = lr.get("circle")
    if not isinstance(circle, dict):
        raise BadRequest("location_restriction.circle is required.")
    _check_fields(circle, {"center", "radius"}, "location_restriction.circle")
    center = circle.get("center")
    if not isinstance(center, dict):
        raise BadRequest("location_restriction.circle.center is required.")
    _check_fields(center, {"latitude", "longitude"},
                  "location_restriction.circle.center")
    for k in ("latitude", "longitude"):
        if k not in center:
            raise BadRequest("location_restriction.circle.center.%s is "
                             "required." % k)
    lat = _as_double(center["latitude"])
    lng = _as_double(center["longitude"])
    if lat is None:
        raise BadRequest("Invalid value at 'location_restriction.circle."
                         "center.latitude' (TYPE_DOUBLE), %s"
                         % json.dumps(center["latitude"]))
    if lng is None:
        raise BadRequest("Invalid value at 'location_restriction.circle."
                         "center.longitude' (TYPE_DOUBLE), %s"
                         % json.dumps(center["longitude"]))
    if not -90.0 <= lat <= 90.0:
        raise BadRequest("Invalid latitude. Latitude must be between -90.0 "
                         "and 90.0 degrees inclusive.")
    if not -180.0 <= lng <= 180.0:
        raise BadRequest("Invalid longitude. Longitude must be between "
                         "-180.0 and 180.0 degrees inclusive.")
    if "radius" not in circle:
        raise BadRequest("location_restriction.circle.radius is required.")
    radius = _as_double(circle["radius"])
    if radius is None:
        raise BadRequest("Invalid value at 'location_restriction.circle."
                         "radius' (TYPE_DOUBLE), %s"
                         % json.dumps(circle["radius"]))
    if not 0.0 < radius <= MAX_RADIUS:
        raise BadRequest("Invalid radius. Must be greater than 0.0 and no "
                         "more than 50000.0 meters.")
    count = NEW_COUNT
    if "maxResultCount" in body:
        count = _as_int32(body["maxResultCount"])
        if count is None:
            raise BadRequest("Invalid value at 'max_result_count' "
                             "(TYPE_INT32), %s"
                             % json.dumps(body["maxResultCount"]))
        if not 1 <= count <= 20:
            raise BadRequest("max_result_count must be between 1 and 20, "
                             "inclusive.")
    return lat, lng, radius, count


def _parse_field_mask(mask):
    """The place fields a field mask asks for (None: all)."""
    fields = set()
    everything = False
    for p in mask.split(","):
        p = p.strip()
        if p in ("*", "places", "places.*"):
            everything = True
            continue
        parts = p.split(".")
        if parts[0] == "routingSummaries":
            continue
        if len(parts) < 2 or parts[0] != "places" or \
                parts[1] not in PLACE_FIELDS:
            raise BadRequest("Error expanding 'fields' parameter. Cannot "
                             "find matching fields for path '%s'." % p)
        fields.add(parts[1])
    return None if everything else fields


def _parse_location(s):
    """'LAT,LNG' of the legacy API, or None if invalid."""
    parts = s.split(",")
    if len(parts) != 2:
        return None
    try:
        lat, lng = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        return None
    return lat, lng


class _Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 with keep-alive."""

    protocol_version = "HTTP/1.1"
    server_version = "fake_places/1.0"

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # noqa: D102 (quiet by default)
        if self.server.fake.verbose:
            sys.stderr.write("fake_places: %s - %s\n"
                             % (self.address_string(), fmt % args))

    # -- plumbing -------------------------------------------------------

    def _read_body(self):
        """The request body (Content-Length or chunked), or None if bad."""
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline(65537)
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                if n == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    return data
                if len(data) + n > MAX_BODY:
                    return None
                data += self.rfile.read(n)
                self.rfile.readline(65537)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
        except ValueError:
            return None
        if n < 0 or n > MAX_BODY:
            return None
        return self.rfile.read(n)

    def _send(self, code, body, ctype="application/json; charset=UTF-8",
              headers=None):
        """Answer with a Content-Length so the connection can be reused."""
        if isinstance(body, (dict, list)):
            body = (json.dumps(body, indent=2, ensure_ascii=False) +
                    "\n").encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _send_legacy(self, obj):
        """Legacy answers are pretty-printed like Google's (3 spaces)."""
        body = json.dumps(obj, indent=3, sort_keys=True, separators=(
            ",", " : "), ensure_ascii=False) + "\n"
        self._send(200, body)

    def _handle(self):
        """Dispatch one request."""
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = dict(urllib.parse.parse_qsl(url.query,
                                            keep_blank_values=True))
        raw = self._read_body()
        if raw is None:
            self.close_connection = True
            self._send(400, _google_error(400, "INVALID_ARGUMENT",
                                          "Bad request body."))
            return
        fake = self.server.fake
        if path.startswith(CONTROL_PREFIX):
            self._control(path, raw)
            return
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        mode, delay, count = fake._record({
            "method": self.command,
            "path": path,
            "query": query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
            "time": time.time(),
        })
        if delay > 0 and fake._stopping.wait(delay):
            self.close_connection = True
            return
        if mode == "drop":
            self.close_connection = True
            return
        if mode == "http500":
            self._send(500, _google_error(500, "INTERNAL",
                                          "Internal error encountered."))
            return
        if mode == "http429":
            self._send(429, _google_error(
                429, "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'SearchNearby requests' "
                "and limit 'SearchNearby requests per minute' of service "
                "'places.googleapis.com'."))
            return
        if mode == "garbage":
            self._send(200, GARBAGE, ctype="text/html; charset=UTF-8")
            return
        if path == NEW_PATH and self.command == "POST":
            self._search_new(query, raw, count)
        elif path == LEGACY_PATH and self.command in ("GET", "HEAD"):
            self._search_legacy(query, count)
        else:
            self._send(404, _google_error(
                404, "NOT_FOUND", "The requested URL %s was not found on "
                "this server (method %s)." % (path, self.command)))

    # -- endpoints ------------------------------------------------------

    def _search_new(self, query, raw, total):
        """POST /v1/places:searchNearby."""
        fake = self.server.fake
        key = self.headers.get("X-Goog-Api-Key", query.get("key"))
        if key != fake.key:
            self._send(403, {"error": {
                "code": 403,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "PERMISSION_DENIED",
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "places.googleapis.com"},
                }],
            }})
            return
        try:
            mask = self.headers.get("X-Goog-FieldMask",
                                    query.get("fields",
                                              query.get("$fields")))
            if mask is None or not mask.strip():
                raise BadRequest(
                    "FieldMask is a required parameter. See "
                    "https://cloud.google.com/apis/docs/system-parameters "
                    "on how to provide it. As an example, you can set the "
                    "header 'X-Goog-FieldMask' to value 'places.displayName'"
                    ", 'places.id' to ask for the display name and the id "
                    "of a place. You can also set the value to '*' in "
                    "manual testing to get all the available response "
                    "fields.")
            fields = _parse_field_mask(mask)
            ctype = self.headers.get("Content-Type", "application/json")
            text = raw.decode("utf-8", "replace")
            if ctype.split(";")[0].strip().lower() != "application/json":
                raise BadRequest(
                    "Invalid JSON payload received. Unknown name \"%s\": "
                    "Cannot bind query parameter. Field '%s' could not be "
                    "found in request message." % (text[:80], text[:80]))
            try:
                body = json.loads(raw.decode("utf-8")) if raw else {}
            except (ValueError, UnicodeDecodeError):
                raise BadRequest("Invalid JSON payload received. "
                                 "Unexpected token.")
            lat, lng, radius, count = _parse_new_request(body)
        except BadRequest as e:
            self._send(400, _google_error(400, "INVALID_ARGUMENT", str(e)))
            return
        if total is None:
            total = NEW_COUNT
        places = [_new_place(f) for f in
                  _place_facts(lat, lng, radius, min(count, total))]
        if fields is not None:
            places = [{k: v for k, v in p.items() if k in fields}
                      for p in places]
        self._send(200, {"places": places} if places else {})

    def _search_legacy(self, query, total):
        """GET /maps/api/place/nearbysearch/json."""
        fake = self.server.fake
        if query.get("key") != fake.key:
            self._send_legacy({
                "error_message": "The provided API key is invalid. ",
                "html_attributions": [], "results": [],
                "status": "REQUEST_DENIED"})
            return
        loc = _parse_location(query.get("location", ""))
        try:
            radius = float(query.get("radius", ""))
        except ValueError:
            radius = float("nan")
        if loc is None or not 0.0 < radius <= MAX_RADIUS:
            self._send_legacy({
                "error_message": "Invalid request. Invalid '%s' parameter."
                % ("location" if loc is None else "radius"),
                "html_attributions": [], "results": [],
                "status": "INVALID_REQUEST"})
            return
        if total is None:
            total = LEGACY_COUNT
        results = [_legacy_place(f) for f in
                   _place_facts(loc[0], loc[1], radius, total)]
        answer = {"html_attributions": [], "results": results,
                  "status": "OK" if results else "ZERO_RESULTS"}
        if results:
            answer["next_page_token"] = "AcJnMuG" + hashlib.sha256(
                self.path.encode()).hexdigest()
        self._send_legacy(answer)

    # -- control --------------------------------------------------------

    def _control(self, path, raw):
        """The /_fake/ control API (never recorded)."""
        fake = self.server.fake
        if path == "/_fake/requests" and self.command == "GET":
            self._send(200, fake.requests())
        elif path == "/_fake/reset" and self.command == "POST":
            fake.reset()
            self._send(200, {"mode": "ok", "delay_s": 0.0})
        elif path == "/_fake/mode" and self.command == "GET":
            self._send(200, fake.mode_info())
        elif path == "/_fake/mode" and self.command == "POST":
            try:
                req = json.loads(raw.decode("utf-8"))
                if not isinstance(req, dict):
                    raise ValueError("expected a JSON object")
                fake.set_mode(req.get("mode", "ok"),
                              req.get("delay_s"), req.get("count"))
            except (ValueError, TypeError, UnicodeDecodeError) as e:
                self._send(400, {"error": str(e)})
                return
            self._send(200, fake.mode_info())
        else:
            self._send(404, {"error": "unknown control request %s %s"
                             % (self.command, path)})

    def do_GET(self):  # noqa: N802
        self._handle()

    def do_POST(self):  # noqa: N802
        self._handle()

    def do_HEAD(self):  # noqa: N802
        self._handle()

    def do_PUT(self):  # noqa: N802
        self._handle()

    def do_DELETE(self):  # noqa: N802
        self._handle()


class _Server(ThreadingHTTPServer):
    """Threaded server: one daemon thread per connection."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr, handler, fake):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.fake = fake
        self._conns = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self):
        """Hang up every open connection (idle keep-alive ones too)."""
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # Clients hanging up mid-answer are normal in tests.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


class FakePlaces:
    """The fake Places server, runnable in-process or from the CLI."""

    def __init__(self, host="127.0.0.1", port=0, key=DEFAULT_KEY,
                 verbose=False):
        self.host = host
        self.key = key
        self.verbose = verbose
        self.count = None
        self._lock = threading.Lock()
        self._requests = []
        self._mode = "ok"
        self._delay = 0.0
        self._stopping = threading.Event()
        self._thread = None
        self._server = _Server((host, port), _Handler, self)
        self.port = self._server.server_address[1]

    @property
    def base_url(self):
        """http://host:port of the server."""
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d" % (host, self.port)

    @property
    def url_new(self):
        """The searchNearby endpoint (Places API New)."""
        return self.base_url + NEW_PATH

    @property
    def url_legacy(self):
        """The Nearby Search (legacy) endpoint."""
        return self.base_url + LEGACY_PATH

    def start(self):
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fake-places", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the listening socket."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self._server.close_connections()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def set_mode(self, mode, delay_s=None, count=None):
        """Switch the failure mode (see the module docstring)."""
        if mode not in MODES:
            raise ValueError("mode must be one of %s" % ", ".join(MODES))
        if delay_s is None:
            delay_s = 1.0 if mode == "slow" else 0.0
        if isinstance(delay_s, bool) or \
                not isinstance(delay_s, (int, float)) or \
                not 0 <= delay_s <= 3600:
            raise ValueError("delay_s must be a number of seconds")
        if count is not None and (isinstance(count, bool) or
                                  not isinstance(count, int) or
                                  not 0 <= count <= 1000):
            raise ValueError("count must be an integer 0..1000")
        with self._lock:
            self._mode = mode
            self._delay = float(delay_s)
            self.count = count

    def mode_info(self):
        """The current mode, delay and count."""
        with self._lock:
            return {"mode": self._mode, "delay_s": self._delay,
                    "count": self.count}

    def requests(self):
        """A copy of the recorded requests, oldest first."""
        with self._lock:
            return json.loads(json.dumps(self._requests))

    def reset(self):
        """Forget the requests; back to mode ok."""
        with self._lock:
            self._requests.clear()
            self._mode = "ok"
            self._delay = 0.0
            self.count = None

    def _record(self, req):
        """Record req; the mode, delay and count to answer it with."""
        with self._lock:
            self._requests.append(req)
            return self._mode, self._delay, self.count


def main(argv=None):
    """Command line entry point."""
    ap = argparse.ArgumentParser(description="Fake Google Places server.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default=DEFAULT_KEY)
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    fake = FakePlaces(args.host, args.port, args.key, args.verbose)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % fake.port)
        os.replace(tmp, args.port_file)
    sys.stdout.write("LISTENING %d\n" % fake.port)
    sys.stdout.flush()
    while not done.wait(0.2):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
