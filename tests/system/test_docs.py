"""The README, the shipped etc/herd.ini and the rendered man pages, held
to the code and to each other (issue 16: what a newcomer reads must be
what the binaries do).

- every in-page link of README.md ([x](#anchor)) names a heading;
- the README's herd.ini format block lists every key of src/config.c,
  and every default it, herd.ini(5) and etc/herd.ini state is the code's;
- herd.ini(5)'s "as shipped" example is etc/herd.ini, key for key;
- every option of herd-node --help is in the README's herd-node table;
- herd-bench --help states each mode's own --prefix default;
- herdctl status --help, like herdctl(8), says that failing persistence
  also makes status exit 3;
- the rendered man pages have balanced parentheses and print the JSON
  they show intact (mandoc -T lint does not see either).

Run: /usr/bin/python3 -m pytest -q tests/system/test_docs.py
"""
import glob
import os
import re
import shutil
import signal
import json
import subprocess
import time

import pytest

from conftest import BIN, MAN_PAGES, ROOT, exchange

MANDOC = shutil.which("mandoc")
needs_mandoc = pytest.mark.skipif(
    MANDOC is None, reason="mandoc is not installed "
    "(Debian: apt-get install mandoc)")


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def readme_prose():
    """README.md without its fenced code blocks."""
    return re.sub(r"^```.*?^```[^\n]*$", "", read("README.md"),
                  flags=re.S | re.M)


def github_anchor(heading):
    """The anchor GitHub gives a heading: lower case, punctuation other
    than - and _ dropped, spaces to -."""
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return h.replace(" ", "-")


