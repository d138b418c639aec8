"""herdctl's operator surface: no silent success, no silent failure
(issue 16).  Every command either does what it says or says why not."""
import os
import re
import signal
import socket
import subprocess

import pytest

from conftest import (BIN, alive, harness_factory, wait_until, write_ini)
from test_herdctl import HERDCTL, NODE, Ctl, crashy_env

BENCH = os.path.join(BIN, "herd-bench")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class EnvRunDirCtl(Ctl):
    """A Ctl whose INI sets no run_dir: $HERD_RUN_DIR, relative, finds it;
    $HERD_DATA_DIR and $HERD_NODE_BIN are relative too."""

    def __init__(self, tmp, **kw):
        (tmp / "bin").mkdir()
        os.symlink(NODE, str(tmp / "bin" / "herd-node"))
        env = dict(kw.pop("env", None) or {}, HERD_RUN_DIR="run",
                   HERD_DATA_DIR="data", HERD_NODE_BIN="bin/herd-node")
        super().__init__(tmp, env=env, **kw)

    def write(self, topology=None, ports=None, extra=None):
        if topology is not None:
            self.topology = dict(topology)
        write_ini(self.ini, self.ports, self.topology,
                  "log_socket = %s\n" % self.syslog.path)


@pytest.fixture
def ctl_factory(tmp_path):
    yield from harness_factory(tmp_path, Ctl, "ctl")


@pytest.fixture
def env_ctl_factory(tmp_path):
    yield from harness_factory(tmp_path, EnvRunDirCtl, "ctl")


def adopt(c, p):
    """If p started a supervisor after all, let c.close() stop it."""
    m = re.search(r"supervisor pid (\d+)", p.stdout)
    if m:
        c.sup_pid = int(m.group(1))


def herdctl(*args, cwd=None, env=None):
    return subprocess.run([HERDCTL] + list(args), capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=60)


# --- 1: relative paths are the working directory's ----------------------

def test_relative_run_dir_data_dir_and_config(env_ctl_factory):
    c = env_ctl_factory(topology={"A": [], "B": ["A"]})
    # -c relative too: the daemon runs from "/", yet reloads this file.
    p = subprocess.run([HERDCTL, "-c", "herd.ini", "start"],
                       capture_output=True, text=True, env=c.env,
                       cwd=str(c.tmp))
    adopt(c, p)
    assert p.returncode == 0, p.stderr
    assert "run directory %s)\n" % c.run_dir in p.stdout, p.stdout
    assert os.path.exists(os.path.join(c.run_dir, "herd.sock"))
    st = c.status()
    assert st["A"]["state"] == "running"
    assert st["A"]["data_dir"] == str(c.tmp / "data" / "A")
    # The README's command, from the directory the herd was started in.
    p = subprocess.run([HERDCTL, "-c", "herd.ini", "status"],
                       capture_output=True, text=True, env=c.env,
                       cwd=str(c.tmp))
    assert p.returncode == 0, p.stderr
    assert re.search(r"^B\s+running", p.stdout, re.M), p.stdout
    p = subprocess.run([HERDCTL, "-c", "herd.ini", "reload"],
                       capture_output=True, text=True, env=c.env,
                       cwd=str(c.tmp))
    assert p.returncode == 0 and "reloaded" in p.stdout, p.stderr


def test_relative_path_keys_are_refused(tmp_path):
    ini = tmp_path / "h.ini"
    for key in ("run_dir", "data_dir", "secret_file", "log_socket",
                "tls_cert"):
        ini.write_text("[herd]\n%s = rel/x\n[server:A]\nport = 1\n" % key)
        p = herdctl("-c", str(ini), "check")
        assert p.returncode == 1
        assert "%s:2: %s must be an absolute path" % (ini, key) in p.stderr


# --- 2: reload names the file it reloads ---------------------------------

def test_reload_of_another_file_is_refused(ctl_factory):
    c = ctl_factory(topology={"A": []})
    c.start()
    other = c.tmp / "other.ini"
    write_ini(str(other), dict(c.ports, Z=c.ports["A"] + 1),
              {"A": [], "Z": []}, "run_dir = %s\nlog_socket = %s\n"
              % (c.run_dir, c.syslog.path))
    p = herdctl("-c", str(other), "reload", env=c.env)
    assert p.returncode == 1, p.stdout
    assert p.stdout == ""
    assert ("herdctl: the supervisor runs %s, not %s; nothing reloaded"
            % (c.ini, other)) in p.stderr
    assert set(c.status()) == {"A"}
    # Its own file, named after the command: reloaded.
    p = herdctl("reload", "-c", c.ini, env=c.env)
    assert p.returncode == 0 and "reloaded" in p.stdout, p.stderr


