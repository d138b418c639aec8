"""herdctl's supervisor on the paths nobody walked: spawn failures, a job
finishing inside another, reloads racing a stop, nodes that reject a
reload, a rotated secret, a dirty inherited process state, a planted run
directory symlink and a malformed control answer (issue 9)."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import threading

import pytest

from conftest import BIN, alive, harness_factory, wait_until
from test_herdctl import HERDCTL, NODE, Ctl


@pytest.fixture
def ctl_factory(tmp_path):
    yield from harness_factory(tmp_path, Ctl, "ctl")


def write_secret(path, data):
    """Write a secret file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def secret_ctl(ctl_factory, tmp_path, topology):
    """A Ctl whose herd uses a secret_file of its own."""
    path = str(tmp_path / ("secret-%d" % len(os.listdir(tmp_path))))
    write_secret(path, os.urandom(32).hex().encode())
    c = ctl_factory(topology=topology, extra="secret_file = %s\n" % path)
    return c, path


def links_up(c, names):
    """True when every named worker runs with all its links up."""
    st = c.status()
    return all(st[n]["state"] == "running" and st[n]["peers"] > 0 and
               st[n]["peers_up"] == st[n]["peers"] for n in names)


def foreground(c, env):
    """Run c's supervisor in the foreground (its forks are all workers);
    return the Popen, registered for c.close()."""
    p = subprocess.Popen([HERDCTL, "-c", c.ini, "start", "--foreground"],
                         env=env, cwd=str(c.tmp), stdout=subprocess.DEVNULL,
                         stderr=open(str(c.tmp / "fg.log"), "wb"))
    c.sup_pid = p.pid
    return p


def preload(c, tmp_path, source, **extra):
    """Compile a C shim and return c's environment with it preloaded."""
    src, so = tmp_path / "shim.c", tmp_path / "shim.so"
    src.write_text(source)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src),
                    "-ldl"], check=True)
    env = dict(c.env, LD_PRELOAD=str(so), **extra)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
        ":verify_asan_link_order=0"
    return env


FORK_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int fails;

/* Read how many forks to fail; keep the shim out of the workers. */
__attribute__((constructor)) static void
shim_init(void)
{
	const char *n = getenv("SHIM_FORK_FAILS");

	fails = n ? atoi(n) : 0;
	unsetenv("SHIM_FORK_FAILS");
	unsetenv("LD_PRELOAD");
}

