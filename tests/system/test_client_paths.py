"""Client-session paths the happy-path tests never take: a partial line
that is always already started, SIGTERM with WHATSATs in flight, and the
bound on provider requests (max_in_flight, its waiting queue, clients
that vanish, a provider changed by reload), and out of memory."""
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import AT_RE, NODE, Client, wait_until
from fake_places import FakePlaces
from test_places import KEY, LOC, fake, places_conf, searches, whatsat

assert fake  # a fixture, used by name


def one_node(herd_factory, fake_server=None, herd_extra="", places_extra="",
             cache=0):
    """A lone node A, pointed at fake_server when given."""
    places = ""
    if fake_server is not None:
        places = places_conf(fake_server, "new", cache=cache)
    return herd_factory(topology={"A": []}, herd_extra=herd_extra,
                        places=places + "\n" + places_extra).start()


def read_to_eof(c):
    """Everything c receives until the server closes."""
    out = [c.buf]
    c.buf = b""
    while True:
        b = c.sock.recv(65536)
        if not b:
            return b"".join(out)
        out.append(b)


def split_whatsat(data):
    """(AT line, parsed JSON, rest) of the WHATSAT reply at the head of
    data, checking its framing: line, JSON without a blank line, "\\n\\n"."""
    first, rest = data.split(b"\n", 1)
    body, rest = rest.split(b"\n\n", 1)
    assert b"\n" not in body, body[:200]
    return first, json.loads(body), rest


def reset_close(s):
    """Close s with a RST (the client vanishes, no half-close)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))
    s.close()


def closed(s, timeout):
    """True once the server closed s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while s.recv(4096):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# --- item 5: the partial-line deadline ---------------------------------------

def test_partial_line_deadline_restarts_with_each_line(herd_factory):
    """A client whose reads always end mid-line (it completes a line every
    200 ms and has always started the next) is served for 2.5x
    line_timeout_s; one that keeps the same line partial is dropped."""
    h = one_node(herd_factory, herd_extra="line_timeout_s = 2")
    active = Client(h.port("A"), timeout=5)
    slow = socket.create_connection(("127.0.0.1", h.port("A")))
    slow.sendall(b"IAMAT slow")
    active.send(b"IAMAT p0")
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < 5.0:
        time.sleep(0.2)
        active.send(b" +1+1 %d\nIAMAT p%d" % (i + 1, i + 1))
        try:
            slow.sendall(b"x")       # the same line grows, never ends
        except OSError:
            pass
        m = AT_RE.match(active.readline())
        assert m and m.group(3) == b"p%d" % i, "reply %d" % i
        i += 1
    assert i >= 10
    assert closed(slow, timeout=5)
    h.syslog.wait_for(r"A: client \d+: partial line deadline passed")
    active.send(b" +1+1 99\n")
    assert AT_RE.match(active.readline()).group(3) == b"p%d" % i
    active.close()
    slow.close()


# --- item 6: SIGTERM with WHATSATs in flight ---------------------------------

def sigterm_in_flight(herd_factory, fake, delay, requests, nsearches):
    """Send requests to a lone node while its provider takes delay s,
    SIGTERM it once nsearches reached the provider, and return (the AT
    line of client w, all the node then sent, seconds until it exited 0)."""
    h = one_node(herd_factory, fake)
    at = h.iamat("A", b"w", LOC, b"1")
    fake.set_mode("slow", delay_s=delay)
    c = Client(h.port("A"), timeout=20)
    c.send(requests)
    wait_until(lambda: len(searches(fake)) == nsearches, 5,
               what="the requests at the provider")
    t0 = time.monotonic()
    h.signal("A", signal.SIGTERM)
    out = read_to_eof(c)
    c.close()
    assert h.procs["A"].wait(20) == 0
    return at, out, time.monotonic() - t0


def test_sigterm_answers_whatsat_in_flight_then_what_follows(herd_factory,
                                                            fake):
    """A WHATSAT whose provider outlasts the grace period is answered with
    a legacy-shaped UNKNOWN_ERROR "server shutting down", and the replies
    queued behind it (an IAMAT, a bad line) follow in order."""
    at, out, took = sigterm_in_flight(
        herd_factory, fake, 60, b"WHATSAT w 10 5\nIAMAT y +1+1 2\nbad\n", 1)
    first, j, rest = split_whatsat(out)
    assert first == at
    assert j == {"html_attributions": [], "results": [],
                 "status": "UNKNOWN_ERROR",
                 "error_message": "server shutting down"}
    lines = rest.split(b"\n")
    m = AT_RE.match(lines[0])
    assert m and m.group(3) == b"y" and m.group(5) == b"2"
    assert lines[1:] == [b"? bad", b""]
    # The grace period, not the provider (60 s), bounds the stop.
    assert took < 60 / 2


