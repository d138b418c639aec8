"""Peer links on the paths the happy tests never take: unauthenticated
HELLOs against live links, a neighbour re-dialling while its old
connection still looks alive, floods queued behind a sync at SIGTERM, and
neighbours dialling a server whose clients are at max_clients."""
import re
import signal
import socket
import threading
import time

import pytest

from conftest import wait_until, write_ini
from test_security import secret_file

LOC = b"+34.068930-118.445127"
NONCE = "5" * 32


def bind_behind(h, hosts):
    """Rewrite h's INI so each server in hosts is dialled at that address
    while it still listens on 127.0.0.1 (room for a proxy, or nothing)."""
    write_ini(h.ini, h.ports, h.topology, "log_socket = %s\n%s"
              % (h.log_path, h.herd_extra), h.places, hosts=hosts)
    with open(h.ini) as f:
        text = f.read()
    with open(h.ini, "w") as f:
        f.write(re.sub(r"(?m)^(host = .*)$", r"\1\nbind = 127.0.0.1", text))


def settled(h, a, b):
    """Wait until a holds both connections to b (its dial and b's)."""
    for way in ("outbound", "inbound"):
        h.syslog.wait_for(r"%s: peer %s: %s connection established"
                          % (a, b, way), timeout=10)


def propagation(h, src, dst, cid, t):
    """Seconds from an IAMAT at src until dst holds the record."""
    t0 = time.monotonic()
    at = h.iamat(src, cid, LOC, t)
    h.wait_record(dst, cid, at, timeout=10)
    return time.monotonic() - t0


def log_since(h, mark, pattern):
    rx = re.compile(pattern)
    return [l for l in h.syslog.drain()[mark:] if rx.search(l)]


class Proxy:
    """A TCP forwarder on listen -> target.  freeze() makes every current
    connection a black hole both ways: nothing is forwarded any more and
    neither side is closed, so each end still believes in it (a partition
    without FIN).  Connections made after freeze() are forwarded."""

    def __init__(self, listen, target):
        self.target = target
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(listen)
        self.ls.listen(16)
        self.ls.settimeout(0.05)
        self.conns = []
        self.threads = []
        self.done = False
        self._start(self._accept)

    def _start(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self):
        while not self.done:
            try:
                a, _ = self.ls.accept()
            except OSError:
                continue
            try:
                b = socket.create_connection(self.target, timeout=2)
            except OSError:
                a.close()
                continue
            conn = {"socks": (a, b), "frozen": False}
            for s in (a, b):
                s.settimeout(0.05)
            self.conns.append(conn)
            self._start(self._pump, a, b, conn)
            self._start(self._pump, b, a, conn)

    def _pump(self, src, dst, conn):
        while not self.done and not conn["frozen"]:
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if conn["frozen"]:
                return
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(self.relay(src, conn, data))
            except OSError:
                return

    def relay(self, src, conn, data):
        """What to forward of data read from src (a subclass may look)."""
        return data

    def freeze(self):
        for conn in list(self.conns):
            conn["frozen"] = True
        time.sleep(0.2)         # every pump saw the flag

    def close(self):
        self.done = True
        for t in self.threads:
            t.join(2)
        for conn in self.conns:
            for s in conn["socks"]:
                s.close()
        self.ls.close()


