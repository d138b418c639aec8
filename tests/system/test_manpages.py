"""The manual pages: clean under mandoc's linter, and in step with the code.

    mandoc -T lint -W warning PAGE

must print nothing and exit 0 for herdctl.8, herd-node.8 and herd.ini.5
(messages of level "style", such as a reference to a page that is not
installed, are not asked for).  The other tests check that what the
pages list matches what the programs accept: every INI key of
src/config.c is documented in herd.ini(5), the example topology is the
shipped etc/herd.ini, the INI examples load, and every option and
command of the --help texts appears in the pages.

Run: /usr/bin/python3 -m pytest -q tests/system/test_manpages.py
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BIN, MAN_PAGES, ROOT

MANDOC = shutil.which("mandoc")
needs_mandoc = pytest.mark.skipif(
    MANDOC is None, reason="mandoc is not installed "
    "(Debian: apt-get install mandoc)")


def read(page):
    with open(MAN_PAGES[page]) as f:
        return f.read()


def literal_blocks(page):
    """The text of every .Bd -literal ... .Ed display of a page."""
    return re.findall(r"^\.Bd -literal[^\n]*\n(.*?)^\.Ed$", read(page),
                      re.S | re.M)


def documented_keys(page):
    """Words introduced by ".It Cm WORD" (keys, commands) in a page."""
    return set(re.findall(r"^\.It Cm ([A-Za-z_]+)", read(page), re.M))


def servers_of(text):
    """{server: (port, set of neighbours)} of INI text."""
    out, cur = {}, None
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        m = re.match(r"^\[server:(.+)\]$", line)
        if m:
            cur = m.group(1)
            out[cur] = [None, set()]
        elif line.startswith("["):
            cur = None
        elif cur and "=" in line:
            key, value = (x.strip() for x in line.split("=", 1))
            if key == "port":
                out[cur][0] = int(value)
            elif key in ("neighbors", "neighbours"):
                out[cur][1] |= set(value.replace(",", " ").split())
    return {k: (v[0], v[1]) for k, v in out.items()}


def help_text(prog):
    """The --help text of a built program, or skip."""
    path = os.path.join(BIN, prog)
    if not os.access(path, os.X_OK):
        pytest.skip("%s is not built (run make)" % path)
    r = subprocess.run([path, "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode == 0, r.stdout
    return r.stdout.decode()


@needs_mandoc
@pytest.mark.parametrize("page", sorted(MAN_PAGES))
def test_mandoc_lint(page):
    r = subprocess.run([MANDOC, "-T", "lint", "-W", "warning",
                        MAN_PAGES[page]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and out == "", out


@needs_mandoc
def test_lint_catches_mistakes(tmp_path):
    """The harness itself: a page with a mistake does not pass."""
    bad = tmp_path / "bad.8"
    bad.write_text(read("herdctl.8").replace(".Sh SEE ALSO\n",
                                             ".Sh SEE ALSO\n.Xr\n"))
    r = subprocess.run([MANDOC, "-T", "lint", "-W", "warning", str(bad)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    assert r.returncode != 0 and r.stdout


def test_every_ini_key_documented():
    with open(os.path.join(ROOT, "src", "config.c")) as f:
        src = f.read()
    keys = set(re.findall(r'\{\s*SEC_[A-Z]+,\s*"([a-z_]+)"', src))
    assert len(keys) >= 10, "key table of src/config.c not found"
    documented = documented_keys("herd.ini.5")
    # neighbours is documented as the other spelling of neighbors.
    missing = sorted(keys - documented - {"neighbours"})
    assert not missing, "herd.ini.5 lacks: %s" % ", ".join(missing)
    assert "neighbours" in read("herd.ini.5")


def test_example_is_shipped_topology():
    with open(os.path.join(ROOT, "etc", "herd.ini")) as f:
        shipped = servers_of(f.read())
    assert len(shipped) == 5
    examples = [servers_of(b) for b in literal_blocks("herd.ini.5")]
    assert shipped in examples


def test_ini_examples_load(tmp_path):
    """Every INI example of herd.ini(5) passes herdctl check (its
    secret_file pointed at a valid temporary secret)."""
    herdctl = os.path.join(BIN, "herdctl")
    if not os.access(herdctl, os.X_OK):
        pytest.skip("%s is not built (run make)" % herdctl)
    secret = tmp_path / "secret"
    secret.write_text("0123456789abcdef0123456789abcdef\n")
    secret.chmod(0o600)
    blocks = [b for b in literal_blocks("herd.ini.5") if "[server:" in b]
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        ini = tmp_path / ("example%d.ini" % i)
        ini.write_text(re.sub(r"(secret_file\s*=\s*)\S+",
                              lambda m: m.group(1) + str(secret), block))
        r = subprocess.run([herdctl, "-c", str(ini), "check"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=10)
        assert r.returncode == 0, "example %d:\n%s\n%s" % (
            i, block, r.stdout.decode())


def test_herd_node_options_documented():
    text = help_text("herd-node")
    page = read("herd-node.8")
    for opt in re.findall(r"--([a-z][a-z-]*)", text):
        assert "Fl \\-" + opt in page, "--%s" % opt
    for short in re.findall(r"^\s+-([a-z]),", text, re.M):
        assert re.search(r"^\.It Fl %s\b" % short, page, re.M), "-" + short
    for var in re.findall(r"\b(HERD_[A-Z_]+)\b", text):
        assert ".It Ev " + var in page, var
    for code in re.findall(r"\b(\d+) [a-z]", text.split("Exit status:")[1]):
        assert re.search(r"^\.It %s$" % code, page, re.M), "exit " + code


def test_herdctl_commands_documented():
    text = help_text("herdctl")
    page = read("herdctl.8")
    commands = re.findall(r"^  ([a-z]+)\b", text.split("Commands:")[1],
                          re.M)
    assert {"check", "start", "stop", "restart", "reload",
            "status"} <= set(commands)
    documented = documented_keys("herdctl.8")
    for cmd in commands:
        assert cmd in documented, cmd
        assert re.search(r"^\.Cm %s$" % cmd, page, re.M), "SYNOPSIS " + cmd
    for opt in re.findall(r"--([a-z][a-z-]*)", text):
        assert "Fl \\-" + opt in page, "--%s" % opt


def test_herdctl_exit_codes_documented():
    page = read("herdctl.8")
    section = page.split(".Sh EXIT STATUS", 1)[1].split(".Sh ", 1)[0]
    for code in ("0", "1", "2"):
        assert re.search(r"^\.It %s$" % code, section, re.M), code
    assert re.search(r"0 when every server shown is running, 3 when some"
                     r"\s+are not(?:\s+\(or\s+their persistence is failing\))?,"
                     r"\s+and 4\s+when no supervisor answers",
                     section)
