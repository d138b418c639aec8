"""The supervisor's status page ([herd] http): /status.json, its limits,
and the page itself in a real headless Chromium (first render with
--dump-dom, the live update through chromedriver's W3C HTTP API)."""
import base64
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import (DEFAULT_TOPOLOGY, Client, exchange, free_ports,
                      wait_until)
from test_herdctl import ctl_factory  # noqa: F401 (fixture)


def http_ctl(ctl_factory):  # noqa: F811
    port = free_ports(1)[0]
    c = ctl_factory(extra="http = 127.0.0.1:%d\n" % port)
    c.http = "http://127.0.0.1:%d" % port
    c.http_port = port
    c.start()
    wait_until(lambda: all(s["peers_up"] == s["peers"]
                           for s in c.status().values()), 10,
               what="every link up")
    return c


def get(url, method="GET", data=None, timeout=5):
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def raw(port, data):
    """Send data, read until the server closes (no half-close: the
    server answers and closes by itself)."""
    return exchange(port, data, half_close=False)


def default_links():
    return sorted((a, b) for a, ns in DEFAULT_TOPOLOGY.items() for b in ns)


def test_status_json(ctl_factory):  # noqa: F811
    c = http_ctl(ctl_factory)
    code, headers, body = get(c.http + "/status.json")
    assert code == 200
    assert headers["Content-Type"] == "application/json"
    st = json.loads(body)
    assert set(st) == {"servers", "links"}
    mine = {s["name"]: s for s in st["servers"]}
    ctl = c.status()
    assert set(mine) == set(ctl) == set(DEFAULT_TOPOLOGY)
    for name, s in mine.items():
        assert set(s) == set(ctl[name])
        assert s["pid"] == ctl[name]["pid"]
        assert s["state"] == "running"
    assert sorted((l["from"], l["to"]) for l in st["links"]) == \
        default_links()
    assert all(l["up"] is True for l in st["links"])

    # clients and requests (client lines, a neighbour's HELLO among them:
    # at least the 3 IAMATs) as the servers report them, once a second.
    def hill():
        st = json.loads(get(c.http + "/status.json")[2])
        return {s["name"]: s for s in st["servers"]}["Hill"]
    before = hill()["requests"]
    for i in range(3):
        assert c.iamat("Hill", b"kiwi%d" % i).startswith(b"AT Hill ")
    wait_until(lambda: hill()["requests"] >= before + 3, 10,
               what="Hill's requests counted")
    held = Client(c.ports["Hill"])
    try:
        wait_until(lambda: hill()["clients"] == 1, 10,
                   what="Hill's client counted")
    finally:
        held.close()
    wait_until(lambda: hill()["clients"] == 0, 10, what="client gone")

    c.run("stop", "Smith", check=0)

    def smith_down():
        st = json.loads(get(c.http + "/status.json")[2])
        ok = all(l["up"] is ("Smith" not in (l["from"], l["to"]))
                 for l in st["links"])
        return ok and st
    st = wait_until(smith_down, 10, what="Smith's links down")
    assert {s["name"]: s["state"] for s in st["servers"]}["Smith"] == \
        "stopped"


def test_page_is_self_contained(ctl_factory):  # noqa: F811
    c = http_ctl(ctl_factory)
    code, headers, body = get(c.http + "/")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert "<svg" in page and "/status.json" in page
    # Nothing from elsewhere: no URL with a scheme or a protocol-relative
    # one (the SVG namespace is a name, not a fetch).
    urls = re.findall(r"(?:https?:)?//[\w.-]+", page)
    assert set(urls) <= {"http://www.w3.org"}, urls
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|@import", page)


