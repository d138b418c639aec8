"""herdctl graph: the topology as Graphviz DOT, configured and live."""
import re
import shutil
import subprocess

import pytest

from conftest import DEFAULT_TOPOLOGY, wait_until
from test_herdctl import ctl_factory  # noqa: F401 (fixture)

NODE_RE = re.compile(r'^\t"(\w+)" \[label="(\w+)\\n([^"]*)", '
                     r'fillcolor=(\w+)\];$')
EDGE_RE = re.compile(r'^\t"(\w+)" -- "(\w+)"( \[style=(\w+), '
                     r'color=(\w+)\])?;$')


def parse_dot(text):
    """{name: (label rest, colour)}, {frozenset(a, b): (style, colour)};
    every line must be one of the forms herdctl graph writes."""
    lines = text.split("\n")
    assert lines[0] == "graph herd {", text
    assert lines[-2:] == ["}", ""], text
    nodes, edges = {}, {}
    for line in lines[2:-2]:
        m = NODE_RE.match(line)
        if m:
            assert m.group(1) == m.group(2)
            nodes[m.group(1)] = (m.group(3), m.group(4))
            continue
        m = EDGE_RE.match(line)
        assert m, "unexpected DOT line %r" % line
        key = frozenset((m.group(1), m.group(2)))
        assert key not in edges, "link drawn twice: %r" % line
        edges[key] = (m.group(4), m.group(5))
    return nodes, edges


def default_links():
    return {frozenset((a, b)) for a, ns in DEFAULT_TOPOLOGY.items()
            for b in ns}


def test_graph_configured_without_supervisor(ctl_factory):  # noqa: F811
    c = ctl_factory()
    p = c.run("graph", check=0)
    nodes, edges = parse_dot(p.stdout)
    assert set(nodes) == set(DEFAULT_TOPOLOGY)
    for name, (rest, colour) in nodes.items():
        assert rest == str(c.ports[name])   # loopback: no host shown
        assert colour == "white"
    assert set(edges) == default_links() and len(edges) == 6
    assert all(v == (None, None) for v in edges.values())
    if shutil.which("dot"):
        svg = subprocess.run(["dot", "-Tsvg"], input=p.stdout,
                             capture_output=True, text=True, check=True)
        assert "<svg" in svg.stdout and "Singleton" in svg.stdout


def test_graph_live_states(ctl_factory):  # noqa: F811
    c = ctl_factory()
    c.start()
    wait_until(lambda: all(s["peers_up"] == s["peers"]
                           for s in c.status().values()), 10,
               what="every link up")
    nodes, edges = parse_dot(c.run("graph", check=0).stdout)
    assert {n: col for n, (_, col) in nodes.items()} == \
        {n: "palegreen" for n in DEFAULT_TOPOLOGY}
    assert all(nodes[n][0] == "%d\\nrunning" % c.ports[n] for n in nodes)
    assert edges == {k: ("solid", "black") for k in default_links()}

    c.run("stop", "Smith", check=0)

    def smith_down():
        nodes, edges = parse_dot(c.run("graph", check=0).stdout)
        return nodes["Smith"][1] == "lightgrey" and all(
            edges[k] == (("dashed", "red") if "Smith" in k
                         else ("solid", "black")) for k in edges) and edges
    edges = wait_until(smith_down, 10, what="Smith's links down")
    assert sum(1 for k in edges if "Smith" in k) == 3


def test_graph_shows_remote_host(tmp_path):
    ini = tmp_path / "h.ini"
    ini.write_text("[herd]\nrun_dir = %s\n[server:A]\nport = 5\n"
                   "host = 192.0.2.7\n[server:B]\nport = 6\n"
                   "neighbors = A\n" % (tmp_path / "run"))
    from test_herdctl import HERDCTL
    p = subprocess.run([HERDCTL, "-c", str(ini), "graph"],
                       capture_output=True, text=True, check=True)
    nodes, edges = parse_dot(p.stdout)
    assert nodes == {"A": ("192.0.2.7:5", "white"), "B": ("6", "white")}
    assert set(edges) == {frozenset("AB")}


@pytest.mark.parametrize("args", [["graph", "extra"]])
def test_graph_usage(ctl_factory, args):  # noqa: F811
    assert ctl_factory().run(*args).returncode == 2


def test_status_names_the_links_down(ctl_factory):  # noqa: F811
    """Each server reports every link ("LINK name 0|1" on its status
    pipe): status --json lists them per server, the table names the ones
    down."""
    c = ctl_factory()
    c.start()
    nbrs = {n: set(v) for n, v in DEFAULT_TOPOLOGY.items()}
    wait_until(lambda: all(s.get("links") == {t: True for t in nbrs[n]}
                           for n, s in c.status().items()), 10,
               what="every server to report every link up")
    c.run("stop", "Smith", check=0)
    wait_until(lambda: all(c.status()[n]["links"].get("Smith") is False
                           for n in nbrs["Smith"]), 10,
               what="Smith's neighbours to report their link to it down")
    table = c.run("status", check=3).stdout
    for n in nbrs["Smith"]:
        assert re.search(r"^%s: links down: Smith$" % n, table, re.M), table
