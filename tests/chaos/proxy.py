"""proxy.py -- the TCP proxy that every peer link of a chaos run goes through.

Each server k listens on its `bind` address; its neighbours dial its
`host` address, where this proxy listens and forwards to `bind`.  The
first line a dialer sends is `HELLO herd/1 <from> <to> <nonce>`, or with
TLS links its ClientHello names both in its PSK identity (`herd-tls/1
<from> <to> <key id>`, in clear), so the proxy knows the undirected link
{from, to} of every connection and can break that link both ways,
whichever side dialled:

  blackhole  stop forwarding and stop reading both ways, keep every socket
             open (no FIN: both nodes see a half-open connection); new
             connections of the link are accepted and held silent too
  reset      close every connection of the link with SO_LINGER 0 (RST)
  delay      forward each chunk after a fixed delay
  throttle   forward at most a given number of bytes per second each way
  heal       forward again; held connections are resumed, reset, or (mode
             "zombie") kept silent for a while and then reset, so a node
             that re-dials meets a neighbour whose old connection still
             looks alive (partition without FIN, NAT timeout, reboot)

It also reports every close of an authenticated link connection that a
node made (not the proxy), so the checker can ask why it happened.

One thread, poll(2); Python 3 standard library only.
"""

import collections
import select
import socket
import struct
import threading
import time

BUF_MAX = 256 * 1024
HELLO_MAX = 512
TLS_HELLO_MAX = 16384 + 5
RCVBUF = 64 * 1024


def tls_dialer(hello):
    """The FROM of the PSK identity in a TLS ClientHello record, or None
    (not one, or no herd identity)."""
    try:
        body = hello[5:5 + int.from_bytes(hello[3:5], "big")]
        if body[0] != 1:
            return None
        i = 4 + 2 + 32
        i += 1 + body[i]                                # session id
        i += 2 + int.from_bytes(body[i:i + 2], "big")   # cipher suites
        i += 1 + body[i]                                # compression
        end = i + 2 + int.from_bytes(body[i:i + 2], "big")
        i += 2
        while i + 4 <= end:
            typ = int.from_bytes(body[i:i + 2], "big")
            n = int.from_bytes(body[i + 2:i + 4], "big")
            if typ == 41:                               # pre_shared_key
                j = i + 4 + 2
                idlen = int.from_bytes(body[j:j + 2], "big")
                f = body[j + 2:j + 2 + idlen].split()
                if len(f) == 4 and f[0] == b"herd-tls/1":
                    return f[1].decode("utf-8", "replace")
                return None
            i += 4 + n
    except (IndexError, ValueError):
        pass
    return None


