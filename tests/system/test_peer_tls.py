"""Peer links in TLS 1.3 keyed by the herd secret, attacked from the path:
a proxy the test controls sits on the only connection of a link, records
what crosses, flips a byte, replays a session; plus secret rotation, a
plain-text HELLO refused, and peer_tls = no for comparison."""
import os
import re
import signal
import socket
import subprocess

from conftest import AT_RE, NODE, peer_hello, wait_until
from test_peer_links import Proxy, bind_behind
from test_security import SECRET, secret_file

LOC = b"+34.068930-118.445127"
OLD = b"the old secret of this herd, 0123456789"
NEW = b"the new secret of this herd, 9876543210"


class Tap(Proxy):
    """A Proxy that records every byte it forwards (per direction:
    "d2u" dialer to acceptor, "u2d" back) and, when armed, flips one
    byte in the middle of the next dialer chunk it forwards."""

    def __init__(self, listen, target):
        self.seen = {"d2u": [], "u2d": []}
        self.flip = False
        self.flipped = None
        super().__init__(listen, target)

    def relay(self, src, conn, data):
        way = "d2u" if src is conn["socks"][0] else "u2d"
        if way == "d2u" and self.flip and len(data) > 8:
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
            self.flip = False
            self.flipped = i
        self.seen[way].append(data)
        return data

    def crossed(self):
        return b"".join(self.seen["d2u"] + self.seen["u2d"])


def one_way_link(herd_factory, tmp_path, extra=""):
    """A and B linked by one connection only, A's dial through a Tap:
    B's dial to A goes to an address where nothing listens."""
    sf = secret_file(tmp_path)
    h = herd_factory(topology={"A": ["B"], "B": []},
                     herd_extra="secret_file = %s\nreconcile_s = 0\n%s"
                     % (sf, extra))
    bind_behind(h, {"A": "127.0.0.2", "B": "127.0.0.3"})
    tap = Tap(("127.0.0.3", h.port("B")), ("127.0.0.1", h.port("B")))
    return h, tap


def test_nothing_personal_crosses_in_clear(herd_factory, tmp_path):
    """(a) Records cross the link (B holds them) but no client id and no
    location appears in the bytes on the wire; only the server names of
    the PSK identity do."""
    h, tap = one_way_link(herd_factory, tmp_path)
    try:
        h.start()
        h.syslog.wait_for(r"A: peer B: outbound connection established "
                          r"\(herd/\d, TLS 1\.3\)", timeout=15)
        ats = [h.iamat("A", b"secret-client-%d" % i, LOC, b"%d" % (i + 1))
               for i in range(5)]
        # And one from B, back over the same connection.
        back = h.iamat("B", b"secret-client-b", b"-12.5+130.25", b"7")
        for i, at in enumerate(ats):
            h.wait_record("B", b"secret-client-%d" % i, at)
        h.wait_record("A", b"secret-client-b", back)
        wire = tap.crossed()
        assert len(wire) > 1000 and wire[:1] == b"\x16"
        for needle in (b"secret-client", LOC, b"34.068930", b"-12.5+130",
                       b"IAMAT", b"AT A", b"HELLO", b"SYNCED", SECRET):
            assert needle not in wire, needle
        assert b"herd-tls/1 A B " in wire      # the identity is public
    finally:
        tap.close()


def test_plain_links_when_peer_tls_is_off(herd_factory, tmp_path):
    """peer_tls = no (for benchmarks): the same link in plain text, where
    the tap does see client ids (so the test above can fail)."""
    h, tap = one_way_link(herd_factory, tmp_path, "peer_tls = no")
    try:
        h.start()
        h.syslog.wait_for(r"A: peer B: outbound connection established "
                          r"\(herd/\d\)$", timeout=15)
        at = h.iamat("A", b"visible-client", LOC, b"1")
        h.wait_record("B", b"visible-client", at)
        assert b"visible-client" in tap.crossed()
    finally:
        tap.close()