# A TLS ClientHello cut short: the acceptor waits for the rest.
STALLED_TLS = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_unauthenticated_hellos_neither_cut_nor_delay_a_link(herd_factory,
                                                             tmp_path, tls):
    """Plain links (peer_tls = no): HELLOs that never prove the secret;
    TLS links: plain HELLOs (refused at once) and TLS handshakes that
    stall, past the bound of unfinished ones."""
    sf = secret_file(tmp_path)
    h = herd_factory(topology={"A": ["B"], "B": ["A"]},
                     herd_extra="secret_file = %s\npeer_tls = %s"
                     % (sf, "yes" if tls else "no")).start()
    settled(h, "A", "B")
    settled(h, "B", "A")
    calm = [propagation(h, "A", "B", b"calm%d" % i, b"%d" % (i + 1))
            for i in range(5)]
    mark = len(h.syslog.drain())
    stop = threading.Event()
    held = []

    def attack():
        # Each side is told, unauthenticated, that its neighbour dials it.
        while not stop.is_set():
            for port, frm, to in ((h.port("A"), "B", "A"),
                                  (h.port("B"), "A", "B")):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(("HELLO herd/1 %s %s %s\n" % (frm, to, NONCE))
                          .encode())
                held.append(s)
                for _ in range(3 if tls else 0):
                    s = socket.create_connection(("127.0.0.1", port))
                    s.sendall(STALLED_TLS)
                    held.append(s)
            time.sleep(0.1)
    t = threading.Thread(target=attack)
    t.start()
    try:
        storm = []
        t_end = time.monotonic() + 2.0
        i = 0
        while time.monotonic() < t_end:
            storm.append(propagation(h, "A", "B", b"storm%d" % i,
                                     b"%d" % (100 + i)))
            i += 1
    finally:
        stop.set()
        t.join(5)
    # The attack really reached the handshake code ...
    assert len(held) >= 20
    if tls:
        assert log_since(h, mark, r"A: peer handshake from .* refused: a "
                         r"plain-text HELLO, but peer links use TLS")
        # More unfinished handshakes than the bound: the oldest went.
        assert log_since(h, mark, r"A: peer TLS handshake from .*: too "
                         r"many unfinished TLS handshakes")
    else:
        assert log_since(h, mark, r"A: peer B: handshake from .*awaiting")
        # More unfinished handshakes than the bound: the oldest went, not B.
        assert log_since(h, mark, r"A: peer B: inbound handshake closed: "
                         r"too many unfinished")
    # ... and no authenticated connection was closed for it.
    cut = log_since(h, mark, r"peer [AB]: (outbound|inbound) connection "
                    r"closed|peer [AB] down")
    assert not cut, cut
    worst = max(storm)
    assert worst <= max(0.5, 10 * max(calm)), (
        "propagation under attack %.3f s, calm %.3f s" % (worst, max(calm)))
    for s in held:
        s.close()


def test_redial_while_old_connection_looks_alive_gets_catch_up(
        herd_factory):
    h = herd_factory(topology={"A": ["B"], "B": ["A"]},
                     herd_extra="reconcile_s = 0")
    bind_behind(h, {"A": "127.0.0.2", "B": "127.0.0.3"})
    proxies = [Proxy(("127.0.0.2", h.port("A")), ("127.0.0.1", h.port("A"))),
               Proxy(("127.0.0.3", h.port("B")), ("127.0.0.1", h.port("B")))]
    try:
        h.start()
        settled(h, "A", "B")
        settled(h, "B", "A")
        before = h.iamat("A", b"before", LOC, b"1")
        h.wait_record("B", b"before", before)
        # B's host dies without a word: neither of A's connections to it
        # ends (no FIN, no RST), as after a reboot or a silent partition.
        for p in proxies:
            p.freeze()
        h.kill("B")
        during = h.iamat("A", b"during", LOC, b"2")
        mark = len(h.syslog.drain())
        h.start("B")
        h.syslog.wait_for(r"B: peer A up")
        wait_until(lambda: log_since(h, mark, r"A: peer B: inbound "
                                     r"connection established"), 10,
                   what="A to accept B's new dial")
        # reconcile_s = 0: only the catch-up on the new connection helps.
        h.wait_record("B", b"before", before, timeout=5)
        h.wait_record("B", b"during", during, timeout=5)
        # New floods take the new connection, not the dead one.
        after = h.iamat("A", b"after", LOC, b"3")
        h.wait_record("B", b"after", after, timeout=5)
    finally:
        h.close()
        for p in proxies:
            p.close()


def fill_and_pose_as_b(h, n):
    """Give A n records of about 4 KB (more than the kernel buffers of
    both ends together), then connect to A as its neighbour B with a
    tiny receive buffer, reading nothing: A's catch-up stream waits in
    its output buffer, and any flood queues behind it."""
    pad = b"x" * 4000
    c = h.client("A")
    for k in range(0, n, 100):
        c.send(b"".join(b"IAMAT %s%d %s %d\n" % (pad, i, LOC, i + 1)
                        for i in range(k, k + 100)))
        for _ in range(100):
            assert c.readline().startswith(b"AT A ")
    c.close()
    nb = socket.socket()
    nb.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    nb.connect(("127.0.0.1", h.port("A")))
    nb.settimeout(10)
    nb.sendall(("HELLO herd/1 B A %s\n" % NONCE).encode())
    buf = b""
    while b"\n" not in buf:
        buf += nb.recv(1)
    assert buf.startswith(b"WELCOME ")
    nb.sendall(b"AUTH -\n")
    h.syslog.wait_for(r"A: peer B: inbound connection established")
    return nb


