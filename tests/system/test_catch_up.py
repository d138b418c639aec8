"""Catch-up between neighbours: herd/2 sends only what differs (digest
tree, fingerprints), herd/1 the whole store; a herd/2 server falls back
to herd/1 with a neighbour that only speaks herd/1 (a rolling upgrade)."""
import os
import socket

import pytest

from conftest import Client, wait_until

LOC = b"+34.068930-118.445127"
N = int(os.environ.get("HERD_TEST_CATCH_UP_N", "100000"))


def load(herd, name, n, prefix=b"r", t0=1000):
    """n pipelined IAMATs at name; returns the bytes of the AT lines the
    store now holds for them (what a full catch-up stream carries)."""
    c = Client(herd.port(name), timeout=60)
    total = 0
    try:
        for k in range(0, n, 2000):
            m = min(2000, n - k)
            c.send(b"".join(b"IAMAT %s%d %s %d.5\n" % (prefix, i, LOC, t0 + i)
                            for i in range(k, k + m)))
            for _ in range(m):
                line = c.readline()
                assert line.startswith(b"AT "), line
                total += len(line) + 1
    finally:
        c.close()
    return total


def records(herd, name):
    return int(herd.stats(name)["records"])


def diverge(herd):
    """A and B with N identical records, then 20 changes made on A while
    B is down and 17 made on B while A is down (3 of them to the same
    clients, newer on B).  Returns (full-stream bytes, the newest AT line
    of every changed client)."""
    herd.start("A")
    full = load(herd, "A", N)
    herd.start("B")
    wait_until(lambda: records(herd, "B") == N, 120, interval=0.2,
               what="B to catch up %d records" % N)
    assert herd.stop("B") == 0
    newest = {}
    for i in range(20):         # 10 updates, 10 new clients, on A
        cid = b"r%d" % (i * 997 % N) if i < 10 else b"a-new%d" % i
        newest[cid] = herd.iamat("A", cid, LOC, b"%d.25" % (10 ** 7 + i))
    assert herd.stop("A") == 0
    herd.start("B")
    for i in range(17):         # 9 updates (3 also changed on A), 8 new
        cid = (b"r%d" % (i * 997 % N) if i < 3 else
               b"r%d" % (i * 991 % N + 1) if i < 9 else b"b-new%d" % i)
        newest[cid] = herd.iamat("B", cid, LOC, b"%d.75" % (10 ** 8 + i))
    assert herd.stop("B") == 0
    return 2 * full, newest


def converge(herd, newest):
    """Start both; wait until each holds the newest line of every changed
    client and both hold the union; the catch-up bytes both sent."""
    herd.start("A", "B")
    for cid, line in sorted(newest.items()):
        for name in ("A", "B"):
            wait_until(lambda: held(herd, name, cid) == line, 30,
                       what="%s to hold %r" % (name, line))
    wait_until(lambda: records(herd, "A") == records(herd, "B") ==
               N + 18, 30, what="both stores to hold the union")
    return sum(int(herd.stats(n)["sync_bytes_out"]) for n in ("A", "B"))


def held(herd, name, cid):
    """The stored AT line of cid (an older IAMAT echoes the stored one)."""
    c = Client(herd.port(name))
    try:
        return c.request(b"IAMAT %s %s 0.1" % (cid, LOC))
    finally:
        c.close()


def persisting(herd_factory, tmp_path, extra=""):
    return herd_factory(topology={"A": ["B"], "B": ["A"]},
                        herd_extra="data_dir = %s\nreconcile_s = 0\n%s"
                        % (tmp_path / "data", extra))


def test_catch_up_sends_only_the_difference(herd_factory, tmp_path):
    herd = persisting(herd_factory, tmp_path)
    full, newest = diverge(herd)
    sent = converge(herd, newest)
    print("herd/2 catch-up: %d bytes; a full stream: %d" % (sent, full))
    assert "(herd/2)" in herd.log("A")
    # The exchange: digests, fingerprints, the changed records.
    assert sent < full / 100, (
        "catch-up sent %d bytes, a full stream is %d" % (sent, full))


def test_herd1_catch_up_sends_everything(herd_factory, tmp_path):
    # The same divergence with peer_protocol = 1: the whole store goes
    # both ways (the counters count what the test above relies on).
    herd = persisting(herd_factory, tmp_path, "peer_protocol = 1\n")
    full, newest = diverge(herd)
    sent = converge(herd, newest)
    print("herd/1 catch-up: %d bytes; a full stream: %d" % (sent, full))
    assert "(herd/1)" in herd.log("A")
    assert sent >= full * 0.99, (sent, full)


