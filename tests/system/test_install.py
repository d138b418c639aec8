"""make install / make uninstall into a DESTDIR, and make run."""
import json
import os
import signal
import subprocess

from conftest import AT_RE, ROOT, exchange, free_ports, wait_until, write_ini

TOPOLOGY = {"A": ["B"], "B": []}


def make(*args, **kw):
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT] +
                          list(args), capture_output=True, text=True,
                          timeout=300, **kw)


def test_install_and_uninstall(tmp_path):
    dest = tmp_path / "dest"
    p = make("install", "DESTDIR=%s" % dest, "PREFIX=/usr")
    assert p.returncode == 0, p.stderr
    files = sorted(str(f.relative_to(dest)) for f in dest.rglob("*")
                   if f.is_file())
    assert files == [
        "etc/herd/herd.ini",
        "usr/bin/herd-node",
        "usr/bin/herdctl",
        "usr/lib/systemd/system/herd-node@.service",
        "usr/lib/systemd/system/herd.service",
        "usr/share/doc/herd/README.md",
        "usr/share/man/man5/herd.ini.5",
        "usr/share/man/man8/herd-node.8",
        "usr/share/man/man8/herdctl.8",
    ]
    unit = (dest / "usr/lib/systemd/system/herd.service").read_text()
    assert "ExecStart=/usr/bin/herdctl -c /etc/herd/herd.ini start " \
           "--foreground" in unit
    assert "/usr/local/bin" not in unit
    assert os.access(dest / "usr/bin/herdctl", os.X_OK)
    # The operator's configuration survives a second install ...
    ini = dest / "etc/herd/herd.ini"
    ini.write_text("; mine\n")
    p = make("install", "DESTDIR=%s" % dest, "PREFIX=/usr")
    assert p.returncode == 0 and "keeping existing" in p.stdout
    assert ini.read_text() == "; mine\n"
    # ... and the uninstall.
    p = make("uninstall", "DESTDIR=%s" % dest, "PREFIX=/usr")
    assert p.returncode == 0, p.stderr
    left = sorted(str(f.relative_to(dest)) for f in dest.rglob("*")
                  if f.is_file())
    assert left == ["etc/herd/herd.ini"]


def test_make_run_foreground_and_ctrl_c(tmp_path):
    ports = dict(zip(TOPOLOGY, free_ports(2)))
    ini = tmp_path / "run.ini"
    write_ini(str(ini), ports, TOPOLOGY,
              "run_dir = %s\nlog_socket = %s" % (tmp_path / "run",
                                                 tmp_path / "nolog"))
    p = subprocess.Popen(["make", "--no-print-directory", "-C", ROOT, "run",
                          "RUN_CONFIG=%s" % ini], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def serving():
            try:
                return AT_RE.match(exchange(ports["A"], b"IAMAT x +1+1 1\n",
                                            timeout=1).rstrip(b"\n"))
            except OSError:
                return None
        wait_until(serving, 60, interval=0.1, what="make run serving")
        herdctl = os.path.join(ROOT, "bin", "herdctl")

        def both_running():
            st = json.loads(subprocess.run(
                [herdctl, "-c", str(ini), "status", "--json"],
                capture_output=True, text=True).stdout)
            states = [v["state"] for v in st["servers"]]
            return st if states == ["running"] * 2 else None
        # A serving says nothing of B, which may still be loading its
        # places data (the GeoNames set: tens of milliseconds).
        st = wait_until(both_running, 30, interval=0.05,
                        what="both servers running")
        pids = [s["pid"] for s in st["servers"]]
        os.killpg(p.pid, signal.SIGINT)          # Ctrl-C in the terminal
        out = p.communicate(timeout=30)[0].decode()
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert "supervisor: all workers ready" in out     # logs on the terminal
    assert "A: listening on 127.0.0.1:%d" % ports["A"] in out
    for pid in pids:
        wait_until(lambda: not os.path.exists("/proc/%d" % pid), 5,
                   what="worker %d gone" % pid)
