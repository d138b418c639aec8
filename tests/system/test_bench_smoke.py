"""herd-bench, the load generator of `make bench`, in every mode with tiny
parameters: its RESULT line parses and it finds no errors against a real
herd, and it does find them against a server that answers wrongly; and
what the bench's persistence rows read (a node's files, its `loaded`
line) is there."""
import json
import os
import re
import signal
import socket
import subprocess
import threading

from conftest import BIN, alive, free_ports, write_ini, wait_until, \
    DEFAULT_TOPOLOGY
from fake_places import FakePlaces
from procs import clean_make_env

BENCH = os.path.join(BIN, "herd-bench")
HERDCTL = os.path.join(BIN, "herdctl")


def bench(*args, timeout=30):
    """Run herd-bench; return (exit code, RESULT dict, whole output)."""
    p = subprocess.run([BENCH] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    assert len(lines) == 1, (p.returncode, p.stdout, p.stderr)
    result = dict(kv.split("=", 1) for kv in lines[0].split()[1:])
    return p.returncode, result, p.stdout + p.stderr


def assert_clean(rc, res, out):
    assert rc == 0, out
    assert res["errors"] == "0", out
    for k in ("rps", "p50_us", "p99_us", "p999_us", "cpu_us_per_req"):
        float(res[k])


def test_help():
    p = subprocess.run([BENCH, "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    assert "propagation" in p.stdout and "RESULT" in p.stdout
    p = subprocess.run([BENCH, "nosuchmode"], capture_output=True,
                       text=True)
    assert p.returncode == 64


def test_iamat_pipelined(herd_factory):
    h = herd_factory().start()
    rc, res, out = bench("iamat", "-p", h.port("Hill"), "-c", 4, "-d", 8,
                         "-n", 2000, "-k", 100)
    assert_clean(rc, res, out)
    assert res["mode"] == "iamat" and res["reqs"] == "2000"
    assert (res["conns"], res["depth"]) == ("4", "8")
    # The node was found through /proc/net/tcp without --pid.
    assert int(res["pid"]) == h.pid("Hill")
    assert int(res["rss_after_kb"]) > 0


def test_iamat_timed_with_herd_cpu(herd_factory):
    h = herd_factory().start()
    others = ",".join(str(h.pid(n)) for n in h.topology if n != "Hill")
    rc, res, out = bench("iamat", "-p", h.port("Hill"), "--pid",
                         h.pid("Hill"), "--also-pids", others, "-c", 2,
                         "-t", 0.5)
    assert_clean(rc, res, out)
    assert int(res["reqs"]) > 0
    # It ran for the time asked; the upper bound is a generous deadline.
    assert 0.4 < float(res["secs"]) < 10
    float(res["herd_cpu_us_per_req"])


def test_oneshot(herd_factory):
    h = herd_factory().start()
    rc, res, out = bench("oneshot", "-p", h.port("Hill"), "-c", 4, "-n",
                         300)
    assert_clean(rc, res, out)
    assert res["reqs"] == "300"


def test_whatsat(herd_factory):
    with FakePlaces() as fake:
        h = herd_factory(places="api = new\nkey = test-key\nurl = %s"
                         % fake.url_new).start()
        rc, res, out = bench("whatsat", "-p", h.port("Hill"), "-c", 2,
                             "-d", 4, "-n", 400, "-k", 5)
        assert_clean(rc, res, out)
        assert res["reqs"] == "400"


def test_propagation_idle_and_loaded(herd_factory):
    h = herd_factory().start()
    rc, res, out = bench("propagation", "-p", h.port("Hill"), "--to-port",
                         h.port("Campbell"), "-n", 20, "--gap-us", 500)
    assert_clean(rc, res, out)
    assert res["reqs"] == "20" and res["timeouts"] == "0"
    assert 0 < float(res["p50_us"]) <= float(res["p99_us"])
    rc, res, out = bench("propagation", "-p", h.port("Hill"), "--to-port",
                         h.port("Campbell"), "-n", 20, "--rate", 2000,
                         "--load-conns", 2)
    assert_clean(rc, res, out)
    assert float(res["rps"]) > 0
    float(res["load_p99_us"])


def test_idle(herd_factory):
    h = herd_factory(topology={"A": []}).start()
    rc, res, out = bench("idle", "-p", h.port("A"), "--idle", 200)
    assert_clean(rc, res, out)
    assert res["reqs"] == "200"
    assert int(res["fds_after"]) >= int(res["fds_before"]) + 200
    assert int(res["rss_after_kb"]) >= int(res["rss_before_kb"])


def test_load(herd_factory):
    h = herd_factory(topology={"A": ["B"], "B": ["A"]}).start()
    rc, res, out = bench("load", "-p", h.port("A"), "--records", 5000,
                         "-c", 4, "-d", 16)
    assert_clean(rc, res, out)
    assert res["records"] == "5000" and res["reqs"] == "5000"
    float(res["bytes_per_record"])


def _dir_bytes(path):
    """The size of the files under path, as make bench adds it up."""
    return sum(os.path.getsize(os.path.join(d, n))
               for d, _, files in os.walk(path) for n in files)


# make bench's restart row reads this line of the restarted node.
LOADED_RE = re.compile(r"loaded (\d+) records? \((\d+) log entr(?:y|ies)\)"
                       r" in (\d+) ms")


def test_load_persisted_then_restart(herd_factory, tmp_path):
    """make bench's disk and restart rows: records a load stores are on
    disk at a plausible size per record, and a restarted node reports
    loading every one of them in the line the bench parses."""
    data = tmp_path / "data"
    h = herd_factory(topology={"A": []},
                     herd_extra="data_dir = %s" % data).start()
    rc, res, out = bench("load", "-p", h.port("A"), "--records", 3000,
                         "-c", 4, "-d", 16)
    assert_clean(rc, res, out)
    assert h.stop("A") == 0
    per_record = _dir_bytes(data / "A") / 3000
    assert 40 < per_record < 400, per_record
    h.start("A")
    # The log holds both starts: the first loaded nothing.
    m = wait_until(lambda: LOADED_RE.findall(h.log("A"))[1:], 5,
                   what="the second loaded line")
    assert m[0][:2] == ("3000", "3000"), h.log("A")


def test_paced_load_grows_log(herd_factory, tmp_path):
    """make bench's log growth row: the paced background load of the
    propagation mode appends about one entry per IAMAT it achieved."""
    data = tmp_path / "data"
    h = herd_factory(topology={"A": ["B"], "B": ["A"]},
                     herd_extra="data_dir = %s" % data).start()
    before = _dir_bytes(data / "A")
    rc, res, out = bench("propagation", "-p", h.port("A"), "--to-port",
                         h.port("B"), "-n", 40, "--gap-us", 10000,
                         "--rate", 2000, "--load-conns", 2, "-k", 10 ** 8)
    assert_clean(rc, res, out)
    sent = float(res["rps"]) * float(res["secs"])
    assert sent > 100, out
    grown = wait_until(lambda: _dir_bytes(data / "A") - before, 5,
                       what="A's log to grow")
    assert 40 < grown / sent < 400, (grown, sent)


def test_recovery(tmp_path):
    ports = dict(zip(DEFAULT_TOPOLOGY, free_ports(len(DEFAULT_TOPOLOGY))))
    ini = str(tmp_path / "herd.ini")
    write_ini(ini, ports, DEFAULT_TOPOLOGY,
              "run_dir = %s\nlog_socket = %s" % (tmp_path / "run",
                                                 tmp_path / "nolog.sock"))
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    p = subprocess.run([HERDCTL, "-c", ini, "start"], capture_output=True,
                       text=True, env=env, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    sup = int(re.search(r"supervisor pid (\d+)", p.stdout).group(1))
    try:
        rc, res, out = bench("recovery", "--herdctl", HERDCTL, "-C", ini,
                             "--node", "Smith", "--records", 1000, "-c", 4,
                             "-d", 16, "--sample", 50, timeout=60)
        assert rc == 0, out
        assert res["errors"] == "0" and res["held"] == "1000", out
        assert float(res["recover_ms"]) >= 0
        assert float(res["kill_to_listen_ms"]) > 0
        st = subprocess.run([HERDCTL, "-c", ini, "status", "--json"],
                            capture_output=True, text=True, env=env)
        smith = [s for s in json.loads(st.stdout)["servers"]
                 if s["name"] == "Smith"][0]
        assert smith["restarts"] >= 1
    finally:
        pids = []
        st = subprocess.run([HERDCTL, "-c", ini, "status", "--json"],
                            capture_output=True, text=True, env=env)
        try:
            pids = [s["pid"] for s in json.loads(st.stdout)["servers"]
                    if s["pid"]]
        except ValueError:
            pass
        subprocess.run([HERDCTL, "-c", ini, "stop"], capture_output=True,
                       env=env, timeout=30)
        for pid in pids + [sup]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


class ReplyServer:
    """Answers every line with reply(line): by default an AT line for
    some other client."""

    def __init__(self, reply=lambda line: b"AT X +0.000000001 other +1+1 1"):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        buf = b""
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    return
                buf += b
                out = b""
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    out += self.reply(line) + b"\n"
                c.sendall(out)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def test_wrong_replies_are_errors():
    srv = ReplyServer()
    try:
        rc, res, out = bench("iamat", "-p", srv.port, "--pid", os.getpid(),
                             "-c", 2, "-n", 50)
        assert rc == 1
        assert res["errors"] == "50"
        assert "bad reply" in out
    finally:
        srv.close()


MODES = ("iamat", "oneshot", "whatsat", "load", "propagation", "idle",
         "recovery")


def test_mode_help():
    """Each mode's --help is its own: its usage line and its options,
    not the overview, and not the options of other modes."""
    overview = subprocess.run([BENCH, "--help"], capture_output=True,
                              text=True).stdout
    # What only one mode has shows in its help alone.
    own = {"propagation": "--to-port", "idle": "--no-touch",
           "recovery": "--herdctl", "whatsat": "--expect-status",
           "load": "bytes_per_record"}
    for mode in MODES:
        p = subprocess.run([BENCH, mode, "--help"], capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stderr
        assert p.stdout != overview
        assert p.stdout.startswith("usage: herd-bench %s " % mode), p.stdout
        assert "mode=%s " % mode in p.stdout
        for other, flag in own.items():
            assert (flag in p.stdout) == (other == mode), (mode, flag)
    p = subprocess.run([BENCH, "idle", "--bogus"], capture_output=True,
                       text=True)
    assert p.returncode == 64
    assert "usage: herd-bench idle " in p.stderr


def test_reply_check_is_byte_exact():
    """An AT reply is accepted exactly as a node writes it: one space
    between fields, a signed time_diff with nine fraction digits, the
    request's last three fields copied byte for byte."""
    good = b"AT X +0.000000001 %s %s %s"
    bad = [b"AT X +0.00000001 %s %s %s", b"AT  X +0.000000001 %s %s %s",
           b"AT X 0.000000001 %s %s %s", b"AT X +0.000000001 %s %s %s ",
           b" AT X +0.000000001 %s %s %s", b"AT X +0.000000001 %s  %s %s",
           b"AT X +0.000000001 %s %s %s 1", b"AT X +.000000001 %s %s %s",
           b"AT X +0.000000001 %sx %s %s"]
    for reply, errors in [(good, "0")] + [(b, "20") for b in bad]:
        srv = ReplyServer(lambda line, r=reply: r % tuple(line.split()[1:]))
        try:
            rc, res, out = bench("iamat", "-p", srv.port, "--pid",
                                 os.getpid(), "-c", 2, "-n", 20)
            assert res["errors"] == errors, (reply, out)
            assert rc == (0 if errors == "0" else 1), (reply, out)
        finally:
            srv.close()


def test_make_bench_leaves_the_tree_clean():
    """`make bench` writes its figures into build/bench (BENCH_OUT), and
    only `make bench-reference` into the committed tests/bench/."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))

    def dry(*args):
        p = subprocess.run(["make", "-n", "--no-print-directory"] +
                           list(args), cwd=root, capture_output=True,
                           text=True, timeout=120, env=clean_make_env())
        assert p.returncode == 0, p.stderr
        return p.stdout
    out = dry("bench")
    assert "results in %s/build/bench " % root in out, out
    assert "BENCH_OUT=%s/tests/bench" % root in dry("bench-reference")
    # Every writer of the bench honours BENCH_OUT.
    for script in ("run.sh", "scale.sh", "catch_up.py", "tls.py"):
        with open(os.path.join(root, "tests/bench", script)) as f:
            assert "BENCH_OUT" in f.read(), script
