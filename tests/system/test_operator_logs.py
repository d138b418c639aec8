"""What an operator reads: start-up failures and a missing log socket on
stderr, the supervisor following a reloaded log_socket, peer links logged
as links, counts with their singular, documented IAMATs of now (issue
16)."""
import json
import os
import re
import socket
import subprocess

import pytest

from conftest import (AT_RE, MAN_PAGES, NODE, ROOT, SyslogReceiver,
                      exchange, harness_factory, wait_until)
from test_herdctl import Ctl


@pytest.fixture
def ctl_factory(tmp_path):
    yield from harness_factory(tmp_path, Ctl, "ctl")


def test_port_taken_without_syslog_says_why_on_stderr(tmp_path):
    """A hand-run herd-node, no --stderr, no syslog socket, its port
    taken: exit 69 with the reason (and the missing socket) on stderr."""
    missing = tmp_path / "no-such-dir" / "log.sock"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        ini = tmp_path / "a.ini"
        ini.write_text("[herd]\nlog_socket = %s\n[server:A]\nport = %d\n"
                       % (missing, port))
        p = subprocess.run([NODE, "-c", str(ini), "A"], cwd=str(tmp_path),
                           capture_output=True, text=True, timeout=10)
    assert p.returncode == 69, p.stderr
    assert ("A: cannot listen on 127.0.0.1:%d: Address already in use"
            % port) in p.stderr, p.stderr
    notice = ("A: cannot reach the log socket %s (No such file or"
              " directory): log lines are lost (--stderr copies them to"
              " stderr)" % missing)
    assert p.stderr.count(notice) == 1, p.stderr
    # Only what matters: no ordinary log line leaks to stderr.
    assert "no secret_file" not in p.stderr, p.stderr


def test_start_without_syslog_says_so_and_status_shows_it(ctl_factory):
    """herdctl start with the log socket gone warns once; status shows
    it (a line under the table, "log" in --json) until a syslog
    listens there again."""
    c = ctl_factory(topology={"A": []})
    c.syslog.close()
    os.unlink(c.syslog.path)
    p = c.start()
    assert p.stderr.count("supervisor: cannot reach the log socket %s"
                          % c.syslog.path) == 1, p.stderr
    st = c.run("status", check=0)
    assert st.stdout.splitlines()[-1] == (
        "log: %s socket missing: log lines are lost" % c.syslog.path), (
        st.stdout)
    js = json.loads(c.run("status", "--json", check=0).stdout)
    assert js["log"] == "socket missing"
    c.syslog = SyslogReceiver(c.syslog.path)
    wait_until(lambda: json.loads(c.run("status", "--json", check=0)
                                  .stdout)["log"] == "ok", 10,
               what="status to see the log socket")
    st = c.run("status", check=0)
    assert "log:" not in st.stdout, st.stdout


def test_supervisor_follows_a_reloaded_log_socket(ctl_factory, tmp_path):
    """A reload that changes log_socket moves the supervisor's own lines
    to the new socket, as it moves the workers'."""
    c = ctl_factory(topology={"A": []})
    c.start()
    old = c.syslog
    old.wait_for(r"herdctl\[%d\]: supervisor: supervisor started"
                 % c.sup_pid)
    new = SyslogReceiver(str(tmp_path / "new.sock"))
    try:
        c.syslog = new
        c.write()
        c.run("reload", check=0)
        new.wait_for(r"herdctl\[%d\]: supervisor: reload: A: " % c.sup_pid)
        new.wait_for(r"herd-node\[\d+\]: A: reloaded: 0 neighbours$")
        moved = [l for l in old.drain()
                 if re.search(r"supervisor: reload: A: ", l)]
        assert not moved, moved
    finally:
        c.syslog = old
        new.close()


def test_peer_link_on_the_client_port_is_logged_as_a_link(herd_factory):
    """A HELLO on the client port: "connection N from ... became the link
    from B", and no "client N disconnected" for it."""
    h = herd_factory(topology={"A": ["B"], "B": ["A"]}).start()
    m = h.syslog.wait_for(r"herd-node\[\d+\]: (A|B): connection (\d+) from"
                          r" 127\.0\.0\.1:\d+ became the link from (A|B)$")
    line = m[0]
    who, cid, other = re.search(r": (A|B): connection (\d+) .* from (A|B)$",
                                line).groups()
    assert who != other, line
    pid = h.pid(who)
    h.syslog.wait_for(r"herd-node\[%d\]: %s: client %s connected from"
                      % (pid, who, cid))
    # The link, then a client that does disconnect: the node logged past
    # the moment the link's connection was handed over.
    h.iamat(who, b"c1", b"+1+1", b"1")
    h.syslog.wait_for(r"herd-node\[%d\]: %s: client \d+ disconnected"
                      % (pid, who))
    gone = [l for l in h.syslog.drain()
            if re.search(r"herd-node\[%d\]: %s: client %s disconnected$"
                         % (pid, who, cid), l)]
    assert not gone, gone


def test_counts_of_one_are_singular(herd_factory):
    """"started: 1 neighbour" and "reloaded: 1 neighbour", not "1
    neighbours"."""
    h = herd_factory(topology={"A": ["B"], "B": ["A"]}).start()
    h.syslog.wait_for(r"herd-node\[%d\]: A: started: 1 neighbour, config "
                      % h.pid("A"))
    h.signal("A", 1)
    h.syslog.wait_for(r"herd-node\[%d\]: A: reloaded: 1 neighbour$"
                      % h.pid("A"))


def test_documented_iamats_are_of_now(herd_factory):
    """The README's and herd-node(8)'s IAMAT examples send the time of
    now, so a newcomer's time_diff is small as shown, not years."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    man = open(MAN_PAGES["herd-node.8"]).read()
    sends = [l for l in (readme + man).splitlines()
             if "printf 'IAMAT" in l]
    assert len(sends) >= 2, sends
    for l in sends:
        assert '"$(date +%s.%N)"' in l, l
    # The quick start's command, its nc part pointed at our own server.
    quick = next(l for l in readme.splitlines()
                 if l.startswith("$ printf 'IAMAT"))
    cmd = quick[2:quick.index(" | nc ")]
    line = subprocess.run(["bash", "-c", cmd], capture_output=True,
                          check=True, timeout=10).stdout
    h = herd_factory(topology={"Hill": []}).start()
    m = AT_RE.match(exchange(h.port("Hill"), line).rstrip(b"\n"))
    assert m, line
    assert abs(float(m.group(2))) < 60, m.group(0)
    # The answers shown next to them are as fresh.
    for m in re.finditer(r"^AT Hill ([+-]\d+\.\d{9}) ", readme + man,
                         re.M):
        assert abs(float(m.group(1))) < 1, m.group(0)