def test_http_limits(ctl_factory):  # noqa: F811
    c = http_ctl(ctl_factory)
    assert get(c.http + "/", method="POST", data=b"x" * 100)[0] == 405
    assert get(c.http + "/nope")[0] == 404
    assert raw(c.http_port, b"garbage\r\n\r\n").startswith(
        b"HTTP/1.1 400 ")
    huge = b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
    assert raw(c.http_port, huge).startswith(b"HTTP/1.1 431 ")
    # Slowloris: a head that trickles in a byte every 2 s and never ends
    # is closed once the server's 10 s for a head are up, while others
    # are served.
    slow = socket.create_connection(("127.0.0.1", c.http_port))
    slow.sendall(b"GET / HTTP/1.1\r\nX: ")
    assert get(c.http + "/status.json")[0] == 200
    slow.settimeout(2)
    t0 = time.monotonic()
    closed = False
    while not closed and time.monotonic() - t0 < 30:
        try:
            closed = slow.recv(100) == b""
        except socket.timeout:
            try:
                slow.sendall(b"a")
            except OSError:
                closed = True
        except OSError:
            closed = True
    assert closed, "a trickling head was never cut off"
    slow.close()

    # Past 1,024 connections the excess is closed at once; the herd's
    # clients and, once they go, the page are served as before.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    held = []
    try:
        for _ in range(1024):
            held.append(socket.create_connection(("127.0.0.1",
                                                  c.http_port)))
        # All 1,024 are the server's once one more is refused.
        extra = socket.create_connection(("127.0.0.1", c.http_port))
        extra.settimeout(10)

        def refused():
            try:
                return extra.recv(1) == b""
            except ConnectionResetError:
                return True
        assert refused()
        extra.close()
        assert c.iamat("Hill", b"kiwi").startswith(b"AT Hill ")
    finally:
        for s in held:
            s.close()
    wait_until(lambda: get(c.http + "/status.json")[0] == 200, 10,
               what="the page served again")
    assert c.sanitizer_reports() == []


def test_off_when_unset(ctl_factory):  # noqa: F811
    c = ctl_factory()
    c.start()
    text = open(c.ini).read()
    assert "http" not in text
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True,
                         text=True).stdout
    mine = [l for l in out.splitlines() if "pid=%d," % c.sup_pid in l]
    assert mine == [], mine


def test_bad_http_value(tmp_path):
    from test_herdctl import HERDCTL
    for bad in ("12080", "localhost:12080", "127.0.0.1:0",
                "127.0.0.1:70000", "[::1]", "1.2.3.4:"):
        ini = tmp_path / "b.ini"
        ini.write_text("[herd]\nhttp = %s\n[server:A]\nport = 5\n" % bad)
        p = subprocess.run([HERDCTL, "-c", str(ini), "check"],
                           capture_output=True, text=True)
        assert p.returncode == 1 and "bad http" in p.stderr, (bad, p.stderr)
    ini.write_text("[herd]\nhttp = [::1]:8080\n[server:A]\nport = 5\n")
    assert subprocess.run([HERDCTL, "-c", str(ini), "check"]).returncode == 0


# --- the page in a real browser -------------------------------------------

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (tests/deps.sh)")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run",
               "--window-size=900,800"]


def browser_env(tmp):
    return dict(os.environ, HOME=str(tmp), XDG_CONFIG_HOME=str(tmp),
                XDG_CACHE_HOME=str(tmp))


@needs_chromium
def test_page_first_render(ctl_factory, tmp_path):  # noqa: F811
    c = http_ctl(ctl_factory)
    p = subprocess.run([CHROMIUM] + CHROME_ARGS + [
        "--user-data-dir=%s" % (tmp_path / "profile"),
        "--virtual-time-budget=5000", "--dump-dom", c.http + "/"],
        capture_output=True, text=True, timeout=120,
        env=browser_env(tmp_path))
    dom = p.stdout
    nodes = re.findall(r'<g id="node-(\w+)" data-state="(\w+)"', dom)
    assert sorted(nodes) == sorted((n, "running") for n in DEFAULT_TOPOLOGY), \
        (dom[-3000:], p.stderr[-2000:])
    links = re.findall(r'<line id="link-(\w+)-(\w+)" class="(\w+)" '
                       r'data-up="(\w+)"', dom)
    assert sorted(links) == sorted((a, b, "up", "true") for a, b in
                                   default_links() if a < b)
    rows = re.findall(r'<tr id="srv-(\w+)" data-state="(\w+)"', dom)
    assert sorted(rows) == sorted(nodes)