# --- 3, 4: start runs something, or says why not -------------------------

def test_start_only_unknown_names(ctl_factory):
    c = ctl_factory(topology={"Hill": [], "Smith": ["Hill"]})
    for only, bad in (("Nope", "Nope"), ("Hill,Nope", "Nope"),
                      ("Zed,Hill,Nope", "Zed, Nope")):
        p = c.run("start", "--only", only)
        adopt(c, p)
        assert p.returncode == 2, (only, p.stdout, p.stderr)
        assert "herdctl: --only: no such server: %s (not in %s)" % (
            bad, c.ini) in p.stderr
        assert "started" not in p.stdout
        assert c.run("status").returncode == 4


def is_local(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((addr, 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_start_with_no_local_server(ctl_factory):
    # Documentation addresses, never contacted: only compared with ours.
    hosts = {"A": "203.0.113.7", "B": "198.51.100.9"}
    if any(is_local(h) for h in hosts.values()):
        pytest.skip("this machine holds a documentation address")
    c = ctl_factory(topology={"A": [], "B": ["A"]})
    write_ini(c.ini, c.ports, c.topology, "run_dir = %s\nlog_socket = %s\n"
              % (c.run_dir, c.syslog.path), hosts=hosts)
    p = c.run("start")
    adopt(c, p)
    assert p.returncode == 1, p.stdout
    assert "started" not in p.stdout
    err = p.stderr
    assert err.startswith("herdctl: no server of %s is on this machine"
                          % c.ini), err
    assert "A 203.0.113.7, B 198.51.100.9" in err
    assert re.search(r"this machine's addresses: [^;]*127\.0\.0\.1", err)
    assert "--only" in err
    assert c.run("status").returncode == 4


# --- 5, 6: restart and start tell what they did --------------------------

def test_restart_keeps_stopped_servers_stopped(ctl_factory):
    c = ctl_factory(topology={"A": [], "B": ["A"]})
    c.start()
    a = c.pid("A")
    c.run("stop", "B", check=0)
    p = c.run("restart", check=0)
    assert ('B: stopped by "herdctl stop B", kept stopped (herdctl start B'
            ' runs it)') in p.stdout, p.stdout
    st = c.status()
    assert st["B"]["state"] == "stopped" and st["B"]["pid"] is None
    assert st["A"]["state"] == "running" and st["A"]["pid"] != a
    p = c.run("restart", "B", check=0)
    assert p.stdout.startswith("B: stopped by"), p.stdout     # nothing else
    assert c.status()["B"]["state"] == "stopped"
    p = c.run("start", "B", check=0)
    assert p.stdout == "B started\n"
    assert c.status()["B"]["state"] == "running"


def test_start_running_server_says_already_running(ctl_factory):
    c = ctl_factory(topology={"Hill": [], "Smith": ["Hill"]})
    c.start()
    pid = c.pid("Smith")
    c.run("stop", "Hill", check=0)
    p = c.run("start", "Smith", "Hill", check=0)
    assert p.stdout == "Smith already running\nHill started\n", p.stdout
    assert c.pid("Smith") == pid


# --- 9: status says why a server is fatal --------------------------------

def test_status_table_says_why_fatal(ctl_factory, tmp_path):
    env, flag = crashy_env(tmp_path)
    c = ctl_factory(topology={"A": []}, env=env)
    c.start()
    flag.write_text("78")           # exits 78 without a word on its pipe
    os.kill(c.pid("A"), signal.SIGKILL)
    c.wait_state("A", "fatal", 10)
    p = c.run("status", check=3)
    assert "A: fatal: exit 78, no reason reported (see its log lines)" \
        in p.stdout.splitlines(), p.stdout
    flag.unlink()
    # A configuration error the node reports: the reason itself.
    with open(c.ini, "a") as f:
        f.write("bogus = 1\n")
    c.run("start", "A", check=1)
    p = c.run("status", check=3)
    assert re.search(r"^A: fatal: %s:\d+: unknown key 'bogus'"
                     % re.escape(c.ini), p.stdout, re.M), p.stdout


# --- 13: options anywhere, unknown options named, one prefix --------------

def test_options_after_the_command(ctl_factory, tmp_path):
    c = ctl_factory(topology={"A": []})
    for args in (("check", "-c", c.ini), ("check", "--config", c.ini),
                 ("check", "--config=" + c.ini), ("check", "-c" + c.ini)):
        p = herdctl(*args)
        assert p.returncode == 0, (args, p.stderr)
        assert p.stdout.startswith("%s: ok (1 server" % c.ini), p.stdout
    c.start()
    p = herdctl("status", "A", "-c", c.ini, env=c.env)
    assert p.returncode == 0 and re.search(r"^A\s+running", p.stdout, re.M)
    p = herdctl("check", "-c")
    assert p.returncode == 2
    assert p.stderr == "herdctl: option '-c' needs a FILE\n"


@pytest.mark.parametrize("args", [
    ("status", "--bogus"), ("status", "--json", "-x"), ("stop", "--bogus"),
    ("restart", "--bogus"), ("start", "--bogus"), ("start", "--bogus", "A"),
    ("check", "--bogus"), ("reload", "--bogus"), ("graph", "--bogus"),
    ("--bogus", "status")])
def test_unknown_options_are_named(ctl_factory, args):
    c = ctl_factory(topology={"A": []})
    p = herdctl("-c", c.ini, *args, env=c.env) if args[0] != "--bogus" \
        else herdctl(*args, env=c.env)
    bad = [a for a in args if a.startswith("-") and a != "--json"][0]
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("herdctl: unknown option '%s'" % bad), \
        p.stderr
    assert "server name" not in p.stderr


def test_one_error_prefix(ctl_factory, tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text("[server:A]\nport = 0\n")
    for args in (("check",), ("start",), ("graph",)):
        p = herdctl("-c", str(ini), *args)
        assert p.returncode == 1
        lines = p.stderr.splitlines()
        assert lines and all(l.startswith("herdctl: ") for l in lines), \
            (args, lines)
        assert "herdctl: %s:2: bad port '0'" % ini in p.stderr
    p = herdctl("-c", str(ini), "check", "extra")
    assert p.returncode == 2
    assert p.stderr == "herdctl: check takes no arguments (got 'extra')\n"
    p = herdctl("start", "--only")
    assert p.returncode == 2
    assert p.stderr == "herdctl: option '--only' needs a value\n"
    p = herdctl()
    assert p.returncode == 2
    assert p.stderr.startswith("herdctl: no command given\nusage: herdctl")


# --- 14: every variable read is documented --------------------------------

def getenv_names(*dirs):
    names = set()
    for d in dirs:
        for f in os.listdir(os.path.join(ROOT, d)):
            if f.endswith(".c"):
                with open(os.path.join(ROOT, d, f)) as fp:
                    names |= set(re.findall(r'getenv\("(\w+)"\)', fp.read()))
    return names


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def test_help_and_man_pages_name_every_variable():
    node_help = subprocess.run([NODE, "--help"], capture_output=True,
                               text=True).stdout
    ctl_help = subprocess.run([HERDCTL, "--help"], capture_output=True,
                              text=True).stdout
    herd_vars = {v for v in getenv_names("src", "cmd/herdctl",
                                         "cmd/herd-node")
                 if v.startswith("HERD_")}
    assert {"HERD_RUN_DIR", "HERD_SECRET_FILE"} <= herd_vars
    ctl_vars = {"HERD_CONFIG", "HERD_RUN_DIR", "HERD_DATA_DIR",
                "HERD_NODE_BIN", "HERD_SECRET_FILE"}   # the last: it sets it
    node_vars = herd_vars - {"HERD_RUN_DIR", "HERD_DATA_DIR",
                             "HERD_NODE_BIN"}
    for v in node_vars:
        assert v in node_help, v
        assert ".It Ev %s" % v in read("cmd/herd-node/herd-node.8"), v
    for v in ctl_vars:
        assert v in ctl_help, v
        assert ".It Ev %s" % v in read("cmd/herdctl/herdctl.8"), v
    # Every variable herdctl's supervisor reads, in its ENVIRONMENT.
    man = read("cmd/herdctl/herdctl.8")
    env = man[man.index(".Sh ENVIRONMENT"):man.index(".Sh FILES")]
    for v in getenv_names("src", "cmd/herdctl") - {"HERD_PLACES_KEY",
                                                   "HERD_PERSIST_COMPACT_MIN",
                                                   "HERD_READY_FD"}:
        assert v in env, v
    files = man[man.index(".Sh FILES"):man.index(".Sh EXIT STATUS")]
    assert "HERD_RUN_DIR" in files
    ini5 = read("etc/herd.ini.5")
    at = ini5.index(".It Cm run_dir No")
    assert "HERD_RUN_DIR" in ini5[at:at + 1200]


def test_bench_help_per_mode():
    modes = ["iamat", "oneshot", "whatsat", "load", "propagation", "idle",
             "recovery"]
    texts = set()
    for m in modes:
        p = subprocess.run([BENCH, m, "--help"], capture_output=True,
                           text=True)
        assert p.returncode == 0
        assert p.stdout.startswith("usage: herd-bench %s" % m), p.stdout
        texts.add(p.stdout)
    assert len(texts) == len(modes)
