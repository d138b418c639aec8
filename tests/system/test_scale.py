"""A herd of 50 servers under herdctl (issue 12): start, links, flooding
to the farthest server, status, reload and stop at that size, and what
used to fall over there (the supervisor's descriptor limit).

HERD_SCALE_SERVERS overrides the herd size (50), e.g. for a slow
sanitizer build on a loaded machine."""
import os
import re
import subprocess

from conftest import connects, exchange, wait_until
from test_herdctl import HERDCTL, alive, ctl_factory  # noqa: F401 (fixture)
import topology

N = int(os.environ.get("HERD_SCALE_SERVERS", "50"))
# Deadlines are generous (a 2-CPU machine shared with other tests, maybe
# a sanitizer build): every wait polls and returns as soon as it holds.
LINKS_S = 120


def all_links_up(ctl):
    st = ctl.status()
    return len(st) == len(ctl.topology) and all(
        s["state"] == "running" and s["peers_up"] == s["peers"]
        for s in st.values())


def holds(ctl, name, cid, at):
    """Does server name hold cid's record with the AT line at?"""
    out = exchange(ctl.ports[name], b"WHATSAT %s 10 1\n" % cid)
    return out.split(b"\n", 1)[0] == at


def test_herd_of_50(ctl_factory):
    topo = topology.generate(N, seed=1)
    hops, far_a, far_b = topology.diameter(topo)
    ctl = ctl_factory(topology=topo)
    ctl.start()

    # start returned: every server listens already, no waiting.
    assert [n for n in topo if not connects(ctl.ports[n])] == []
    st = ctl.status()
    assert sorted(st) == sorted(topo)
    assert {s["state"] for s in st.values()} == {"running"}
    pids = {n: s["pid"] for n, s in st.items()}
    assert len(set(pids.values())) == N
    for name, s in st.items():
        assert s["peers"] == len(topo[name]), name

    # Every link comes up (75 links at 50 servers).
    wait_until(lambda: all_links_up(ctl), LINKS_S, interval=0.1,
               what="every link up")
    # Start-up logging grows with the links, not with dial retries (every
    # server dials neighbours that may not listen yet): about 26 lines a
    # link and 7 a server today.
    nlinks = len(topology.links(topo))
    lines = len(ctl.syslog.drain())
    assert lines <= 40 * nlinks + 20 * N, (lines, nlinks)
    p = ctl.run("status", check=0)
    assert len([l for l in p.stdout.splitlines()
                if re.match(r"s\d+ +running ", l)]) == N

    # An update at one end of the longest shortest path reaches the other.
    at = ctl.iamat(far_a, b"scale-far")
    assert at.startswith(b"AT "), at
    wait_until(lambda: holds(ctl, far_b, b"scale-far", at), 30,
               what="%s (%d hops from %s) to hold the record"
               % (far_b, hops, far_a))

    # reload: far_a also links to far_b directly; only they are signalled,
    # keep their PIDs, and the new link comes up.
    topo2 = {n: list(nb) for n, nb in topo.items()}
    topo2[far_a].append(far_b)
    topo2[far_b].append(far_a)
    ctl.write(topology=topo2)
    p = ctl.run("reload", check=0)
    assert sorted(re.findall(r"^(\S+): (\S+)$", p.stdout, re.M)) == \
        sorted([(far_a, "signal"), (far_b, "signal")]), p.stdout
    wait_until(lambda: all_links_up(ctl) and
               ctl.status(far_a)[far_a]["peers"] == len(topo[far_a]) + 1,
               LINKS_S, interval=0.1, what="the new link up")
    st = ctl.status()
    assert {n: s["pid"] for n, s in st.items()} == pids
    at = ctl.iamat(far_a, b"scale-direct", b"2")
    wait_until(lambda: holds(ctl, far_b, b"scale-direct", at), 30,
               what="the record over the new link")

    # stop leaves no process behind.
    ctl.run("stop", check=0)
    left = [n for n, pid in pids.items() if alive(pid)]
    assert left == [] and not alive(ctl.sup_pid), left


def test_low_soft_descriptor_limit_does_not_stop_a_big_herd(ctl_factory):
    """The supervisor holds a status pipe per server: with a soft limit
    of 40 it used to fail the last servers of 50 ('not ready in time',
    after 10 s).  It raises its soft limit to the hard one; when even
    the hard limit is short, start fails and says why."""
    topo = topology.generate(N, seed=2)
    ctl = ctl_factory(topology=topo)
    low = 40 if N >= 50 else max(8, N - 10)

    def run_limited(soft, hard, *args):
        return subprocess.run(
            ["prlimit", "--nofile=%d:%d" % (soft, hard), "--", HERDCTL,
             "-c", ctl.ini] + list(args), capture_output=True, text=True,
            env=ctl.env, timeout=120, cwd=str(ctl.tmp))

    p = run_limited(low, 4096, "start")
    assert p.returncode == 0, (p.stdout, p.stderr)
    ctl.sup_pid = int(re.search(r"supervisor pid (\d+)", p.stdout).group(1))
    st = ctl.status()
    assert {s["state"] for s in st.values()} == {"running"}, st
    assert [n for n in topo if not connects(ctl.ports[n])] == []
    ctl.run("stop", check=0)

    p = run_limited(low, low, "start")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "cannot create its status pipe: Too many open files" in \
        p.stderr, p.stderr
    assert not [n for n in topo if connects(ctl.ports[n])]