def test_empty_server_gets_everything_by_difference(herd_factory):
    herd = herd_factory(topology={"A": ["B"], "B": ["A"]},
                        herd_extra="reconcile_s = 0\n").start("A")
    n = min(N, 20000)
    load(herd, "A", n)
    herd.start("B")
    wait_until(lambda: records(herd, "B") == n, 60, interval=0.1,
               what="B to hold all %d" % n)
    # By difference: A sent every record in catch-up (whole buckets, or
    # after fingerprints when the link's other connection got there
    # first), not as floods.
    assert "(herd/2)" in herd.log("A")
    assert int(herd.stats("A")["sync_out"]) >= n
    for i in (0, n // 2, n - 1):
        assert held(herd, "B", b"r%d" % i) == held(herd, "A", b"r%d" % i)


def old_server(port_sock, name, seen):
    """Play a herd/1-only server on the listening socket: '?' to a herd/2
    HELLO (what a herd/1 node answers to a line it cannot parse), the
    herd/1 handshake otherwise; then collect what arrives."""
    while True:
        s, _ = port_sock.accept()
        s.settimeout(10)
        f = s.makefile("rb")
        hello = f.readline()
        seen.append(hello)
        if hello.split()[1] != b"herd/1":
            s.sendall(b"? " + hello)
            s.close()
            continue
        frm = hello.split()[2].decode()
        s.sendall(("WELCOME herd/1 %s %s -\n" % (name, "7" * 32)).encode())
        assert f.readline() == b"AUTH -\n"
        while True:
            line = f.readline()
            if not line:
                return
            seen.append(line)
            if line.startswith(b"SYNCED "):
                seen.append(("done", frm))
                s.close()
                return


def test_falls_back_to_herd1_for_an_old_neighbour(herd_factory):
    import threading

    herd = herd_factory(topology={"A": ["B"], "B": ["A"]})
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", herd.port("B")))
    lsock.listen(4)
    seen = []
    t = threading.Thread(target=old_server, args=(lsock, "B", seen),
                         daemon=True)
    t.start()
    try:
        herd.start("A")
        at = herd.iamat("A", b"old-way", LOC, b"5")
        herd.syslog.wait_for(r"A: peer B: speaks herd/1 only", timeout=10)
        t.join(20)
        assert seen[0].startswith(b"HELLO herd/2 A B ")
        assert any(x == b"HELLO herd/1 A B " + x[17:] for x in seen
                   if isinstance(x, bytes) and x.startswith(b"HELLO herd/1"))
        assert at + b"\n" in seen, "the full herd/1 stream never came"
        assert seen[-1] == ("done", "A")
    finally:
        lsock.close()


@pytest.mark.parametrize("pinned", ["A", "B"])
def test_mixed_versions_converge(herd_factory, tmp_path, pinned):
    # One side pinned to herd/1 (peer_protocol = 1) by its own INI: the
    # link speaks herd/1 both ways and the stores still converge.
    herd = herd_factory(topology={"A": ["B"], "B": ["A"]})
    herd.start(*[n for n in "AB" if n != pinned])
    other = herd.ini + "." + pinned
    with open(herd.ini) as f, open(other, "w") as g:
        g.write(f.read().replace("[herd]\n", "[herd]\npeer_protocol = 1\n",
                                 1))
    herd.ini, saved = other, herd.ini
    try:
        herd.start(pinned)
    finally:
        herd.ini = saved
    herd.syslog.wait_for(r"A: peer B: (in|out)bound connection established"
                         r" \(herd/1\)", timeout=10)
    a = herd.iamat("A", b"x", LOC, b"1")
    b = herd.iamat("B", b"y", LOC, b"2")
    wait_until(lambda: held(herd, "B", b"x") == a, 10, what="x at B")
    wait_until(lambda: held(herd, "A", b"y") == b, 10, what="y at A")


def test_every_bucket_differs(herd_factory, tmp_path):
    # A holds r0..r9999, B (run apart first, from its own INI) r5000..
    # r14999: every bucket differs on both sides, so fingerprints of all
    # 4096 buckets are queued and sent behind floods, chunk by chunk.
    herd = persisting(herd_factory, tmp_path)
    herd.start("A")
    load(herd, "A", 10000)
    apart = herd.ini + ".apart"
    with open(herd.ini) as f, open(apart, "w") as g:
        g.write(f.read().replace("neighbors = A", "neighbors ="))
    herd.ini, saved = apart, herd.ini
    try:
        herd.start("B")
    finally:
        herd.ini = saved
    c = Client(herd.port("B"), timeout=60)
    c.send(b"".join(b"IAMAT r%d %s %d.5\n" % (i, LOC, 1000 + i)
                    for i in range(5000, 15000)))
    for _ in range(10000):
        assert c.readline().startswith(b"AT B ")
    c.close()
    assert herd.stop("B") == 0
    herd.start("B")
    for name in ("A", "B"):
        wait_until(lambda: records(herd, name) == 15000, 60, interval=0.2,
                   what="%s to hold the union" % name)
    for i in (0, 4999, 5000, 9999, 10000, 14999):
        assert held(herd, "A", b"r%d" % i) == held(herd, "B", b"r%d" % i)
