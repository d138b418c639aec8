"""The systemd units in systemd/: systemd-analyze accepts them, and they
carry the settings herdctl(8) and herd-node(8) rely on.

Verification.  systemd-analyze verify refuses a unit whose Exec*= binary
does not exist, and the units name /usr/local/bin (rewritten by
`make install`), so each unit is copied into a temporary directory with
/usr/local/bin replaced by a bin/ holding executable stubs named herdctl
and herd-node.  The man pages named by Documentation= are copied into a
man/ tree there too.  The exact command, run in that directory:

    SYSTEMD_LOG_LEVEL=warning SYSTEMD_LOG_COLOR=0 SYSTEMD_PAGER=cat \\
    MANPATH=$TMP/man systemd-analyze verify ./herd.service

(and ./herd-node@.service, which systemd-analyze instantiates as
herd-node@i.service).  When `man` cannot find pages through MANPATH (no
man-db, a minimised image) --man=no is added instead.  systemd-analyze
exits 0 even for unknown keys or bad values -- it only prints a warning
-- so a unit passes only with exit 0 *and* no output at all.

Run: /usr/bin/python3 -m pytest -q tests/system/test_systemd_units.py
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import MAN_PAGES, ROOT

UNIT_DIR = os.path.join(ROOT, "systemd")
UNITS = ["herd.service", "herd-node@.service"]

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed "
    "(Debian: apt-get install systemd)")

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RestrictRealtime": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "LimitNOFILE": "65536",
    "DynamicUser": "yes",
}


def parse_unit(name):
    """{section: [(key, value), ...]} of a unit file, in order."""
    sections = {}
    cur = None
    with open(os.path.join(UNIT_DIR, name)) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            assert not line.endswith("\\"), "continuation lines: " + line
            m = re.match(r"^\[(.+)\]$", line)
            if m:
                cur = sections.setdefault(m.group(1), [])
                continue
            assert cur is not None, "key before any section: " + line
            key, sep, value = line.partition("=")
            assert sep, "not key=value: " + line
            cur.append((key.strip(), value.strip()))
    return sections


def values(unit, section, key):
    """Every value of key in section (a list: keys may repeat)."""
    return [v for k, v in parse_unit(unit).get(section, []) if k == key]


def one(unit, section, key):
    """The single value of key in section."""
    vals = values(unit, section, key)
    assert len(vals) == 1, "%s [%s] %s= set %d times" % (
        unit, section, key, len(vals))
    return vals[0]


def man_works(mandir):
    """True when `man` finds pages under mandir through MANPATH."""
    if shutil.which("man") is None:
        return False
    env = dict(os.environ, MANPATH=mandir)
    r = subprocess.run(["man", "-w", "8", "herdctl"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return r.returncode == 0 and mandir in r.stdout.decode(errors="replace")


def stage(tmp_path, unit, text=None):
    """Copy unit into tmp_path with its binaries pointing at stubs."""
    bindir = tmp_path / "bin"
    if not bindir.exists():
        bindir.mkdir()
        for prog in ("herdctl", "herd-node"):
            stub = bindir / prog
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
        for page, src in MAN_PAGES.items():
            sect = tmp_path / "man" / ("man" + page[-1])
            sect.mkdir(parents=True, exist_ok=True)
            if os.path.exists(src):
                shutil.copy(src, str(sect / page))
    if text is None:
        with open(os.path.join(UNIT_DIR, unit)) as f:
            text = f.read()
    (tmp_path / unit).write_text(text.replace("/usr/local/bin", str(bindir)))
    return "./" + unit


def analyze_verify(tmp_path, unit, text=None):
    """Run systemd-analyze verify on a staged copy: (exit code, output)."""
    arg = stage(tmp_path, unit, text)
    mandir = str(tmp_path / "man")
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="warning", SYSTEMD_LOG_COLOR="0",
               SYSTEMD_PAGER="cat", MANPATH=mandir)
    cmd = [ANALYZE, "verify"]
    if not all(os.path.exists(p) for p in MAN_PAGES.values()) or \
            not man_works(mandir):
        cmd.append("--man=no")
    r = subprocess.run(cmd + [arg], cwd=str(tmp_path), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    return r.returncode, r.stdout.decode(errors="replace")


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify(tmp_path, unit):
    code, out = analyze_verify(tmp_path, unit)
    assert code == 0 and out == "", "systemd-analyze verify %s:\n%s" % (
        unit, out)


@needs_analyze
@pytest.mark.parametrize("mutation,expect", [
    (("Type=notify", "Type=bogus"), "bogus"),
    (("ProtectHome=yes", "ProtectHom=yes"), "ProtectHom"),
])
def test_verify_catches_mistakes(tmp_path, mutation, expect):
    """The harness itself: a broken unit does not pass."""
    with open(os.path.join(UNIT_DIR, "herd.service")) as f:
        text = f.read()
    assert mutation[0] in text
    code, out = analyze_verify(tmp_path, "herd.service",
                               text.replace(mutation[0], mutation[1], 1))
    assert expect in out, out


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_security_exposure(tmp_path, unit):
    """systemd-analyze security rates the sandbox "OK" (exposure <= 2.5)."""
    arg = stage(tmp_path, unit)
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="warning", SYSTEMD_LOG_COLOR="0",
               SYSTEMD_PAGER="cat")
    r = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager",
                        arg], cwd=str(tmp_path), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    if m is None:
        pytest.skip("systemd-analyze security --offline is not supported "
                    "here (systemd < 250)")
    assert float(m.group(1)) <= 2.5, out


def test_herd_service_settings():
    u = "herd.service"
    assert one(u, "Service", "Type") == "notify"
    assert one(u, "Service", "NotifyAccess") == "main"
    assert one(u, "Service", "ExecStartPre") == \
        "/usr/local/bin/herdctl -c /etc/herd/herd.ini check"
    assert one(u, "Service", "ExecStart") == \
        "/usr/local/bin/herdctl -c /etc/herd/herd.ini start --foreground"
    assert one(u, "Service", "ExecReload") == \
        "/usr/local/bin/herdctl -c /etc/herd/herd.ini reload"
    for stop in values(u, "Service", "ExecStop"):
        assert stop == "/usr/local/bin/herdctl -c /etc/herd/herd.ini stop"
    assert one(u, "Service", "KillMode") == "mixed"
    assert one(u, "Service", "Restart") == "on-failure"
    assert one(u, "Service", "RestartSec") == "1"
    assert one(u, "Service", "WatchdogSec") == "30"
    assert one(u, "Service", "TimeoutStopSec") == "15"
    assert one(u, "Service", "RuntimeDirectory") == "herd"
    assert one(u, "Service", "RuntimeDirectoryMode") == "0700"
    # herdctl's non-root run_dir default, $XDG_RUNTIME_DIR/herd, must be
    # the RuntimeDirectory (/run/herd).
    assert "XDG_RUNTIME_DIR=%t" in values(u, "Service", "Environment")
    assert one(u, "Install", "WantedBy") == "multi-user.target"


def test_herd_node_service_settings():
    u = "herd-node@.service"
    assert one(u, "Service", "Type") == "simple"
    assert one(u, "Service", "ExecStart") == \
        "/usr/local/bin/herd-node -c /etc/herd/herd.ini %i"
    assert one(u, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(u, "Service", "Restart") == "on-failure"
    assert "78" in one(u, "Service", "RestartPreventExitStatus").split()
    assert not values(u, "Service", "NotifyAccess")
    assert one(u, "Install", "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("unit", UNITS)
def test_hardening(unit):
    for key, want in HARDENING.items():
        assert one(unit, "Service", key) == want, key


def test_address_families():
    """AF_UNIX (syslog, sd_notify, control socket) and AF_INET/AF_INET6
    everywhere; herd.service also AF_NETLINK, for getifaddrs(3) in the
    supervisor's "is this server's address local?" check, and nothing
    else anywhere."""
    base = {"AF_UNIX", "AF_INET", "AF_INET6"}
    fams = set(one("herd.service", "Service",
                   "RestrictAddressFamilies").split())
    assert fams == base | {"AF_NETLINK"}
    fams = set(one("herd-node@.service", "Service",
                   "RestrictAddressFamilies").split())
    assert fams == base


@pytest.mark.parametrize("unit", UNITS)
def test_install_prefix_rewrite(unit):
    """Every herd program is named as /usr/local/bin/..., which
    `make install` rewrites to $(PREFIX)/bin with sed."""
    execs = [v for k, v in parse_unit(unit)["Service"]
             if k.startswith("Exec")]
    assert execs
    for cmd in execs:
        prog = cmd.split()[0].lstrip("-@:+!")
        if os.path.basename(prog) in ("herdctl", "herd-node"):
            assert prog.startswith("/usr/local/bin/"), cmd
        else:
            assert os.path.isabs(prog), cmd
