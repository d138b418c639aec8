#!/usr/bin/python3
"""topology.py -- generate a random connected herd topology as an INI.

N servers on free loopback ports, a random connected graph of average
degree 3 (a random spanning tree, then random extra links up to 1.5 N
links) from a fixed seed, written as an INI herdctl accepts.  Prints the
diameter and the farthest pair (by BFS over the undirected links):

    tests/topology.py -n 50 --seed 1 -o herd.ini [--run-dir D]
        [--log-socket S] [--extra 'key = value'] [--json]

Without --json it prints `servers=N links=L diameter=D far_a=A far_b=B`;
with --json the same as one JSON object, plus the ports.  The system
tests import it (generate(), diameter(), write()).
"""
import argparse
import collections
import json
import random
import socket
import sys


# The herd of the README, etc/herd.ini and the bench: five servers, six
# links.  The one copy every test, bench and the chaos suite use.
DEFAULT_TOPOLOGY = {
    "Hill": ["Jaquez", "Smith"],
    "Jaquez": ["Hill", "Singleton"],
    "Smith": ["Campbell", "Singleton", "Hill"],
    "Campbell": ["Smith", "Singleton"],
    "Singleton": ["Jaquez", "Smith", "Campbell"],
}

def generate(n, seed=1, degree=3.0):
    """{name: sorted neighbour names} of a random connected graph of n
    servers and round(n * degree / 2) links (fewer when n is too small
    to hold that many).  Names are s00, s01, ... in order."""
    rng = random.Random(seed)
    width = max(2, len(str(n - 1)))
    names = ["s%0*d" % (width, i) for i in range(n)]
    adj = {a: set() for a in names}
    order = names[:]
    rng.shuffle(order)
    # A random tree: each server joins a random earlier one (connected).
    for i in range(1, n):
        a, b = order[i], order[rng.randrange(i)]
        adj[a].add(b)
        adj[b].add(a)
    links = n - 1
    want = min(int(round(n * degree / 2)), n * (n - 1) // 2)
    while links < want:
        a, b = rng.sample(names, 2)
        if b in adj[a]:
            continue
        adj[a].add(b)
        adj[b].add(a)
        links += 1
    return {a: sorted(adj[a]) for a in names}


def links(topology):
    """The undirected links of topology as sorted (a, b) pairs."""
    return sorted({tuple(sorted((a, b))) for a, nb in topology.items()
                   for b in nb})


def distances(topology, src):
    """{name: hops from src} by BFS over the undirected links."""
    adj = collections.defaultdict(set)
    for a, b in links(topology):
        adj[a].add(b)
        adj[b].add(a)
    dist = {src: 0}
    q = collections.deque([src])
    while q:
        a = q.popleft()
        for b in sorted(adj[a]):
            if b not in dist:
                dist[b] = dist[a] + 1
                q.append(b)
    return dist


def diameter(topology):
    """(diameter, a, b): the longest shortest path and a pair at its
    ends (the first in name order).  Raises ValueError if not connected."""
    best = (-1, None, None)
    for a in sorted(topology):
        dist = distances(topology, a)
        if len(dist) != len(topology):
            raise ValueError("topology is not connected")
        for b in sorted(dist):
            if dist[b] > best[0]:
                best = (dist[b], a, b)
    return best


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held until all are chosen)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def write(path, topology, ports, herd_lines=()):
    """Write the INI: a [herd] section of herd_lines, then a section per
    server listing each link once (on its first end, in name order;
    links are undirected)."""
    with open(path, "w") as f:
        f.write("[herd]\n")
        for line in herd_lines:
            f.write(line + "\n")
        for a in sorted(topology):
            f.write("\n[server:%s]\nport = %d\n" % (a, ports[a]))
            mine = [b for b in topology[a] if a < b]
            if mine:
                f.write("neighbors = %s\n" % " ".join(mine))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("-n", type=int, required=True, help="servers")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--degree", type=float, default=3.0)
    ap.add_argument("-o", "--output", required=True, help="INI to write")
    ap.add_argument("--run-dir")
    ap.add_argument("--log-socket")
    ap.add_argument("--extra", action="append", default=[],
                    help="a line for [herd] (repeatable)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.n < 2:
        ap.error("-n must be at least 2")
    topo = generate(a.n, a.seed, a.degree)
    ports = dict(zip(sorted(topo), free_ports(a.n)))
    herd = []
    if a.run_dir:
        herd.append("run_dir = %s" % a.run_dir)
    if a.log_socket:
        herd.append("log_socket = %s" % a.log_socket)
    herd += a.extra
    write(a.output, topo, ports, herd)
    d, far_a, far_b = diameter(topo)
    info = {"servers": a.n, "links": len(links(topo)), "diameter": d,
            "far_a": far_a, "far_b": far_b}
    if a.json:
        info["ports"] = ports
        print(json.dumps(info, sort_keys=True))
    else:
        print(" ".join("%s=%s" % kv for kv in info.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