def test_sigterm_delivers_floods_queued_behind_a_sync(herd_factory):
    # B is a configured neighbour that this test plays by hand (no secret:
    # a loopback peer proves nothing); A's dials to B's port fail.
    h = herd_factory(topology={"A": ["B"], "B": ["A"]}).start("A")
    n = 2500
    nb = fill_and_pose_as_b(h, n)
    time.sleep(0.3)
    at = h.iamat("A", b"probe", LOC, b"%d" % (n + 10))
    assert at.startswith(b"AT A ")
    h.signal("A", signal.SIGTERM)
    got = []
    while True:
        try:
            b = nb.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        got.append(b)
    nb.close()
    assert h.procs["A"].wait(10) == 0
    lines = b"".join(got).split(b"\n")
    assert sum(1 for l in lines if l.startswith(b"AT A ")) > 100
    assert at in lines, "the acknowledged flood never reached the neighbour"


def test_stop_reads_to_the_neighbours_eof_so_no_reset_drops_floods(
        herd_factory):
    # B (played by hand) never stops talking: at SIGTERM, A's input is
    # never empty.  A closing with unread input makes its kernel answer
    # with a reset, and a reset makes B's kernel throw away what A sent
    # but B had not read yet.  So A must FIN, read to B's EOF, then close.
    h = herd_factory(topology={"A": ["B"], "B": ["A"]}).start("A")
    n = 1500
    nb = fill_and_pose_as_b(h, n)
    stop = threading.Event()
    sent = [0]

    def chatter():
        i = 0
        while not stop.is_set():
            i += 1
            try:
                nb.sendall(b"AT B +0.000000001 chat%d %s %d\n"
                           % (i % 50, LOC, i))
            except OSError:
                return
            sent[0] = i
    t = threading.Thread(target=chatter, daemon=True)
    t.start()
    wait_until(lambda: sent[0] > 200, timeout=10, what="B talking")
    at = h.iamat("A", b"probe", LOC, b"%d" % (n + 10))
    h.signal("A", signal.SIGTERM)
    got, reset = [], False
    while True:
        try:
            b = nb.recv(65536)
        except ConnectionResetError:
            reset = True
            break
        if not b:
            break
        got.append(b)
    stop.set()
    t.join(10)
    try:
        nb.shutdown(socket.SHUT_WR)
    except OSError:
        pass        # already reset: the assertion below says so
    nb.close()
    assert h.procs["A"].wait(15) == 0
    assert not reset, "A closed with unread input: B got a reset"
    lines = b"".join(got).split(b"\n")
    assert at in lines, "the acknowledged flood never reached B"


def test_neighbour_gets_in_while_clients_hold_max_clients(herd_factory):
    h = herd_factory(topology={"A": ["B"], "B": ["A"]},
                     herd_extra="max_clients = 3")
    # A dials B at an address where nothing listens: only B's dial to A
    # can bring the link up.
    bind_behind(h, {"B": "127.0.0.3"})
    h.start("A")
    held = []
    for i in range(3):
        s = socket.create_connection(("127.0.0.1", h.port("A")), timeout=5)
        s.sendall(b"IAMAT hog%d %s 1\n" % (i, LOC))
        assert s.recv(4096).startswith(b"AT A ")
        held.append(s)
    # The limit still holds for clients ...
    with socket.create_connection(("127.0.0.1", h.port("A")),
                                  timeout=5) as s:
        s.sendall(b"IAMAT extra %s 1\n" % LOC)
        try:
            assert s.recv(4096) == b""
        except ConnectionResetError:
            pass
    h.syslog.wait_for(r"A: max_clients \(3\) reached")
    # ... but not for a neighbour.
    h.start("B")
    h.syslog.wait_for(r"A: peer B up", timeout=10)
    at = h.iamat("B", b"via-b", LOC, b"5")
    held[0].close()     # a client slot for the WHATSAT below
    h.wait_record("A", b"via-b", at, timeout=5)
    for s in held[1:]:
        s.close()