/* Fail the first `fails` forks with EAGAIN, as under RLIMIT_NPROC. */
pid_t
fork(void)
{
	static pid_t (*real)(void);

	if (fails > 0) {
		fails--;
		errno = EAGAIN;
		return -1;
	}
	if (real == NULL)
		real = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	return real();
}
"""


def test_fork_failure_is_retried_with_backoff(ctl_factory, tmp_path):
    """Item 8: a worker whose fork failed is retried (with backoff, logged),
    not left stopped forever."""
    c = ctl_factory(topology={"A": []})
    env = preload(c, tmp_path, FORK_SHIM, SHIM_FORK_FAILS="2")
    p = foreground(c, env)
    wait_until(lambda: os.path.exists(os.path.join(c.run_dir, "herd.sock")),
               10, what="control socket")
    st = wait_until(lambda: p.poll() is None and
                    c.status()["A"]["state"] == "running" and c.status(),
                    20, what="A running after two failed forks")
    assert st["A"]["pid"] and alive(st["A"]["pid"])
    c.syslog.wait_for(r"A: cannot fork: .*; retrying in 100 ms")
    c.syslog.wait_for(r"A: cannot fork: .*; retrying in 200 ms")


def test_job_finished_inside_another_job(ctl_factory, tmp_path):
    """Item 9: the initial start fails while a "start B" waits on the same
    worker; finishing the first stops everything and (nested) finishes the
    second.  jobs_poll must not touch the freed job (ASan catches it), and
    both waiters get their answer."""
    wrapper = tmp_path / "node.sh"
    wrapper.write_text("#!/bin/sh\nfor a; do name=$a; done\n"
                       "if [ \"$name\" = B ]; then sleep 3; exit 1; fi\n"
                       "exec %s \"$@\"\n" % NODE)
    wrapper.chmod(0o755)
    c = ctl_factory(topology={"A": [], "B": []},
                    env={"HERD_NODE_BIN": str(wrapper)})
    starter = subprocess.Popen([HERDCTL, "-c", c.ini, "start"], env=c.env,
                               cwd=str(c.tmp), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_until(lambda: os.path.exists(os.path.join(c.run_dir, "herd.sock")),
               10, what="control socket")
    pidfile = os.path.join(c.run_dir, "herd.pid")
    c.sup_pid = wait_until(lambda: open(pidfile).read().strip() and
                           int(open(pidfile).read()), 5, what="pid file")
    second = c.run("start", "B", timeout=60)
    out, err = starter.communicate(timeout=60)
    assert starter.returncode == 1, (out, err)
    assert "B: did not start" in err, err
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert "B: did not start" in second.stderr, second.stderr
    wait_until(lambda: not alive(c.sup_pid), 30, what="supervisor gone")


def test_reload_readds_a_server_still_stopping(ctl_factory):
    """Item 10: reload removes B, whose worker is slow to stop (SIGSTOP),
    then a second reload adds it back: one B, started once the old one is
    gone, and the reload succeeds."""
    c = ctl_factory(topology={"A": [], "B": []})
    c.start()
    old = c.pid("B")
    os.kill(old, signal.SIGSTOP)
    c.write(topology={"A": []})
    first = subprocess.Popen([HERDCTL, "-c", c.ini, "reload"], env=c.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    wait_until(lambda: c.status()["B"]["state"] == "stopping", 10,
               what="B stopping")
    c.write(topology={"A": [], "B": []})
    p = c.run("reload", check=0)
    assert "reloaded" in p.stdout
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, (out, err)
    assert "B: stop" in out
    st = c.status()
    assert st["B"]["state"] == "running" and st["B"]["pid"] != old
    assert not alive(old)
    names = [s["name"] for s in json.loads(c.run(
        "status", "--json").stdout)["servers"]]
    assert names.count("B") == 1, names


def test_reload_returns_once_removed_servers_are_gone(ctl_factory):
    """reload returns only when a removed server has exited (here after
    the SIGKILL that follows SIGTERM for a SIGSTOPped one)."""
    c = ctl_factory(topology={"A": [], "B": []})
    c.start()
    old = c.pid("B")
    os.kill(old, signal.SIGSTOP)
    c.write(topology={"A": []})
    p = c.run("reload", check=0)
    assert "B: stop" in p.stdout
    assert not alive(old)
    assert set(c.status()) == {"A"}


def test_reload_reports_a_node_that_rejects_the_file(ctl_factory, tmp_path):
    """Item 11: a node that keeps its old configuration on SIGHUP (its
    secret file became readable by others) makes reload print its error
    and exit 1."""
    c, secret = secret_ctl(ctl_factory, tmp_path, {"A": ["B"], "B": []})
    c.start()
    pids = {n: c.pid(n) for n in ("A", "B")}
    os.chmod(secret, 0o644)
    c.write(extra="secret_file = %s\nmax_clients = 100\n" % secret)
    p = c.run("reload")
    assert p.returncode == 1, (p.stdout, p.stderr)
    for n in ("A", "B"):
        assert re.search(r"%s: rejected the new configuration: .*%s" %
                         (n, re.escape(secret)), p.stderr), p.stderr
    # The nodes keep running on the old file.
    assert {n: c.pid(n) for n in ("A", "B")} == pids
    os.chmod(secret, 0o600)
    p = c.run("reload", check=0)


def test_reload_picks_up_a_rotated_secret(ctl_factory, tmp_path):
    """Item 11: a new secret in the same secret_file reaches every node on
    reload: a node restarted afterwards (new secret) links up with the one
    that kept running."""
    c, secret = secret_ctl(ctl_factory, tmp_path, {"A": ["B"], "B": []})
    c.start()
    wait_until(lambda: links_up(c, "AB"), 10, what="A-B up")
    write_secret(secret, os.urandom(32).hex().encode())
    p = c.run("reload", check=0)
    assert "A: signal" in p.stdout and "B: signal" in p.stdout, p.stdout
    c.syslog.wait_for(r"A: reload: the peer secret changed")
    old = c.pid("B")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: c.status()["B"]["pid"] not in (None, old), 10,
               what="B restarted")
    wait_until(lambda: links_up(c, "AB"), 15,
               what="A-B up again with the new secret")


def sig_mask(pid, field):
    """The hex signal set `field` (SigBlk, SigIgn) of /proc/pid/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    raise AssertionError(field)


