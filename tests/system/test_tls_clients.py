"""TLS for clients on a server's tls_port (issue 13, "Clients").

The line protocol runs unchanged inside TLS; the plain port stays as it
is.  Bad input on either port -- plain text on the TLS port, binary
garbage on the plain one, a stalled handshake, a client certificate that
does not chain to tls_client_ca or has expired -- costs one log line and
that connection only: a plain and a TLS client keep round-tripping
beside each.  Certificates are re-read on reload; a bad one keeps the
running one.  The test PKI is made with the openssl command line in the
test's own directory.
"""
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (AT_RE, NODE, Client, Herd, exchange, free_ports,
                      harness_factory, wait_until)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="the openssl command is not installed")

TOPOLOGY = {"Hill": ["Jaquez"], "Jaquez": ["Hill"]}
LOC = b"+34.068930-118.445127"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=str(cwd), check=True,
                   capture_output=True, timeout=30)


class Pki:
    """A CA, a server certificate for 127.0.0.1, and client certificates
    (good, from another CA, expired), all P-256, in directory d."""

    def __init__(self, d):
        d.mkdir()
        self.d = d
        self.ca("ca")
        self.ca("otherca")
        self.leaf("server", "ca", san="IP:127.0.0.1")
        self.leaf("server2", "ca", san="IP:127.0.0.1", cn="second")
        self.leaf("client", "ca")
        self.leaf("stranger", "otherca")
        self.leaf("expired", "ca", days="-1")

    def path(self, name):
        return str(self.d / name)

    def ca(self, name):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                name + ".key", "-out", name + ".pem", "-days", "30",
                "-subj", "/CN=herd test " + name, cwd=self.d)

    def leaf(self, name, ca, san=None, days="30", cn=None):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + (cn or name), cwd=self.d)
        ext = []
        if san:
            (self.d / (name + ".ext")).write_text("subjectAltName=%s\n" % san)
            ext = ["-extfile", name + ".ext"]
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
                "-CAkey", ca + ".key", "-CAcreateserial", "-out",
                name + ".pem", "-days", days, *ext, cwd=self.d)
        os.chmod(self.d / (name + ".key"), 0o600)


class TlsHerd(Herd):
    """A Herd whose servers in `tls` also listen on a tls_port."""

    def __init__(self, tmp_path, tls=("Hill",), **kw):
        self.tls_names = tls
        self.tls_ports = {}
        super().__init__(tmp_path, **kw)

    def write(self, topology=None):
        super().write(topology)
        for name in self.tls_names:
            while name not in self.tls_ports:
                p = free_ports(1)[0]
                if p not in self.ports.values():
                    self.tls_ports[name] = p
        with open(self.ini) as f:
            text = f.read()
        for name, tp in self.tls_ports.items():
            head = "[server:%s]\nport = %d\n" % (name, self.ports[name])
            text = text.replace(head, head + "tls_port = %d\n" % tp)
        with open(self.ini, "w") as f:
            f.write(text)

    def tls_port(self, name):
        return self.tls_ports[name]


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


@pytest.fixture
def tls_factory(tmp_path):
    yield from harness_factory(tmp_path, TlsHerd, "tls")


def tls_settings(pki, client_ca=False, cert="server"):
    extra = "tls_cert = %s\ntls_key = %s\n" % (pki.path(cert + ".pem"),
                                              pki.path(cert + ".key"))
    if client_ca:
        extra += "tls_client_ca = %s\n" % pki.path("ca.pem")
    return extra