def test_flipped_byte_drops_the_link_and_stores_nothing(herd_factory,
                                                        tmp_path):
    """(b) One byte of a flood flipped on the wire: B refuses the record
    (TLS integrity), closes the link with the neighbour's name and
    address in the log, A re-dials, and the catch-up brings B the
    unaltered record."""
    h, tap = one_way_link(herd_factory, tmp_path)
    try:
        h.start()
        h.syslog.wait_for(r"B: peer A: inbound connection established",
                          timeout=15)
        base = h.iamat("A", b"before", LOC, b"1")
        h.wait_record("B", b"before", base)
        mark = len(h.syslog.drain())
        tap.flip = True
        at = h.iamat("A", b"flipped", LOC, b"2")
        wait_until(lambda: tap.flipped is not None, 5, what="a flipped byte")
        h.syslog.wait_for(r"B: peer A: inbound connection closed: TLS: "
                          r"decryption failed or bad record mac "
                          r"\(127\.0\.0\.1:\d+\)")
        # Re-dialled and caught up: B holds exactly A's record.
        h.wait_record("B", b"flipped", at, timeout=10)
        assert h.whatsat_line("B", b"before") == base
        lines = h.syslog.drain()[mark:]
        assert any("A: peer B: outbound connection established" in l
                   for l in lines), lines[-20:]
        assert not any("invalid message" in l for l in lines)
    finally:
        tap.close()


def test_replayed_session_is_refused(herd_factory, tmp_path):
    """(c) Everything A sent to B on a link, replayed to a fresh B: the
    TLS handshake fails (fresh server randomness and key share), it is
    logged, and B stores nothing."""
    h, tap = one_way_link(herd_factory, tmp_path, "persist = no")
    try:
        h.start()
        h.syslog.wait_for(r"B: peer A: inbound connection established",
                          timeout=15)
        at = h.iamat("A", b"replayed", LOC, b"1")
        h.wait_record("B", b"replayed", at)
        wait_until(lambda: len(b"".join(tap.seen["d2u"])) > 600, 5,
                   what="A's records on the wire")
        h.stop("A")
        h.stop("B")
        recorded = b"".join(tap.seen["d2u"])
    finally:
        tap.close()
    h.start("B")
    assert h.whatsat_line("B", b"replayed").startswith(b"? ")
    s = socket.create_connection(("127.0.0.1", h.port("B")), timeout=5)
    try:
        s.sendall(recorded)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
    h.syslog.wait_for(r"B: peer TLS handshake from 127\.0\.0\.1:\d+: "
                      r"refused: TLS: ")
    assert h.whatsat_line("B", b"replayed").startswith(b"? ")
    assert not [l for l in h.syslog.drain() if "B: peer A up" in l and
                "B: peer A: inbound connection established" in l]


def test_plain_hello_refused_with_a_secret(herd_factory, tmp_path):
    sf = secret_file(tmp_path)
    h = herd_factory(topology={"A": ["B"], "B": []},
                     herd_extra="secret_file = %s" % sf).start("A")
    s, w = peer_hello(h.port("A"), "B", "A", SECRET, plain=True)
    assert w is not None and w[0] == "?", w
    s.close()
    h.syslog.wait_for(r"A: peer handshake from 127\.0\.0\.1:\d+ refused: a "
                      r"plain-text HELLO, but peer links use TLS")
    # The same HELLO inside TLS is answered.
    s, w = peer_hello(h.port("A"), "B", "A", SECRET, auth=False)
    assert w[:3] == ["WELCOME", "herd/1", "A"], w
    s.close()


def write_keys(path, *secrets):
    with open(path, "wb") as f:
        f.write(b"".join(k + b"\n" for k in secrets))
    os.chmod(path, 0o600)