def test_sigterm_lets_whatsat_in_flight_finish_within_grace(herd_factory,
                                                           fake):
    """A provider answering within the grace period: the real answers."""
    at, out, _ = sigterm_in_flight(
        herd_factory, fake, 0.3, b"WHATSAT w 10 4\nWHATSAT w 12 3\n", 2)
    for bound in (4, 3):
        first, j, out = split_whatsat(out)
        assert first == at
        assert j["status"] == "OK" and len(j["results"]) == bound
    assert out == b""


# --- item 7: the bound on provider requests ---------------------------------

def test_max_in_flight_bounds_provider_requests(herd_factory, fake):
    """One client varying the radius: never more than max_in_flight
    requests at the provider at once; every reply arrives, in order."""
    d = 0.4
    h = one_node(herd_factory, fake, places_extra="max_in_flight = 2")
    h.syslog.wait_for(r"A: places: .* max_in_flight 2")
    at = h.iamat("A", b"m", LOC, b"1")
    fake.set_mode("slow", delay_s=d)
    c = Client(h.port("A"), timeout=30)
    c.send(b"".join(b"WHATSAT m %d 5\n" % (r + 1) for r in range(8)))
    for r in range(8):
        assert c.readline() == at
        j = json.loads(c.readline())
        assert j["status"] == "OK", j
        assert c.readline() == b""
    reqs = searches(fake)
    assert sorted(q["body"]["locationRestriction"]["circle"]["radius"]
                  for q in reqs) == [1000 * (r + 1) for r in range(8)]
    t = sorted(q["time"] for q in reqs)
    # With at most 2 running, the k-th arrival (two running ones may
    # arrive in either order) comes only after the (k-2)-th or (k-1)-th
    # was answered, which the fake does d after its arrival.
    for k in range(2, 8):
        assert t[k] - t[k - 2] >= d * 0.95, (k, t)
    c.close()


def test_waiting_queue_full_is_over_query_limit(herd_factory, fake):
    """max_in_flight = 1: one query runs, 4 wait, the next distinct ones
    get OVER_QUERY_LIMIT at once; an identical one still joins its twin;
    the replies stay in request order."""
    h = one_node(herd_factory, fake, places_extra="max_in_flight = 1")
    at = h.iamat("A", b"q", LOC, b"1")
    fake.set_mode("slow", delay_s=0.2)
    c = Client(h.port("A"), timeout=30)
    c.send(b"".join(b"WHATSAT q %d 5\n" % (r + 1) for r in range(8)) +
           b"WHATSAT q 2 5\nIAMAT z +1+1 3\n")
    out = b""
    while out.count(b"\n\n") < 9:
        try:
            out += c.sock.recv(65536)
        except socket.timeout:
            raise AssertionError((out, h.log("A")[-3000:]))
    statuses = []
    for _ in range(9):
        first, j, out = split_whatsat(out)
        assert first == at
        statuses.append((j["status"], j.get("error_message")))
    ok = ("OK", None)
    over = ("OVER_QUERY_LIMIT", "too many places queries in flight")
    assert statuses == [ok] * 5 + [over] * 3 + [ok]
    c.buf = out
    assert AT_RE.match(c.readline()).group(3) == b"z"
    assert len(searches(fake)) == 5
    h.syslog.wait_for(r"A: places: max_in_flight \(1\) and 4 waiting:"
                      r" refused 1 query so far")
    c.close()


def test_vanished_client_frees_its_provider_slots(herd_factory, fake):
    """A client that sends WHATSATs and vanishes (RST) holds no provider
    slot: its running request is abandoned, its waiting ones are never
    sent, and the next client's query starts at once."""
    d = 1.0
    h = one_node(herd_factory, fake, places_extra="max_in_flight = 1")
    at = h.iamat("A", b"v", LOC, b"1")
    fake.set_mode("slow", delay_s=d)
    s = socket.create_connection(("127.0.0.1", h.port("A")))
    s.sendall(b"".join(b"WHATSAT v %d 5\n" % (r + 1) for r in range(4)))
    wait_until(lambda: len(searches(fake)) == 1, 5, what="the request")
    reset_close(s)
    h.syslog.wait_for(r"A: places: POST \S+ abandoned: its clients are"
                      r" gone")
    first, j, _ = whatsat(h.port("A"), b"v", b"20", b"3")
    assert first == at and j["status"] == "OK"
    # Waiting queries run in order: had any of the three been kept, it
    # would have been sent before this one.
    radii = [q["body"]["locationRestriction"]["circle"]["radius"]
             for q in searches(fake)]
    assert radii == [1000, 20000]
    wait_until(lambda: h.stats("A")["clients"] == "0", 5,
               what="no client left")