def rst_close(sock):
    """Close sock with an RST (SO_LINGER 0) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Direction:
    """Bytes travelling one way through a pair: (release time, data) chunks."""

    def __init__(self):
        self.q = collections.deque()
        self.size = 0
        self.eof = False          # the source side sent FIN
        self.shut = False         # FIN passed on to the destination
        self.tokens = 0.0
        self.last = time.monotonic()

    def due(self, now):
        """Bytes whose release time has come, joined."""
        out = []
        for t, b in self.q:
            if t > now:
                break
            out.append(b)
        return b"".join(out)

    def consume(self, n):
        """Drop n bytes from the front of the queue."""
        self.size -= n
        while n > 0:
            t, b = self.q[0]
            if len(b) <= n:
                n -= len(b)
                self.q.popleft()
            else:
                self.q[0] = (t, b[n:])
                n = 0


class Pair:
    """One proxied connection: dialer side (down) and acceptor side (up)."""

    def __init__(self, down, server, now):
        self.down = down
        self.up = None
        self.server = server      # the acceptor's name
        self.dialer = None
        self.link = None
        self.hello = b""
        self.connecting = False
        self.hold = False         # silent: nothing read or written
        self.zombie_until = None  # reset at this time (zombie heal)
        self.d2u = Direction()
        self.u2d = Direction()
        self.scan = b""           # dialer lines until AUTH is seen
        self.tls = False          # TLS: records scanned instead of lines
        self.tls_data = 0         # dialer's encrypted records seen
        self.established = False
        self.created = now
        self.closed = False
        self.first_eof = None


class LinkState:
    """How the proxy treats one undirected link now."""

    def __init__(self):
        self.mode = "ok"          # ok | blackhole | delay | throttle
        self.delay = 0.0
        self.rate = 0.0


class LinkProxy:
    """Listens on every server's host:port and forwards to its bind:port."""

    def __init__(self, servers, on_close=None):
        """servers: {name: (host, bind, port)}."""
        self.servers = dict(servers)
        self.on_close = on_close or (lambda *a: None)
        self.lock = threading.RLock()
        self.links = collections.defaultdict(LinkState)
        self.pairs = []
        self.listeners = {}
        self.running = True
        self.rfd, self.wfd = socket.socketpair()
        self.rfd.setblocking(False)
        self.wfd.setblocking(False)
        for name, (host, _bind, port) in self.servers.items():
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # A fixed receive buffer (no autotuning): a blackholed link
            # backs up into the sending node soon, not after megabytes.
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            ls.bind((host, port))
            ls.listen(128)
            ls.setblocking(False)
            self.listeners[ls.fileno()] = (ls, name)
        self.thread = threading.Thread(target=self._run, name="link-proxy",
                                       daemon=True)
        self.thread.start()

    # -- control (called from other threads) --------------------------

    def _wake(self):
        """Make the poll loop rebuild its set now."""
        try:
            self.wfd.send(b"x")
        except OSError:
            pass

    def set_link(self, a, b, mode, delay=0.0, rate=0.0):
        """Set link {a, b} to mode (blackhole, delay, throttle)."""
        with self.lock:
            st = self.links[frozenset((a, b))]
            st.mode, st.delay, st.rate = mode, delay, rate
            if mode == "blackhole":
                for p in self._pairs_of(frozenset((a, b))):
                    p.hold = True
        self._wake()

    def reset_link(self, a, b):
        """RST every connection of link {a, b} now."""
        with self.lock:
            for p in self._pairs_of(frozenset((a, b))):
                self._close_pair(p, by_proxy=True)
        self._wake()

    def heal(self, a, b, how="resume", zombie_s=5.0):
        """Forward link {a, b} again; held connections: resume, reset or
        zombie (stay silent zombie_s, then RST)."""
        key = frozenset((a, b))
        with self.lock:
            st = self.links[key]
            st.mode = "ok"
            now = time.monotonic()
            for p in self._pairs_of(key):
                if not p.hold:
                    continue
                if how == "reset":
                    self._close_pair(p, by_proxy=True)
                elif how == "zombie":
                    p.zombie_until = now + zombie_s
                else:
                    p.hold = False
        self._wake()

    def heal_all(self):
        """Every link back to normal; zombies and held pairs are reset."""
        with self.lock:
            for st in self.links.values():
                st.mode = "ok"
            for p in list(self.pairs):
                if p.hold:
                    self._close_pair(p, by_proxy=True)
        self._wake()

    def stop(self):
        """Stop the loop and close every socket."""
        self.running = False
        self._wake()
        self.thread.join(5)
        with self.lock:
            for p in list(self.pairs):
                self._close_pair(p, by_proxy=True)
            for ls, _ in self.listeners.values():
                ls.close()
        self.rfd.close()
        self.wfd.close()

    # -- the loop ------------------------------------------------------

    def _pairs_of(self, key):
        """The open pairs of link key."""
        return [p for p in self.pairs if p.link == key and not p.closed]

    def _close_pair(self, p, by_proxy=False, closer=None, why=""):
        """Close both sides of p; report a node's close of a live link."""
        if p.closed:
            return
        p.closed = True
        for s in (p.down, p.up):
            if s is not None:
                rst_close(s)
        if p in self.pairs:
            self.pairs.remove(p)
        if not by_proxy and p.established and p.link is not None:
            self.on_close(time.monotonic(), tuple(sorted(p.link)), closer,
                          why)

    def _accept(self, ls, name, now):
        """A dialer connected to name's proxy address."""
        try:
            s, _ = ls.accept()
        except OSError:
            return
        s.setblocking(False)
        self.pairs.append(Pair(s, name, now))

    def _read_hello(self, p, now):
        """Read the dialer's first line; learn the link; maybe connect."""
        limit = TLS_HELLO_MAX if p.hello[:1] == b"\x16" else HELLO_MAX
        try:
            b = p.down.recv(max(1, limit - len(p.hello)))
        except BlockingIOError:
            return
        except OSError:
            self._close_pair(p, by_proxy=True)
            return
        if not b:
            self._close_pair(p, by_proxy=True)
            return
        p.hello += b
        if p.hello[:1] == b"\x16":
            p.tls = True
            need = 5 + int.from_bytes(p.hello[3:5], "big") \
                if len(p.hello) >= 5 else TLS_HELLO_MAX
            if len(p.hello) < min(need, TLS_HELLO_MAX):
                return
            p.dialer = tls_dialer(p.hello)
            if p.dialer is not None:
                p.link = frozenset((p.dialer, p.server))
            f = []
        elif b"\n" not in p.hello and len(p.hello) < HELLO_MAX:
            return
        else:
            f = p.hello.split(b"\n", 1)[0].split()
        if len(f) == 5 and f[0] == b"HELLO":
            p.dialer = f[2].decode("utf-8", "replace")
            p.link = frozenset((p.dialer, p.server))
        st = self.links[p.link] if p.link else None
        if st is not None and st.mode == "blackhole":
            p.hold = True
        self._queue(p, p.d2u, p.hello, now)
        p.scan = p.hello
        p.hello = None
        self._scan(p)

    def _connect(self, p):
        """Dial the acceptor's bind address for p."""
        _host, bind, port = self.servers[p.server]
        p.up = socket.socket()
        p.up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        p.up.setblocking(False)
        p.connecting = True
        try:
            p.up.connect((bind, port))
        except BlockingIOError:
            pass
        except OSError:
            self._close_pair(p, by_proxy=True)

    def _scan(self, p):
        """Mark p established once the dialer's AUTH line went by (in
        TLS: its third encrypted record, after Finished and HELLO)."""
        if p.established or p.scan is None:
            return
        if p.tls:
            while len(p.scan) >= 5:
                n = 5 + int.from_bytes(p.scan[3:5], "big")
                if len(p.scan) < n:
                    break
                if p.scan[0] == 0x17:
                    p.tls_data += 1
                p.scan = p.scan[n:]
            if p.tls_data >= 3:
                p.established = True
                p.scan = None
            elif len(p.scan) > TLS_HELLO_MAX:
                p.scan = None
            return
        lines = p.scan.split(b"\n")
        if len(lines) >= 3:
            p.established = lines[1].startswith(b"AUTH ")
            p.scan = None
        elif len(p.scan) > 2 * HELLO_MAX:
            p.scan = None

    def _queue(self, p, d, data, now):
        """Add data to direction d with the link's delay."""
        st = self.links[p.link] if p.link else None
        delay = st.delay if st is not None and st.mode == "delay" else 0.0
        d.q.append((now + delay, data))
        d.size += len(data)

    def _rate(self, p):
        """The link's throttle in bytes/s, or 0 when not throttled."""
        st = self.links[p.link] if p.link else None
        return st.rate if st is not None and st.mode == "throttle" else 0.0

    def _pump_read(self, p, src, d, now):
        """Read from src into d, within the throttle."""
        n = 65536
        rate = self._rate(p)
        if rate:
            n = int(d.tokens)
            if n <= 0:
                return
        try:
            b = src.recv(min(n, 65536))
        except BlockingIOError:
            return
        except OSError as e:
            closer = p.dialer if src is p.down else p.server
            self._close_pair(p, closer=closer, why=str(e))
            return
        if not b:
            d.eof = True
            if p.first_eof is None:
                p.first_eof = p.dialer if src is p.down else p.server
            return
        if rate:
            d.tokens -= len(b)
        if src is p.down and p.scan is not None:
            p.scan += b
            self._scan(p)
        self._queue(p, d, b, now)

    def _pump_write(self, p, dst, d, now):
        """Write what is due in d to dst; pass a FIN on once d is empty."""
        data = d.due(now)
        if data:
            try:
                n = dst.send(data)
            except BlockingIOError:
                n = 0
            except OSError as e:
                closer = p.server if dst is p.up else p.dialer
                self._close_pair(p, closer=closer, why=str(e))
                return
            d.consume(n)
        if d.eof and d.size == 0 and not d.shut:
            d.shut = True
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _refill(self, p, now):
        """Top up the throttle token buckets of p."""
        rate = self._rate(p)
        for d in (p.d2u, p.u2d):
            if rate:
                d.tokens = min(rate * 0.25 + 1, d.tokens +
                               rate * (now - d.last))
            d.last = now

    def _run(self):
        """The poll loop."""
        while self.running:
            now = time.monotonic()
            masks = {self.rfd.fileno(): select.POLLIN}
            fds = {self.rfd.fileno(): ("wake", None)}
            timeout = 0.2
            with self.lock:
                for fd, (ls, name) in self.listeners.items():
                    masks[fd] = select.POLLIN
                    fds[fd] = ("listen", (ls, name))
                for p in list(self.pairs):
                    timeout = min(timeout, self._plan(p, now, masks, fds))
            po = select.poll()
            for fd, m in masks.items():
                po.register(fd, m)
            try:
                events = po.poll(max(0.0, timeout) * 1000)
            except InterruptedError:
                continue
            now = time.monotonic()
            with self.lock:
                self._dispatch(events, fds, now)

    def _plan(self, p, now, masks, fds):
        """Add p's sockets to the poll set; return how soon to wake."""
        timeout = 0.2
        if p.zombie_until is not None:
            if now >= p.zombie_until:
                self._close_pair(p, by_proxy=True)
                return timeout
            timeout = p.zombie_until - now
        self._refill(p, now)
        if p.hello is not None:
            masks[p.down.fileno()] = select.POLLIN
            fds[p.down.fileno()] = ("hello", p)
            return timeout
        if p.hold:
            return timeout
        if p.up is None:
            self._connect(p)
            if p.closed:
                return timeout
        if p.connecting:
            masks[p.up.fileno()] = select.POLLOUT
            fds[p.up.fileno()] = ("connect", p)
            return timeout
        for src, d in ((p.down, p.d2u), (p.up, p.u2d)):
            fds[src.fileno()] = ("data", p)
            masks.setdefault(src.fileno(), 0)
            if not d.eof and d.size < BUF_MAX:
                if not self._rate(p) or d.tokens >= 1:
                    masks[src.fileno()] |= select.POLLIN
                else:
                    timeout = min(timeout, 0.02)
        for dst, d in ((p.up, p.d2u), (p.down, p.u2d)):
            if d.q and d.q[0][0] > now:
                timeout = min(timeout, d.q[0][0] - now)
            elif d.q or (d.eof and not d.shut):
                masks[dst.fileno()] |= select.POLLOUT
        return timeout

    def _dispatch(self, events, fds, now):
        """Handle one poll round."""
        for fd, ev in events:
            kind, obj = fds.get(fd, (None, None))
            if kind == "wake":
                try:
                    self.rfd.recv(4096)
                except OSError:
                    pass
            elif kind == "listen":
                self._accept(obj[0], obj[1], now)
            elif kind == "hello":
                if not obj.closed:
                    self._read_hello(obj, now)
            elif kind == "connect":
                p = obj
                if p.closed:
                    continue
                err = p.up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._close_pair(p, by_proxy=True)
                else:
                    p.connecting = False
            elif kind == "data":
                p = obj
                if p.closed or p.hold:
                    continue
                side_up = fd == p.up.fileno()
                src = p.up if side_up else p.down
                d_in = p.u2d if side_up else p.d2u
                d_out = p.d2u if side_up else p.u2d
                if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    self._pump_read(p, src, d_in, now)
                if not p.closed and ev & select.POLLOUT:
                    self._pump_write(p, src, d_out, now)
                if not p.closed and p.d2u.shut and p.u2d.shut:
                    # Both ways finished cleanly: the nodes closed it.
                    self._close_pair(p, closer=p.first_eof, why="FIN")