def test_rotation_with_two_secrets_keeps_links_up(herd_factory, tmp_path):
    """A rolling rotation, one server at a time: A gets "new, old" while
    B still has "old" only (A's dial with new is refused, the next uses
    old; B's dial is accepted), then B gets "new, old", then both "new".
    The link never goes down and records cross at every step."""
    fa, fb = str(tmp_path / "a.secret"), str(tmp_path / "b.secret")
    write_keys(fa, OLD)
    write_keys(fb, OLD)
    h = herd_factory(topology={"A": ["B"], "B": []})
    h.env["HERD_SECRET_FILE"] = fa
    h.start("A")
    h.env["HERD_SECRET_FILE"] = fb
    h.start("B")
    h.syslog.wait_for(r"A: peer B up", timeout=15)
    h.syslog.wait_for(r"B: peer A up", timeout=15)

    def step(name, path, secrets, n):
        write_keys(path, *secrets)
        h.signal(name, signal.SIGHUP)
        h.syslog.wait_for(r"%s: reload: the peer secret changed \(%d "
                          r"secret" % (name, len(secrets)))
        at = h.iamat("A", b"rot%d" % n, LOC, b"%d" % n)
        h.wait_record("B", b"rot%d" % n, at)
        at = h.iamat("B", b"rotb%d" % n, LOC, b"%d" % n)
        h.wait_record("A", b"rotb%d" % n, at)

    def restart(name, path):
        """Fresh dials both ways; the lines of the new process."""
        h.stop(name)
        h.env["HERD_SECRET_FILE"] = path
        h.start(name)
        return r"herd-node\[%d\]: %s: " % (h.pid(name), name)

    step("A", fa, (NEW, OLD), 1)
    a = restart("A", fa)
    # A's dial with NEW is refused by B (OLD only); the next uses OLD.
    h.syslog.wait_for(a + r"peer B: TLS handshake with .* failed")
    h.syslog.wait_for(a + r"peer B: the next dial uses secret 2 of "
                      r"secret_file")
    h.syslog.wait_for(a + r"peer B: outbound connection established",
                      timeout=15)
    # B's dial with OLD is accepted by A (its second secret).
    h.syslog.wait_for(a + r"peer B: inbound connection established",
                      timeout=15)
    step("B", fb, (NEW, OLD), 2)
    b = restart("B", fb)
    # B dials with NEW (A's first); A still dials with OLD (B's second).
    h.syslog.wait_for(b + r"peer A: outbound connection established",
                      timeout=15)
    h.syslog.wait_for(b + r"peer A: inbound connection established",
                      timeout=15)
    refused = [l for l in h.syslog.drain() if re.search(b + "peer TLS", l)]
    assert not refused, refused
    mark = len(h.syslog.drain())
    step("A", fa, (NEW,), 3)
    step("B", fb, (NEW,), 4)
    downs = [l for l in h.syslog.drain()[mark:] if " down" in l]
    assert not downs, downs
    assert AT_RE.match(h.whatsat_line("B", b"rot3"))


def test_secret_file_holds_one_or_two_secrets(tmp_path):
    """herdctl check and herd-node accept one or two lines of a secret
    each; three, or a short line, are refused with the rule."""
    herdctl = os.path.join(os.path.dirname(NODE), "herdctl")
    sf = str(tmp_path / "secret")
    ini = tmp_path / "a.ini"
    ini.write_text("[herd]\nsecret_file = %s\n[server:A]\nport = 1\n" % sf)
    for secrets, ok in (((NEW,), True), ((NEW, OLD), True),
                        ((NEW, OLD, SECRET), False), ((NEW, b"short"), False)):
        write_keys(sf, *secrets)
        p = subprocess.run([herdctl, "-c", str(ini), "check"],
                           capture_output=True, text=True, timeout=10)
        assert (p.returncode == 0) == ok, (secrets, p.stderr)
        if not ok:
            assert "must hold one secret, or two" in p.stderr, p.stderr
            p = subprocess.run([NODE, "-c", str(ini), "A"],
                               capture_output=True, text=True, timeout=10)
            assert p.returncode == 78, p.stderr
            assert "must hold one secret, or two" in p.stderr, p.stderr