def test_reload_never_caches_or_shares_the_old_providers_answer(
        herd_factory, fake):
    """A request in flight to the old provider across a reload to another
    url answers its own client, but its answer is not cached, and a new
    identical query does not join it: the new provider is asked."""
    other = FakePlaces(key=KEY).start()
    try:
        h = one_node(herd_factory, fake, cache=30)
        at = h.iamat("A", b"r", LOC, b"1")

        def across_reload(old, new, radius):
            """A WHATSAT in flight to old while the node moves to new."""
            old.set_mode("slow", delay_s=1.0)
            n_old, n_new = len(searches(old)), len(searches(new))
            c = Client(h.port("A"), timeout=20)
            c.send(b"WHATSAT r %s 5\n" % radius)
            wait_until(lambda: len(searches(old)) == n_old + 1, 5,
                       what="request to the old provider")
            before = len(h.syslog.drain())
            h.places = places_conf(new, "new", cache=30)
            h.write()
            h.signal("A", signal.SIGHUP)
            wait_until(lambda: any("A: reloaded" in l for l in
                                   h.syslog.drain()[before:]), 5,
                       what="reloaded")
            return c, n_new

        # Cache: the old answer arrives after the reload; the same query
        # afterwards must go to the new provider.
        c, n_new = across_reload(fake, other, b"10")
        assert c.readline() == at
        assert json.loads(c.readline())["status"] == "OK"
        assert c.readline() == b""
        c.close()
        first, j, _ = whatsat(h.port("A"), b"r", b"10")
        assert first == at and j["status"] == "OK"
        assert len(searches(other)) == n_new + 1
        whatsat(h.port("A"), b"r", b"10")         # now from the cache
        assert len(searches(other)) == n_new + 1

        # Sharing: the same query sent while the old one is in flight.
        c, n_new = across_reload(other, fake, b"11")
        first, j, _ = whatsat(h.port("A"), b"r", b"11")
        assert first == at and j["status"] == "OK"
        assert len(searches(fake)) == n_new + 1
        assert c.readline() == at
        c.close()
    finally:
        other.stop()


# --- out of memory: fatal, never a dropped reply ------------------------------

FAIL_CALLOC = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
extern void *__libc_calloc(size_t, size_t);
/* calloc fails for one size while the trigger file exists. */
void *
calloc(size_t n, size_t size)
{
	static size_t fail = 0;
	const char *e, *trigger;

	if (fail == 0)
		fail = (e = getenv("FAIL_CALLOC_SIZE")) ? strtoul(e, 0, 10) : 1;
	trigger = getenv("FAIL_CALLOC_TRIGGER");
	if (n * size == fail && trigger && access(trigger, F_OK) == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}
"""


def test_out_of_memory_for_a_whatsat_is_fatal_not_a_dropped_reply(
        herd_factory, tmp_path):
    """No memory for a WHATSAT's reply entry: the node logs it and exits 1
    (to be restarted) instead of dropping that reply and sending the next
    one in its place."""
    ldd = subprocess.run(["ldd", NODE], capture_output=True, text=True)
    if "asan" in ldd.stdout or "ubsan" in ldd.stdout:
        pytest.skip("LD_PRELOAD fault injection needs a plain build")
    src = tmp_path / "failcalloc.c"
    src.write_text(FAIL_CALLOC)
    so = tmp_path / "failcalloc.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src)],
                   check=True)
    trigger = tmp_path / "fail-now"
    # sizeof(struct places_entry) on x86_64/aarch64 LP64.
    h = herd_factory(topology={"A": []}, env={
        "LD_PRELOAD": str(so), "FAIL_CALLOC_SIZE": "80",
        "FAIL_CALLOC_TRIGGER": str(trigger)}).start()
    c = Client(h.port("A"), timeout=10)
    assert AT_RE.match(c.request(b"IAMAT w +1+1 1"))   # session set up
    trigger.touch()
    c.send(b"WHATSAT w 10 5\nIAMAT y +1+1 2\n")
    assert read_to_eof(c) == b""       # nothing sent out of order
    assert h.procs["A"].wait(10) == 1
    assert "places_query: Cannot allocate memory" in h.log("A")
    os.unlink(trigger)
    c.close()