class Driver:
    """chromedriver's W3C WebDriver HTTP API, with urllib."""

    def __init__(self, tmp):
        self.port = free_ports(1)[0]
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, "--port=%d" % self.port],
            stdout=open(tmp / "chromedriver.log", "w"),
            stderr=subprocess.STDOUT, env=browser_env(tmp))
        self.base = "http://127.0.0.1:%d" % self.port
        wait_until(lambda: self._ready(), 30, interval=0.1,
                   what="chromedriver")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": CHROME_ARGS + ["--user-data-dir=%s"
                                       % (tmp / "profile2")]}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def _ready(self):
        try:
            return self.call("GET", "/status")["ready"]
        except OSError:
            return False

    def call(self, method, path, body=None, timeout=60):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method, headers={
                                         "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())["value"]

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.session, path),
                         body)

    def js(self, script):
        return self.s("POST", "/execute/sync", {"script": script,
                                                "args": []})

    def close(self):
        try:
            self.call("DELETE", "/session/%s" % self.session, timeout=10)
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


DOM_STATE = """
var out = {marker: window.__herdMarker || null, nodes: {}, rows: {},
           links: {}};
document.querySelectorAll('g[id^="node-"]').forEach(function (g) {
  out.nodes[g.id.slice(5)] = g.getAttribute('data-state'); });
document.querySelectorAll('tr[id^="srv-"]').forEach(function (t) {
  out.rows[t.id.slice(4)] = t.getAttribute('data-state'); });
document.querySelectorAll('line[id^="link-"]').forEach(function (l) {
  out.links[l.id.slice(5)] = l.getAttribute('data-up'); });
return out;
"""


@needs_chromium
def test_page_live_update(ctl_factory, tmp_path):  # noqa: F811
    c = http_ctl(ctl_factory)
    d = Driver(tmp_path)
    try:
        d.s("POST", "/url", {"url": c.http + "/"})
        names = set(DEFAULT_TOPOLOGY)
        pairs = {"%s-%s" % p for p in default_links() if p[0] < p[1]}

        def rendered():
            st = d.js(DOM_STATE)
            return (set(st["nodes"]) == names and set(st["links"]) == pairs
                    and all(v == "true" for v in st["links"].values())
                    and st)
        wait_until(rendered, 10, what="first render")
        d.js("window.__herdMarker = 'no reload'; return 1;")

        c.run("stop", "Smith", check=0)
        t0 = time.monotonic()

        def smith_down():
            st = d.js(DOM_STATE)
            want = {k: "false" if "Smith" in k.split("-") else "true"
                    for k in pairs}
            return (st["nodes"].get("Smith") == "stopped" and
                    st["rows"].get("Smith") == "stopped" and
                    st["links"] == want and st)
        st = wait_until(smith_down, 10, what="Smith stopped on the page")
        elapsed = time.monotonic() - t0
        assert st["marker"] == "no reload"
        assert elapsed < 2.0, "the page took %.2f s" % elapsed
        png = base64.b64decode(d.s("GET", "/screenshot"))
        assert png.startswith(b"\x89PNG")
        (tmp_path / "status-page.png").write_bytes(png)
        if os.environ.get("HERD_SCREENSHOT"):
            with open(os.environ["HERD_SCREENSHOT"], "wb") as f:
                f.write(png)
    finally:
        d.close()


def test_reload_moves_the_page(ctl_factory):  # noqa: F811
    c = http_ctl(ctl_factory)
    new = free_ports(1)[0]
    c.write(extra="http = 127.0.0.1:%d\n" % new)
    c.run("reload", check=0)
    assert get("http://127.0.0.1:%d/status.json" % new)[0] == 200
    with pytest.raises(OSError):
        get(c.http + "/status.json")
    c.write(extra="")
    c.run("reload", check=0)
    with pytest.raises(OSError):
        get("http://127.0.0.1:%d/status.json" % new)