def run_help(prog, *args):
    path = os.path.join(BIN, prog)
    if not os.access(path, os.X_OK):
        pytest.skip("%s is not built (run make)" % path)
    r = subprocess.run([path, *args, "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode == 0, r.stdout
    return r.stdout.decode()


def test_readme_anchors_exist():
    prose = readme_prose()
    anchors, seen = set(), {}
    for m in re.finditer(r"^#{1,6} (.+)$", prose, re.M):
        a = github_anchor(m.group(1))
        n = seen.get(a, 0)
        anchors.add(a if n == 0 else "%s-%d" % (a, n))
        seen[a] = n + 1
    links = re.findall(r"\]\(#([^)\s]+)\)", prose)
    assert len(links) >= 20, "in-page links of README.md not found"
    bad = sorted(set(l for l in links if l not in anchors))
    assert not bad, "README.md links to missing headings: %s" % bad


def config_keys():
    keys = set(re.findall(r'\{\s*SEC_[A-Z]+,\s*"([a-z_]+)"',
                          read("src", "config.c")))
    assert len(keys) >= 30, "key table of src/config.c not found"
    return keys


def code_defaults():
    """{key: default} from src/config.c's DEFAULT_KEY macros."""
    out = {}
    for name, value in re.findall(r"^#define\s+DEFAULT_([A-Z_]+)\s+(.+?)"
                                  r"\s*(?:/\*.*)?$", read("src", "config.c"),
                                  re.M):
        value = value.strip()
        if value.startswith('"'):
            out[name.lower()] = value.strip('"')
        elif re.fullmatch(r"[\d\s()*]+", value):
            out[name.lower()] = str(eval(value))  # 1024 * 1024 and such
    assert {"max_line", "timeout_ms", "log_socket"} <= set(out)
    return out


def stated_defaults(text):
    """{key: value} of the '; key = value' lines of an INI text."""
    out = {}
    for key, value in re.findall(r"^;\s*([a-z_]+)\s*=[ \t]*([^\s;]*)",
                                 text, re.M):
        if value:
            out[key] = value
    return out


def readme_format_block():
    text = read("README.md").split("## Configuration: herd.ini", 1)[1]
    return text.split("```ini", 1)[1].split("```", 1)[0]


def man_example_block():
    """herd.ini(5)'s example of the shipped etc/herd.ini."""
    page = read(*os.path.relpath(MAN_PAGES["herd.ini.5"], ROOT).split("/"))
    text = page.split("as shipped in", 1)[1]
    return text.split(".Bd -literal", 1)[1].split("\n", 1)[1] \
        .split("\n.Ed", 1)[0]


def test_readme_format_block_has_every_key():
    block = readme_format_block()
    listed = set(re.findall(r"^;?\s*([a-z_]+)\s*=", block, re.M))
    # neighbours is the other spelling of neighbors (said under the block).
    missing = sorted(config_keys() - listed - {"neighbours"})
    assert not missing, "README's herd.ini block lacks: %s" % missing


@pytest.mark.parametrize("where", ["README.md", "herd.ini.5", "etc/herd.ini"])
def test_stated_defaults_are_the_code(where):
    text = {"README.md": readme_format_block,
            "herd.ini.5": man_example_block,
            "etc/herd.ini": lambda: read("etc", "herd.ini")}[where]()
    code = code_defaults()
    stated = stated_defaults(text)
    checked = {k: v for k, v in stated.items() if k in code}
    assert len(checked) >= 5, (where, stated)
    wrong = {k: (v, code[k]) for k, v in checked.items() if v != code[k]}
    assert not wrong, "%s: stated default != code: %s" % (where, wrong)


def ini_settings(text):
    """The (section, key, value) lines of INI text, commented-out keys
    included, comments after them dropped."""
    out, sec = [], None
    for line in text.splitlines():
        m = re.match(r"^\s*\[([^\]]+)\]", line)
        if m:
            sec = m.group(1)
            continue
        m = re.match(r"^(;?)\s*([a-z_]+)\s*=[ \t]*(.*)$", line)
        if m:
            value = re.split(r"\s;", " " + m.group(3), 1)[0].strip()
            out.append((sec, m.group(1), m.group(2), value))
    return out


def test_man_example_is_shipped_file():
    shipped = ini_settings(read("etc", "herd.ini"))
    example = ini_settings(man_example_block())
    assert len(shipped) >= 20
    assert example == shipped, "\n".join(
        "%s %s" % (a, b) for a, b in zip(example, shipped) if a != b) or \
        "lengths %d != %d" % (len(example), len(shipped))


def test_herd_node_options_in_readme():
    text = run_help("herd-node")
    section = read("README.md").split("## herd-node", 1)[1] \
        .split("\n## ", 1)[0]
    synopsis = section.split("```", 2)[1]
    for short, long in re.findall(r"^\s+-([a-z]), --([a-z-]+)", text, re.M):
        assert "| `-%s`, `--%s" % (short, long) in section, "--" + long
        if short != "h":
            assert "-%s" % short in synopsis or "--%s" % long in synopsis, \
                "synopsis lacks -" + short
    codes = re.findall(r"\b(\d+) [a-z]", text.split("Exit status:")[1])
    for code in codes:
        assert re.search(r"^\| %s +\|" % code, section, re.M), "exit " + code


def test_herd_bench_prefix_defaults():
    general = run_help("herd-bench")
    for mode in ("iamat", "oneshot", "whatsat", "load", "propagation",
                 "idle", "recovery"):
        m = re.search(r"--prefix STR\s+client id prefix \(default (\S+?)[,)]",
                      run_help("herd-bench", mode))
        if m is None:
            continue
        assert m.group(1).rstrip(";") in general, (mode, m.group(1))


def test_status_exit_3_covers_persistence():
    text = " ".join(run_help("herdctl", "status").split())
    assert "3 when some do not (or their persistence is failing)" in text
    text = " ".join(run_help("herdctl").split())
    assert "3 not all running (or persistence failing)" in text


def rendered(page):
    r = subprocess.run([MANDOC, "-T", "utf8", MAN_PAGES[page]],
                       stdout=subprocess.PIPE, timeout=30)
    assert r.returncode == 0
    # Undo overstriking (bold, underline) and join the hyphenated lines.
    text = re.sub(r".\x08", "", r.stdout.decode())
    return " ".join(text.split())


@needs_mandoc
@pytest.mark.parametrize("page", sorted(MAN_PAGES))
def test_rendered_page_balanced(page):
    text = rendered(page)
    assert text.count("(") == text.count(")"), page
    assert text.count("\u2018") == text.count("\u2019"), page


@needs_mandoc
def test_rendered_status_json():
    text = rendered("herdctl.8")
    assert ('{"state": "ok"|"failing"|"off", "fsync": '
            '"always"|"everysec"|"no"|"-", "lag_ms": N}') in text


def test_status_pipe_lines_documented():
    """Every line the supervisor reads from a node's HERD_READY_FD pipe
    (src/worker.c) is in herd-node(8)'s HERD_READY_FD entry."""
    words = set(re.findall(r'(?:strn?cmp|sscanf)\(line, "([A-Z]+)',
                           read("src", "worker.c")))
    assert {"READY", "FAIL", "PEERS"} <= words
    page = read(*os.path.relpath(MAN_PAGES["herd-node.8"], ROOT).split("/"))
    entry = page.split(".It Ev HERD_READY_FD", 1)[1].split("\n.It ", 1)[0]
    missing = sorted(w for w in words
                     if not re.search(r"^\.Ql %s\b" % w, entry, re.M))
    assert not missing, "herd-node(8) HERD_READY_FD lacks: %s" % missing


def documented_ranges():
    """{(section, key): (min, max)} of herd.ini(5)'s "from MIN to MAX"."""
    page = read(*os.path.relpath(MAN_PAGES["herd.ini.5"], ROOT).split("/"))
    out, sec = {}, None
    for chunk in re.split(r"^(?=\.Ss |\.It Cm )", page, flags=re.M):
        m = re.match(r"\.Ss The \[(herd|places|server:NAME)\]", chunk)
        if m:
            sec = m.group(1).replace("NAME", "A")
            continue
        m = re.match(r"\.It Cm ([a-z_]+)", chunk)
        r = re.search(r"[Ff]rom (\d+) to (\d+)", " ".join(chunk.split()))
        if m and r and sec:
            out[(sec, m.group(1))] = (int(r.group(1)), int(r.group(2)))
    return out


def test_documented_ranges_are_the_binary(tmp_path):
    """herdctl check takes each bound herd.ini(5) states and refuses the
    value just outside it."""
    herdctl = os.path.join(BIN, "herdctl")
    if not os.access(herdctl, os.X_OK):
        pytest.skip("%s is not built (run make)" % herdctl)
    ranges = documented_ranges()
    assert len(ranges) >= 12, ranges
    ini = tmp_path / "r.ini"
    wrong = []
    for (sec, key), (lo, hi) in sorted(ranges.items()):
        if key == "tls_port":
            continue  # needs tls_cert and tls_key, checked at load
        for value, ok in ((lo, True), (hi, True), (lo - 1, False),
                          (hi + 1, False)):
            server = "" if sec == "server:A" else "[server:A]\nport = 1\n"
            if sec == "server:A" and key != "port":
                server = "port = 2\n"
            ini.write_text("[%s]\n%s = %d\n%s" % (sec, key, value, server))
            r = subprocess.run([herdctl, "-c", str(ini), "check"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10)
            if (r.returncode == 0) != ok:
                wrong.append("%s = %d: %s" % (key, value,
                                              r.stdout.decode().strip()))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("where", ["README.md", "etc/herd.ini"])
def test_ini_comment_ranges_agree(where):
    """A range '(MIN..MAX)' in the comment of a key line of the README's
    herd.ini block or of etc/herd.ini is herd.ini(5)'s."""
    text = readme_format_block() if where == "README.md" \
        else read("etc", "herd.ini")
    ranges = {k: v for (_, k), v in documented_ranges().items()}
    found = 0
    for key, lo, hi in re.findall(r"^;?\s*([a-z_]+)\s*=[^;\n]*;.*?\((\d+)"
                                  r"\.\.(\d+)\)", text, re.M):
        found += 1
        assert ranges.get(key) == (int(lo), int(hi)), (where, key, lo, hi)
    assert found >= 2, where


def test_readme_paths_and_make_targets_exist():
    """Every repository path the README names exists (a glob matches
    something), and every `make TARGET` it shows is a target."""
    text = read("README.md")
    paths = set(re.findall(r"(?<![\w/])((?:tests|docs|etc|systemd|cmd|src"
                           r"|include)/[\w./*-]*[\w*])", text))
    assert len(paths) >= 30
    missing = sorted(p for p in paths
                     if not glob.glob(os.path.join(ROOT, p + "*")))
    assert not missing, "README names missing files: %s" % missing
    makefiles = [os.path.join(ROOT, "Makefile")] + \
        glob.glob(os.path.join(ROOT, "tests", "*", "*.mk"))
    defined = set()
    for mk in makefiles:
        with open(mk) as f:
            defined |= set(re.findall(r"^([a-z][\w-]*):", f.read(), re.M))
    shown = set(re.findall(r"\bmake ([a-z][\w-]*)", text))
    assert len(shown) >= 10
    assert shown <= defined, sorted(shown - defined)


def readme_example_answer(after):
    """The JSON line the README shows after the first WHATSAT command
    following the text `after`, and that command's radius and bound."""
    text = read("README.md").split(after, 1)[1]
    m = re.search(r"^\$ printf 'WHATSAT (\S+) (\S+) (\S+)\\n'.*\n"
                  r"AT [^\n]*\n(\{[^\n]*\})$", text, re.M)
    assert m, "no WHATSAT example after %r" % after
    return m.group(1).encode(), m.group(2).encode(), m.group(3).encode(), \
        json.loads(m.group(4))


def answer_of(port, cid, radius, bound):
    raw = exchange(port, b"WHATSAT %s %s %s\n" % (cid, radius, bound),
                   timeout=10)
    assert raw.endswith(b"\n\n"), raw[-80:]
    return json.loads(raw.split(b"\n", 2)[1])


LOC = b"+34.068930-118.445127"


def test_quick_start_answer_is_real(herd_factory):
    """The quick start's WHATSAT answer (built-in GeoNames) is the one a
    server gives today, byte for byte once parsed."""
    cid, radius, bound, shown = readme_example_answer("## Quick start")
    h = herd_factory(topology={"Hill": []}).start()
    h.iamat("Hill", cid, LOC, b"%.9f" % time.time())
    assert answer_of(h.port("Hill"), cid, radius, bound) == shown


def test_overpass_worked_example_is_real(herd_factory):
    """The Overpass worked example, against tests/fake_overpass.py as
    the README says, gives the answer it shows and logs its lines."""
    from fake_overpass import FakeOverpass
    cid, radius, bound, shown = readme_example_answer(
        "Worked example, against the fake Overpass server")
    fake = FakeOverpass().start()
    try:
        h = herd_factory(topology={"Hill": []},
                         places="api = overpass\nurl = %s" % fake.url)
        h.start()
        h.iamat("Hill", cid, LOC, b"%.9f" % time.time())
        assert answer_of(h.port("Hill"), cid, radius, bound) == shown
        said = read("README.md").split("and the server logs", 1)[1]
        size = re.search(r"HTTP 200, OK, (\d+) bytes", said).group(1)
        h.syslog.wait_for(r"Hill: places: POST \S+ -> HTTP 200, OK, %s "
                          r"bytes in \d+ ms" % size)
    finally:
        fake.stop()


def test_stats_line_keys_documented(herd_factory):
    """The README's SIGUSR1 stats line has the keys a node logs, in its
    order."""
    row = next(l for l in read("README.md").splitlines()
               if l.startswith("| SIGUSR1 | log one stats line"))
    shown = re.findall(r"\b([a-z_]+)=", row.split("`")[1])
    h = herd_factory(topology={"A": []}).start()
    h.signal("A", signal.SIGUSR1)
    line = h.syslog.wait_for(r"A: stats: ")[-1]
    logged = re.findall(r"\b([a-z_]+)=", line.split("stats: ", 1)[1])
    assert shown == logged


def test_readme_contents_lists_every_section():
    prose = readme_prose()
    sections = [github_anchor(h) for h in
                re.findall(r"^## (.+)$", prose, re.M) if h != "Contents"]
    contents = prose.split("## Contents", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^- \[[^\]]+\]\(#([^)]+)\)", contents, re.M) == \
        sections


def test_architecture_names_every_source_file():
    """Every .c and *_int.h of src/ and cmd/herdctl/ is named in the
    README's Architecture map (cmd_*.c as a group)."""
    arch = read("README.md").split("## Architecture", 1)[1]
    missing = []
    for d in ("src", os.path.join("cmd", "herdctl")):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if not f.endswith((".c", "_int.h")):
                continue
            if f.startswith("cmd_") and "cmd_*.c" in arch:
                continue
            if not re.search(r"(?<![\w])%s(?![\w])" % re.escape(f), arch) \
                    and not (f.endswith("_int.h") and "*_int.h" in arch):
                missing.append(os.path.join(d, f))
    assert not missing, "not in README's Architecture: %s" % missing


@pytest.fixture
def ctl_factory(tmp_path):
    from conftest import harness_factory
    from test_herdctl import Ctl
    yield from harness_factory(tmp_path, Ctl, "ctl")


def test_status_json_keys_documented(ctl_factory):
    """Every key of a server in herdctl status --json is in the README's
    status row or the paragraph after it, and in herdctl(8)."""
    c = ctl_factory(topology={"A": ["B"], "B": []})
    c.start()
    out = json.loads(c.run("status", "--json", check=0).stdout)
    keys = set(out) | {k for s in out["servers"] for k in s}
    assert {"servers", "log", "persist", "links", "data_dir"} <= keys
    readme = read("README.md").split("| `status [NAME...] [--json]` |", 1)[1]
    readme = readme.split("**Pictures.**", 1)[0]
    page = read(*os.path.relpath(MAN_PAGES["herdctl.8"], ROOT).split("/"))
    for key in sorted(keys):
        assert re.search(r'["`]%s["`]' % key, readme), \
            "README lacks %s" % key
        assert re.search(r"^\.(?:Va|Ql) %s\b|\\\(dq%s\\\(dq" % (key, key),
                         page, re.M), "herdctl.8 lacks %s" % key


def test_readme_ci_steps_are_ci():
    """The README's "CI (.ci/run) runs ..." sentence names the make
    commands of .ci/run, in order."""
    steps = re.findall(r"^(make .+)$", read(".ci", "run"), re.M)
    assert len(steps) >= 3
    text = read("README.md").split("CI (`.ci/run`) runs", 1)[1]
    text = " ".join(text.split("\n\n", 1)[0].split())
    assert re.findall(r"`(make [^`]+)`", text) == steps


def test_fatal_comes_back_as_documented(ctl_factory, tmp_path):
    """README and herdctl(8): a fatal server is run again by
    herdctl restart NAME (as by start NAME)."""
    from test_herdctl import crashy_env
    readme = " ".join(read("README.md").split())
    assert "not restarted until `herdctl start NAME` or `restart NAME`" \
        in readme
    env, flag = crashy_env(tmp_path)
    c = ctl_factory(topology={"A": []}, env=env)
    c.start()
    flag.write_text("78")
    os.kill(c.pid("A"), signal.SIGKILL)
    c.wait_state("A", "fatal", 10)
    flag.unlink()
    c.run("restart", "A", check=0)
    assert c.status()["A"]["state"] == "running"


def bench_steps():
    """The make targets whose scripts `make bench` runs, in its order."""
    mk = read("tests", "bench", "bench.mk")
    recipes = dict(re.findall(r"^([a-z][\w-]*):[^\n]*\n((?:\t[^\n]*\n)+)",
                              mk, re.M))
    script = {t: re.search(r"tests/bench/(\S+)", r).group(1)
              for t, r in recipes.items()
              if t.startswith("bench-") and "tests/bench/" in r}
    order = re.findall(r"tests/bench/(\S+)", recipes["bench"])
    steps = [t for s in order for t, x in script.items() if x == s]
    assert len(steps) >= 3, (order, script)
    return steps


def test_readme_bench_steps_in_order():
    """Where the README lists what make bench runs, the bench-* steps
    are bench.mk's, in its order."""
    steps = bench_steps()
    text = read("README.md")
    perf = text.split("## Performance", 1)[1].split("```sh", 1)[1] \
        .split("```", 1)[0]
    row = next(l for l in text.splitlines() if l.startswith("| `make bench` |"))
    for where in (perf, row):
        shown = [t for t in re.findall(r"make (bench-[a-z-]+)", where)
                 if t != "bench-reference"]
        assert shown == steps, (shown, steps)
    assert "also the second step of `make bench`" in " ".join(text.split())
    assert steps[0] == "bench-scale"
