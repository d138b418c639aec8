#!/usr/bin/python3
"""scale.py -- the scale series of `make bench-scale` (tests/bench/scale.sh).

For each herd size N (5, 20, 50): a random connected topology of average
degree 3 (tests/topology.py, fixed seed) on free loopback ports, started
with herdctl; measures the time from `herdctl start` to its return (all
listen) and to every link up (herdctl status --json: peers_up ==
peers on every server), IAMAT propagation between the topology's
farthest pair (herd-bench propagation, idle), the whole herd's CPU per
update divided by N (utime+stime of every node from /proc/PID/stat
around herd-bench iamat runs of a fixed count, until the herd is idle
again; the median of --reps runs; also without the client-facing node,
per relaying server), RSS per server, the idle herd's CPU, and the time of `herdctl status` and `herdctl
reload` (one server's neighbours changed).  Writes scale.md and
scale.png (gnuplot) into the output directory.  Stops what it started,
by PID, even on failure.

    scale.py --bin DIR --out DIR --tmp DIR [--sizes 5,20,50] [--seed 1]
        [--updates 20000] [--reps 3] [--probes 200] [--idle-secs 3]
        [--gnuplot]
"""
import argparse
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import topology  # noqa: E402

TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("== " + msg, file=sys.stderr, flush=True)