def tls_client(port, pki, cert=None, timeout=5.0):
    """A Client over TLS to 127.0.0.1:port, checking the server against
    the test CA; cert: the name of a client certificate to present."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.path("ca.pem"))
    if cert:
        ctx.load_cert_chain(pki.path(cert + ".pem"), pki.path(cert + ".key"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    return Client(port, timeout=timeout, sock=s)


def peer_cn(port, pki):
    """The CN of the certificate the server presents now."""
    c = tls_client(port, pki)
    try:
        subject = dict(x[0] for x in c.sock.getpeercert()["subject"])
        return subject["commonName"]
    finally:
        c.close()


def refused(c, line=b"IAMAT kv +1+1 1"):
    """True when c gets no reply to line: its TLS connection was closed
    (TLS 1.3 reports a client certificate refusal at the first read)."""
    try:
        c.send(line + b"\n")
        c.readline()
    except (ssl.SSLError, EOFError, ConnectionError):
        return True
    finally:
        c.close()
    return False


class Bystanders:
    """A plain and a TLS client that stay connected through an attack:
    each check() is one round trip on each, which must still answer."""

    def __init__(self, h, pki, cert=None):
        self.plain = Client(h.port("Hill"))
        self.tls = tls_client(h.tls_port("Hill"), pki, cert)
        self.n = 0

    def check(self):
        self.n += 1
        for c, cid in ((self.plain, b"by-plain"), (self.tls, b"by-tls")):
            r = c.request(b"IAMAT %s %s %d" % (cid, LOC, self.n))
            assert AT_RE.match(r), r

    def close(self):
        self.plain.close()
        self.tls.close()


def test_line_protocol_inside_tls(tls_factory, pki):
    h = tls_factory(topology=TOPOLOGY, herd_extra=tls_settings(pki)).start()
    c = tls_client(h.tls_port("Hill"), pki)
    at = c.request(b"IAMAT kiwi.cs.ucla.edu %s 1621464827.959498503" % LOC)
    assert AT_RE.match(at) and at.startswith(b"AT Hill "), at
    assert c.request(b"bogus line") == b"? bogus line"
    # A HELLO on the TLS port is a client line, never a peer link.
    assert c.request(b"HELLO herd/1 Jaquez Hill " + b"0" * 32).startswith(
        b"? HELLO")
    c.close()
    h.wait_record("Jaquez", b"kiwi.cs.ucla.edu", at)   # flooded as usual
    # The plain port is untouched.
    assert AT_RE.match(h.iamat("Hill", b"plain", LOC, b"2"))
    h.syslog.wait_for(r"Hill: client \d+ connected from 127\.0\.0\.1:\d+ "
                      r"\(TLS\)")


def test_openssl_s_client_is_a_client(tls_factory, pki):
    h = tls_factory(topology=TOPOLOGY, herd_extra=tls_settings(pki)).start()
    p = subprocess.Popen(["openssl", "s_client", "-connect",
                          "127.0.0.1:%d" % h.tls_port("Hill"), "-quiet",
                          "-CAfile", pki.path("ca.pem"),
                          "-verify_return_error"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        p.stdin.write(b"IAMAT s-client %s 1621464827.5\n" % LOC)
        p.stdin.flush()
        line = p.stdout.readline().rstrip(b"\n")
        assert AT_RE.match(line) and b" s-client " in line, line
    finally:
        p.kill()
        p.wait(5)


def test_bad_input_closes_only_that_connection(tls_factory, pki):
    h = tls_factory(topology=TOPOLOGY, herd_extra=tls_settings(pki)).start()
    by = Bystanders(h, pki)
    by.check()
    # Plain text on the TLS port: a log line and a closed connection.
    try:
        out = exchange(h.tls_port("Hill"), b"IAMAT plain +1+1 1\n")
    except OSError:
        out = b""               # closed with our line unread: a reset
    assert b"AT " not in out
    h.syslog.wait_for(r"Hill: client \d+ from 127\.0\.0\.1:\d+: TLS "
                      r"handshake failed: .*closed")
    by.check()
    # Binary garbage (not a TLS record) on the plain port: "? " as ever.
    junk = bytes(range(1, 0x16)) + bytes(range(0x17, 0x100))
    out = exchange(h.port("Hill"), junk.replace(b"\n", b"") + b"\n")
    assert out.startswith(b"? "), out[:40]
    by.check()
    # A handshake that stalls half-way: closed within 10 s.
    hello = ssl_client_hello_start()
    s = socket.create_connection(("127.0.0.1", h.tls_port("Hill")),
                                 timeout=12)
    t0 = time.monotonic()
    s.sendall(hello)
    by.check()
    assert s.recv(4096) == b""
    assert time.monotonic() - t0 < 10
    s.close()
    h.syslog.wait_for(r"Hill: client \d+ from 127\.0\.0\.1:\d+: TLS "
                      r"handshake not finished within 5 s, closed")
    # And one that never starts.
    s = socket.create_connection(("127.0.0.1", h.tls_port("Hill")),
                                 timeout=12)
    t0 = time.monotonic()
    assert s.recv(4096) == b""
    assert time.monotonic() - t0 < 10
    s.close()
    by.check()
    by.close()


def ssl_client_hello_start():
    """The first bytes of a real ClientHello record, cut in the middle."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    assert data[0] == 0x16
    return data[:len(data) // 2]


def test_client_certificates(tls_factory, pki):
    h = tls_factory(topology=TOPOLOGY,
                    herd_extra=tls_settings(pki, client_ca=True)).start()
    by = Bystanders(h, pki, cert="client")
    by.check()
    port = h.tls_port("Hill")
    assert refused(tls_client(port, pki))          # no certificate
    h.syslog.wait_for(r"TLS handshake failed: .*peer did not return a "
                      r"certificate")
    by.check()
    assert refused(tls_client(port, pki, cert="stranger"))
    h.syslog.wait_for(r"TLS handshake failed: .*certificate verify failed"
                      r".*client certificate: unable to get local issuer")
    by.check()
    assert refused(tls_client(port, pki, cert="expired"))
    h.syslog.wait_for(r"TLS handshake failed: .*client certificate: "
                      r"certificate has expired")
    by.check()
    ok = tls_client(port, pki, cert="client")
    assert AT_RE.match(ok.request(b"IAMAT good %s 1" % LOC))
    ok.close()
    by.close()


def test_certificates_reread_on_reload(tls_factory, pki, tmp_path):
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(pki.path("server.pem"), cert)
    shutil.copy(pki.path("server.key"), key)
    os.chmod(key, 0o600)
    h = tls_factory(topology=TOPOLOGY, herd_extra="tls_cert = %s\n"
                    "tls_key = %s\n" % (cert, key)).start()
    port = h.tls_port("Hill")
    assert peer_cn(port, pki) == "server"
    kept = tls_client(port, pki)
    shutil.copy(pki.path("server2.pem"), cert)
    shutil.copy(pki.path("server2.key"), key)
    h.signal("Hill", 1)
    h.syslog.wait_for(r"Hill: reload: TLS certificate and key re-read")
    assert peer_cn(port, pki) == "second"
    assert AT_RE.match(kept.request(b"IAMAT kept %s 1" % LOC))
    # A broken certificate on reload keeps the running one, and says so.
    cert.write_text("not a certificate\n")
    h.signal("Hill", 1)
    h.syslog.wait_for(r"Hill: reload: tls_cert %s: .*keeping the running"
                      % cert)
    assert peer_cn(port, pki) == "second"
    # So does a key others may read.
    shutil.copy(pki.path("server.pem"), cert)
    shutil.copy(pki.path("server.key"), key)
    os.chmod(key, 0o644)
    h.signal("Hill", 1)
    h.syslog.wait_for(r"Hill: reload: tls_key %s is accessible to group or"
                      r" others" % key)
    assert peer_cn(port, pki) == "second"
    assert AT_RE.match(kept.request(b"IAMAT kept %s 2" % LOC))
    kept.close()


def run_node(ini):
    return subprocess.run([NODE, "-c", str(ini), "--stderr", "A"],
                          capture_output=True, text=True, timeout=10)


def test_key_must_be_private_and_config_checked(tmp_path, pki):
    port, tport = free_ports(2)
    os.chmod(pki.path("server.key"), 0o640)
    ini = tmp_path / "a.ini"
    ini.write_text("[herd]\n%s[server:A]\nport = %d\ntls_port = %d\n"
                   % (tls_settings(pki), port, tport))
    p = run_node(ini)
    assert p.returncode == 78, p.stderr
    assert "tls_key %s is accessible to group or others (mode 640)" % (
        pki.path("server.key")) in p.stderr
    os.chmod(pki.path("server.key"), 0o600)
    ini.write_text("[herd]\n%s[server:A]\nport = %d\ntls_port = %d\n"
                   % (tls_settings(pki, cert="client").replace(
                       "client.key", "server.key"), port, tport))
    p = run_node(ini)
    assert p.returncode == 78 and "does not match tls_cert" in p.stderr, (
        p.stderr)
    ini.write_text("[herd]\n[server:A]\nport = %d\ntls_port = %d\n"
                   % (port, tport))
    p = run_node(ini)
    assert p.returncode == 78
    assert "a.ini:2: server 'A' has a tls_port but [herd] has no tls_cert" \
        in p.stderr, p.stderr
    ini.write_text("[herd]\n%s[server:A]\nport = %d\ntls_port = %d\n"
                   "[server:B]\nport = %d\n"
                   % (tls_settings(pki), port, tport, tport))
    p = run_node(ini)
    assert p.returncode == 78
    assert "server 'B': port %d on 127.0.0.1 is already used by server 'A'" \
        % tport in p.stderr, p.stderr


def test_bench_speaks_tls(tls_factory, pki):
    """herd-bench --tls, the TLS row of make bench: clean against a
    tls_port, every reply checked."""
    h = tls_factory(topology=TOPOLOGY, herd_extra=tls_settings(pki)).start()
    p = subprocess.run([os.path.join(os.path.dirname(NODE), "herd-bench"),
                        "iamat", "--tls", "-p", str(h.tls_port("Hill")),
                        "--pid", str(h.pid("Hill")), "-c", "4", "-d", "8",
                        "-n", "2000", "-k", "100"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    res = dict(kv.split("=", 1) for kv in
               [l for l in p.stdout.splitlines()
                if l.startswith("RESULT ")][0].split()[1:])
    assert res["errors"] == "0" and res["reqs"] == "2000", p.stdout


def test_herdctl_check_loads_the_certificates(tmp_path, pki):
    herdctl = os.path.join(os.path.dirname(NODE), "herdctl")
    port, tport = free_ports(2)
    ini = tmp_path / "a.ini"
    ini.write_text("[herd]\n%s[server:A]\nport = %d\ntls_port = %d\n"
                   % (tls_settings(pki), port, tport))
    p = subprocess.run([herdctl, "-c", str(ini), "check"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    os.chmod(pki.path("server.key"), 0o644)
    p = subprocess.run([herdctl, "-c", str(ini), "check"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "error: tls_key %s is accessible to group or others" % (
        pki.path("server.key")) in p.stderr, p.stderr