def bit(sig):
    return 1 << (int(sig) - 1)


def test_worker_starts_with_a_clean_process(ctl_factory, tmp_path):
    """Item 12: herdctl started with SIGQUIT ignored, SIGUSR2 and SIGTERM
    blocked and an extra inherited descriptor: the supervisor unblocks
    what it handles, and a worker has nothing blocked, ignores only what
    herd-node ignores itself (SIGPIPE), and holds no stray descriptor."""
    c = ctl_factory(topology={"A": []})
    stray = open(str(tmp_path / "stray"), "w")
    os.set_inheritable(stray.fileno(), True)

    def dirty():
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK,
                               {signal.SIGUSR2, signal.SIGTERM})
    p = subprocess.run([HERDCTL, "-c", c.ini, "start"], env=c.env,
                       cwd=str(c.tmp), capture_output=True, text=True,
                       timeout=60, preexec_fn=dirty,
                       pass_fds=(stray.fileno(),))
    stray.close()
    assert p.returncode == 0, p.stderr
    c.sup_pid = int(re.search(r"supervisor pid (\d+)", p.stdout).group(1))
    pid = c.pid("A")
    assert sig_mask(pid, "SigBlk") == 0
    # glibc reserves signals 32 and 33 (sigaction refuses them), so their
    # dispositions are whatever the environment handed down.
    reserved = bit(32) | bit(33)
    assert sig_mask(pid, "SigIgn") & ~reserved == bit(signal.SIGPIPE)
    fds = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            fds[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            pass
    assert not [t for t in fds.values() if t.endswith("/stray")], fds
    # Nothing of the supervisor's (lock, control socket, other pipes).
    assert not [t for t in fds.values() if c.run_dir in t], fds
    # The supervisor hears what it handles, whatever it inherited.
    assert sig_mask(c.sup_pid, "SigBlk") & (bit(signal.SIGTERM) |
                                            bit(signal.SIGUSR2)) == 0


def test_run_dir_symlink_is_refused(ctl_factory, tmp_path):
    """Smaller: a run directory that is a symlink (planted in /tmp by
    someone else) is refused, and its target's mode is left alone."""
    c = ctl_factory(topology={"A": []})
    target = tmp_path / "elsewhere"
    target.mkdir()
    target.chmod(0o755)
    link = str(tmp_path / "planted")
    os.symlink(str(target), link)
    c.run_dir = link
    c.write()
    p = c.run("start")
    if p.returncode == 0:
        c.sup_pid = int(re.search(r"supervisor pid (\d+)",
                                  p.stdout).group(1))
    assert p.returncode == 1, p.stdout
    assert "symbolic link" in p.stderr, p.stderr
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o755


def fake_supervisor(path, answer):
    """Answer one control request on the Unix socket path with answer
    (None: close at once, reading nothing)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(30)

    def serve():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            if answer is not None:
                conn.recv(4096)
                conn.sendall(answer)
        srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("answer", [
    b'{"ok":true,"servers":[{"name":"A"}]}',
    b'{"ok":true,"servers":[{"state":7,"port":"x","peers":null}]}',
    b'{"ok":true}',
])
def test_status_survives_a_malformed_answer(ctl_factory, answer):
    """Smaller: herdctl status checks every field of the supervisor's
    answer instead of dereferencing what is missing."""
    c = ctl_factory(topology={"A": []})
    os.makedirs(c.run_dir, mode=0o700)
    t = fake_supervisor(os.path.join(c.run_dir, "herd.sock"), answer)
    p = c.run("status")
    t.join(5)
    assert p.returncode in (1, 3), (p.returncode, p.stdout, p.stderr)
    if b"servers" in answer:
        assert re.search(r"^(A|\?) +\? +- ", p.stdout, re.M), p.stdout
    else:
        assert "malformed answer" in p.stderr, p.stderr


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.mark.parametrize("target", ["run", "all"])
def test_make_installs_missing_build_packages_first(target):
    """Newcomer: a plain make and make run install what is missing (as
    make test does), before anything is built or run, and build in a
    fresh make so that pkg-config sees the new packages."""
    p = subprocess.run(["make", "-n", "--no-print-directory", "-C", ROOT,
                        target], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    deps = [i for i, l in enumerate(lines) if "tests/deps.sh" in l]
    assert deps, p.stdout
    build = [i for i, l in enumerate(lines)
             if re.search(r"\bcmp -s .*bin/|herdctl .*start", l)]
    assert build and deps[0] < build[0], p.stdout
    assert re.search(r"make.* programs", p.stdout), p.stdout


def fake_tools(tmp_path, uid, missing):
    """A PATH directory with dpkg-query (missing: not installed), apt-get
    (logs its arguments) and id (-u: uid)."""
    d = tmp_path / "fakebin"
    d.mkdir()
    log = tmp_path / "apt.log"
    (d / "dpkg-query").write_text(
        "#!/bin/sh\nfor a; do p=$a; done\n"
        "case \" %s \" in *\" $p \"*) echo -n 'unknown ok not-installed';;"
        " *) echo -n 'install ok installed';; esac\n" % " ".join(missing))
    (d / "apt-get").write_text("#!/bin/sh\necho \"$@\" >> %s\n" % log)
    (d / "id").write_text("#!/bin/sh\necho %d\n" % uid)
    for f in d.iterdir():
        f.chmod(0o755)
    return dict(os.environ, PATH="%s:%s" % (d, os.environ["PATH"])), log


def test_deps_build_installs_only_what_building_needs(tmp_path):
    """Newcomer: deps.sh build installs a missing build package (as root)
    and is a no-op for a non-root user when nothing is missing, even if a
    test-only package is."""
    env, log = fake_tools(tmp_path, 0, ["libcjson-dev", "mandoc"])
    p = subprocess.run([os.path.join(ROOT, "tests", "deps.sh"), "build"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    installs = [l for l in log.read_text().splitlines() if "install" in l]
    assert installs and "libcjson-dev" in installs[0], installs
    assert "mandoc" not in installs[0], installs
    user = tmp_path / "user"
    user.mkdir()
    env, log = fake_tools(user, 1000, ["mandoc"])
    p = subprocess.run([os.path.join(ROOT, "tests", "deps.sh"), "build"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert not log.exists()


SLOW_NEWLINE_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>

/* A lone newline waits: the supervisor has answered and closed by then. */
ssize_t
write(int fd, const void *buf, size_t len)
{
	static ssize_t (*real)(int, const void *, size_t);

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT,
		    "write");
	if (len == 1 && *(const char *)buf == '\n' && fd > 2)
		usleep(300000);
	return real(fd, buf, len);
}
"""


def test_herdctl_survives_a_supervisor_that_hangs_up(ctl_factory, tmp_path):
    """Smaller: a supervisor that answers and closes before herdctl has
    sent all of its request costs herdctl nothing (no SIGPIPE)."""
    c = ctl_factory(topology={"A": []})
    os.makedirs(c.run_dir, mode=0o700)
    env = preload(c, tmp_path, SLOW_NEWLINE_SHIM)
    t = fake_supervisor(os.path.join(c.run_dir, "herd.sock"),
                        b'{"ok":true,"servers":[]}')
    p = subprocess.run([HERDCTL, "-c", c.ini, "status"], env=env,
                       capture_output=True, text=True, timeout=60)
    t.join(5)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert p.stdout.startswith("NAME "), p.stdout