def proc_cpu_s(pid):
    """utime+stime of pid in seconds (0 when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class Herd:
    """A generated herd of n servers under herdctl in tmp/nN."""

    def __init__(self, bindir, tmp, n, seed):
        self.herdctl = os.path.join(bindir, "herdctl")
        self.dir = os.path.join(tmp, "n%d" % n)
        os.makedirs(self.dir)
        self.ini = os.path.join(self.dir, "herd.ini")
        self.topo = topology.generate(n, seed)
        self.ports = dict(zip(sorted(self.topo), topology.free_ports(n)))
        self.herd_lines = [
            "run_dir = %s/run" % self.dir,
            "; no syslog receiver: log lines are dropped cheaply",
            "log_socket = %s/no-syslog.sock" % self.dir]
        topology.write(self.ini, self.topo, self.ports, self.herd_lines)
        self.diameter, self.far_a, self.far_b = topology.diameter(self.topo)
        self.env = dict(os.environ, HERD_DATA_DIR=self.dir + "/data")
        self.env.pop("NOTIFY_SOCKET", None)
        self.sup_pid = None
        self.pids = {}

    def ctl(self, *args, check=True):
        p = subprocess.run([self.herdctl, "-c", self.ini] + list(args),
                           capture_output=True, text=True, env=self.env,
                           timeout=120)
        if check and p.returncode != 0:
            raise RuntimeError("herdctl %s: exit %d: %s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def status(self):
        p = self.ctl("status", "--json", check=False)
        return {s["name"]: s for s in json.loads(p.stdout)["servers"]}

    def start(self):
        """(seconds to herdctl start's return, seconds to every link up)."""
        t0 = time.monotonic()
        p = self.ctl("start")
        t_listen = time.monotonic() - t0
        self.sup_pid = int(re.search(r"supervisor pid (\d+)",
                                     p.stdout).group(1))
        deadline = t0 + 120
        while True:
            st = self.status()
            self.pids = {n: s["pid"] for n, s in st.items() if s["pid"]}
            if all(s["peers_up"] == s["peers"] and s["state"] == "running"
                   for s in st.values()) and len(st) == len(self.topo):
                t_links = time.monotonic() - t0
                break
            if time.monotonic() > deadline:
                raise RuntimeError("links not up after 120 s")
            time.sleep(0.01)
        return t_listen, t_links

    def cpu_s(self):
        return sum(proc_cpu_s(p) for p in self.pids.values())

    def settle(self, timeout=60):
        """Wait until every server holds as many records as the others
        (the floods have arrived) and the whole herd is idle: under 4%
        of one CPU, all nodes together, over 0.5 s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len({s["records"] for s in self.status().values()}) == 1:
                break
            time.sleep(0.1)
        else:
            log("record counts differ after %d s" % timeout)
        while time.monotonic() < deadline:
            a = self.cpu_s()
            time.sleep(0.5)
            if self.cpu_s() - a <= 0.02:
                return
        log("herd not idle after %d s" % timeout)

    def timed(self, *args):
        t0 = time.monotonic()
        p = self.ctl(*args)
        return time.monotonic() - t0, p

    def reload_one(self):
        """Give far_a one more neighbour (the first it lacks) and reload:
        (seconds, herdctl's output)."""
        new = next(b for b in sorted(self.topo)
                   if b != self.far_a and b not in self.topo[self.far_a])
        self.topo[self.far_a] = sorted(self.topo[self.far_a] + [new])
        self.topo[new] = sorted(self.topo[new] + [self.far_a])
        topology.write(self.ini, self.topo, self.ports, self.herd_lines)
        return self.timed("reload")

    def stop(self):
        if self.sup_pid and alive(self.sup_pid):
            self.ctl("stop", check=False)
        if self.sup_pid and alive(self.sup_pid):
            os.kill(self.sup_pid, signal.SIGKILL)
        for pid in self.pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.sup_pid = None


def bench(bindir, *args):
    """Run herd-bench; its RESULT line as a dict (raises on failure)."""
    cmd = [os.path.join(bindir, "herd-bench")] + [str(a) for a in args]
    log("herd-bench " + " ".join(str(a) for a in args))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    for line in p.stdout.splitlines():
        if not line.startswith("RESULT "):
            print("   " + line, file=sys.stderr)
    res = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    if p.returncode != 0 or not res:
        raise RuntimeError("herd-bench %s: exit %d\n%s" % (
            args[0], p.returncode, p.stderr[-2000:]))
    return dict(kv.split("=", 1) for kv in res[-1].split()[1:])


def measure(a, n):
    h = Herd(a.bin, a.tmp, n, a.seed)
    row = {"n": n, "links": len(topology.links(h.topo)),
           "diameter": h.diameter, "far": "%s→%s" % (h.far_a, h.far_b)}
    log("N=%d: %d links, diameter %d (%s)" % (n, row["links"], h.diameter,
                                            row["far"]))
    try:
        row["start_s"], row["links_s"] = h.start()
        log("N=%d: start returned after %.3f s, every link up after %.3f s"
            % (n, row["start_s"], row["links_s"]))
        h.settle()
        row["rss_idle_kb"] = statistics.mean(
            proc_rss_kb(p) for p in h.pids.values())
        # What an idle herd costs (timers: records reports, fsync, ...).
        c0, t0 = h.cpu_s(), time.monotonic()
        time.sleep(a.idle_secs)
        row["idle_cpu_pct"] = 100 * (h.cpu_s() - c0) / (time.monotonic()
                                                         - t0)
        pa, pb = h.ports[h.far_a], h.ports[h.far_b]
        r = bench(a.bin, "propagation", "-p", pa, "--pid", h.pids[h.far_a],
                  "--to-port", pb, "--to-pid", h.pids[h.far_b],
                  "-n", a.probes)
        row["prop_p50_us"] = float(r["p50_us"])
        row["prop_p99_us"] = float(r["p99_us"])
        row["prop_errors"] = int(r.get("errors", 0)) + int(
            r.get("timeouts", 0))
        h.settle()
        # CPU per update: every node's CPU from before the load until
        # the herd is idle again (the floods reach the far side late);
        # the median of a.reps runs, each of new clients.
        others = ",".join(str(p) for nm, p in h.pids.items()
                          if nm != h.far_a)
        near = h.pids[h.far_a]
        runs = []
        for rep in range(a.reps):
            c0, n0 = h.cpu_s(), proc_cpu_s(near)
            r = bench(a.bin, "iamat", "-p", pa, "--pid", near,
                      "--also-pids", others, "-c", 10, "-d", 1,
                      "-n", a.updates, "-k", 10 * a.updates,
                      "--prefix", "scale%d-" % rep)
            h.settle()
            c1, n1 = h.cpu_s(), proc_cpu_s(near)
            reqs = int(r["reqs"])
            runs.append(((c1 - c0) * 1e6 / reqs,
                         ((c1 - c0) - (n1 - n0)) * 1e6 / reqs / (n - 1),
                         float(r["rps"]), int(r.get("errors", 0))))
        runs.sort()
        med = runs[len(runs) // 2]
        row["updates"] = a.updates
        row["cpu_us_per_update"] = med[0]
        row["cpu_us_per_update_per_server"] = med[0] / n
        row["relay_us_per_update"] = statistics.median(x[1] for x in runs)
        row["iamat_rps"] = statistics.median(x[2] for x in runs)
        row["iamat_errors"] = sum(x[3] for x in runs)
        rss = [proc_rss_kb(p) for p in h.pids.values()]
        row["rss_kb"] = statistics.mean(rss)
        row["rss_max_kb"] = max(rss)
        row["status_s"] = min(h.timed("status")[0] for _ in range(5))
        row["status_json_s"] = min(h.timed("status", "--json")[0]
                                   for _ in range(5))
        row["reload_s"], p = h.reload_one()
        row["reload_out"] = " ".join(p.stdout.split())
        t0 = time.monotonic()
        h.stop()
        row["stop_s"] = time.monotonic() - t0
        left = [p for p in list(h.pids.values()) + [h.sup_pid or 0]
                if p and alive(p)]
        if left:
            raise RuntimeError("processes left after stop: %r" % left)
    finally:
        h.stop()
    log("N=%d: %s" % (n, json.dumps(row)))
    return row


def report(a, rows, load_start, secs):
    def ms(v):
        return "%.0f" % (v * 1000) if v >= 0.1 else "%.1f" % (v * 1000)

    md = ["# herd scale series", "",
          "Produced by `make bench-scale` (tests/bench/scale.sh); do not "
          "edit by hand.", "",
          "| | |", "|---|---|",
          "| date | %s |" % datetime.datetime.now(datetime.timezone.utc)
          .strftime("%Y-%m-%d %H:%M UTC"),
          "| machine | %s CPUs (nproc), %s |" % (
              os.cpu_count(), subprocess.run(
                  ["uname", "-srm"], capture_output=True,
                  text=True).stdout.strip()),
          "| load average at start | %s |" % load_start,
          "| whole run | %d s |" % secs,
          "| topology | tests/topology.py -n N --seed %d (random connected, "
          "average degree 3) |" % a.seed, "",
          "Every herd runs on this machine's loopback, started by "
          "herdctl, persistence on (fsync everysec), log lines dropped "
          "(no syslog receiver).  **start** is `herdctl start` until it "
          "returns (every server listens); **links up** until `herdctl "
          "status --json` shows every link up.  **propagation** is an "
          "IAMAT at one end of the farthest pair until a WHATSAT at the "
          "other finds it (%d probes, idle herd).  **CPU/update/server** "
          "is the utime+stime of every node, from before %d IAMATs "
          "(new clients, 10 connections, at the near end) until the herd "
          "is idle again, per update, divided by N (the median of %d "
          "runs); **relay** is the same without the node the clients talk "
          "to, divided by N-1: what passing an update on costs a server.  "
          "**RSS** is the mean "
          "per server after the load.  status/reload: `herdctl status` "
          "(best of 5), `herdctl reload` with one server's neighbours "
          "changed; **idle herd CPU** is every node's CPU over %.0f s "
          "of nothing to do, in %% of one CPU." % (a.probes, a.updates,
                                                  a.reps, a.idle_secs), "",
          "| N | links | diameter | start ms | links up ms | propagation "
          "p50 µs | p99 µs | IAMAT/s | CPU µs/update | CPU µs/update/server "
          "| relay µs/update "
          "| RSS/server MB (idle → loaded) | status ms | status --json ms "
          "| reload ms | stop ms | idle herd CPU % |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
          "---:|---:|---:|---:|---:|"]
    for r in rows:
        err = ""
        if r["prop_errors"] or r["iamat_errors"]:
            err = " **(errors %d/%d)**" % (r["prop_errors"],
                                           r["iamat_errors"])
        md.append("| %d%s | %d | %d (%s) | %s | %s | %.0f | %.0f | %.0f | "
                  "%.1f | %.2f | %.2f | %.1f → %.1f | %s | %s | %s | %s | "
                  "%.1f |" % (
                      r["n"], err, r["links"], r["diameter"], r["far"],
                      ms(r["start_s"]), ms(r["links_s"]), r["prop_p50_us"],
                      r["prop_p99_us"], r["iamat_rps"],
                      r["cpu_us_per_update"],
                      r["cpu_us_per_update_per_server"],
                      r["relay_us_per_update"], r["rss_idle_kb"] / 1024,
                      r["rss_kb"] / 1024,
                      ms(r["status_s"]), ms(r["status_json_s"]),
                      ms(r["reload_s"]), ms(r["stop_s"]),
                      r["idle_cpu_pct"]))
    md += ["", "reload output at N=%d: `%s`" % (rows[-1]["n"],
                                                 rows[-1]["reload_out"]),
           "", "Rerun: `make bench-scale` (knobs: SCALE_SIZES, "
           "SCALE_UPDATES, SCALE_PROBES, SCALE_SEED).", "",
           "![propagation p99 and CPU per update per server against herd "
           "size](scale.png)", ""]
    open(os.path.join(a.out, "scale.md"), "w").write("\n".join(md))
    dat = os.path.join(a.tmp, "scale.dat")
    with open(dat, "w") as f:
        for r in rows:
            f.write("%d %f %f %d %f %f\n" % (
                r["n"], r["prop_p99_us"], r["cpu_us_per_update_per_server"],
                r["diameter"], r["prop_p50_us"], r["relay_us_per_update"]))
    if a.gnuplot:
        term = "pngcairo size 1200,500" if "pngcairo" in subprocess.run(
            ["gnuplot", "-e", "set terminal"], capture_output=True,
            text=True).stderr else "png size 1200,500"
        script = """
set terminal %s
set output '%s'
set multiplot layout 1,2
set grid
set key below
set xlabel 'servers in the herd'
set xrange [0:55]
set yrange [0:*]
set title 'IAMAT propagation to the farthest server (idle)'
set ylabel 'latency (us)'
plot '%s' using 1:2 with linespoints title 'p99', \
     '' using 1:5 with linespoints title 'p50', \
     '' using 1:2:(sprintf('%%d hops', $4)) with labels offset 0,1 notitle
set title 'whole-herd CPU per update / servers'
set ylabel 'CPU us per update per server'
plot '%s' using 1:3 with linespoints title 'whole herd / N', \
     '' using 1:6 with linespoints title 'relay (a server passing it on)'
unset multiplot
""" % (term, os.path.join(a.out, "scale.png"), dat, dat)
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print("\n".join(md))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--sizes", default="5,20,50")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--updates", type=int, default=20000)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--idle-secs", type=float, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--gnuplot", action="store_true")
    a = ap.parse_args()
    load_start = " ".join(open("/proc/loadavg").read().split()[:3])
    t0 = time.monotonic()
    rows = [measure(a, int(n)) for n in a.sizes.split(",")]
    report(a, rows, load_start, time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
