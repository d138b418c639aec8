#!/usr/bin/env bash
# tests/bench/run.sh -- `make bench`: measure a herd, and Redis for scale.
#
# Starts the five-server default topology on free loopback ports with
# herdctl (and the fake places server), runs bin/herd-bench in every mode
# against it, then runs redis-benchmark (GEOADD, random members) against
# a redis-server it starts, at the same connection counts and pipeline
# depths, reading both servers' CPU time from /proc/PID/stat the same
# way.  A lone node without neighbours is loaded too, to show what the
# flooding costs.  Persistence: fresh herds with persist = no, fsync =
# everysec and always next to a second redis-server with an AOF; a
# restart on 1,000,000 records; disk bytes per record and log growth
# under a paced load.  Writes results.md and throughput.png into BENCH_OUT.
# Cleans up everything it started, by PID, even on failure.
#
# Knobs (environment): BENCH_SECS (3), CONNS ("1 10 50 100"),
# DEPTHS ("1 16"), PROP_N (500), PROP_RATE (20000), IDLE_K (10000),
# RECOVERY_R (100000), MEM_R (1000000), RECOVERY_NODE (Hill),
# GROWTH_N (500 probes, 8-10 s), SCRAPE_ROUNDS (3), SCRAPE_HZ (10),
# BENCH_OUT (tests/bench; make bench gives build/bench).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

BENCH_SECS=${BENCH_SECS:-3}
CONNS=${CONNS:-"1 10 50 100"}
DEPTHS=${DEPTHS:-"1 16"}
PROP_N=${PROP_N:-500}
PROP_RATE=${PROP_RATE:-20000}
IDLE_K=${IDLE_K:-10000}
RECOVERY_R=${RECOVERY_R:-100000}
MEM_R=${MEM_R:-1000000}
RECOVERY_NODE=${RECOVERY_NODE:-Hill}
GROWTH_N=${GROWTH_N:-500}
KEYSPACE=100000
OUT=${BENCH_OUT:-$ROOT/tests/bench}
PY=/usr/bin/python3
T_BEGIN=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log() { printf '== %s\n' "$*" >&2; }

# --- packages --------------------------------------------------------------
need=""
for p in redis-server redis-tools gnuplot-nox; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		need="$need $p"
done
if [ -n "$need" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		log "installing:$need"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $need >/dev/null
	else
		log "missing:$need (not root: the Redis comparison or the plot" \
		    "will be skipped; sudo apt-get install$need)"
	fi
fi
HAVE_REDIS=0
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null &&
	HAVE_REDIS=1
HAVE_GNUPLOT=0
command -v gnuplot >/dev/null && HAVE_GNUPLOT=1

# --- build -----------------------------------------------------------------
log "building"
make --no-print-directory all >/dev/null
TMP=$(mktemp -d /tmp/herd-bench.XXXXXX)
# The herd's records stay under $TMP (herd_ini sets data_dir; this is
# only the fallback herdctl would use without it).
export HERD_DATA_DIR=$TMP/data
# Private copies of the normal (not sanitizer) build: bin/ holds whatever
# flavour was built last, and may be rebuilt while we run.  herdctl runs
# the herd-node next to itself.
mkdir "$TMP/bin"
for p in herd-node herdctl herd-bench; do
	if [ -x "build/normal/bin/$p" ]; then
		cp "build/normal/bin/$p" "$TMP/bin/"
	else
		cp "bin/$p" "$TMP/bin/"
	fi
done
if ldd "$TMP/bin/herd-node" | grep -q libasan; then
	echo "bench: herd-node is a sanitizer build; run make clean all" >&2
	exit 1
fi
BENCH=$TMP/bin/herd-bench
HERDCTL=$TMP/bin/herdctl

# --- scratch directory and cleanup ------------------------------------------
INI=$TMP/herd.ini
RESULTS=$TMP/results.txt
: > "$RESULTS"
SUP_PID=""
FAKE_PID=""
REDIS_PID=""
SOLO_PID=""
AOF_PID=""
SCRAPE_PID=""
NODE_PIDS=""
OK=0

# Stop what we started, by PID; keep the scratch directory on failure.
cleanup() {
	set +e
	if [ -n "$SUP_PID" ] && kill -0 "$SUP_PID" 2>/dev/null; then
		timeout 15 "$HERDCTL" -c "$INI" stop >/dev/null 2>&1
		kill -9 "$SUP_PID" 2>/dev/null
	fi
	for p in $NODE_PIDS $SOLO_PID $SCRAPE_PID; do
		kill -9 "$p" 2>/dev/null
	done
	for p in $REDIS_PID $AOF_PID; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
	if [ "$OK" = 1 ]; then
		rm -rf "$TMP"
	else
		echo "bench: failed; logs kept in $TMP" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# n free TCP ports on 127.0.0.1, one per line.
free_ports() {
	"$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# utime+stime of processes in microseconds (as herd-bench reads it),
# summed, with that of their children already reaped (Redis's AOF
# rewrite child; the nodes have none).
cpu_us() {
	"$PY" - "$@" <<'EOF'
import os, sys
t = 0
for pid in sys.argv[1:]:
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    t += sum(int(x) for x in f[11:15])
print(t * 1000000 // os.sysconf("SC_CLK_TCK"))
EOF
}

# dir_info DIR: "BYTES GEN": the size of the files under DIR (the data
# directory of one server, or of all five), and the highest log
# generation in it (one more per compaction).
dir_info() {
	"$PY" - "$1" <<'EOF'
import os, sys
size, gen = 0, 0
for d, _, files in os.walk(sys.argv[1]):
    for n in files:
        size += os.path.getsize(os.path.join(d, n))
        if n.startswith("log-"):
            gen = max(gen, int(n[4:], 16))
print(size, gen)
EOF
}

# The listening sockets of the nodes may need many descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- fake places server ------------------------------------------------------
"$PY" tests/fake_places.py --port-file "$TMP/places.port" \
    >"$TMP/fake_places.log" 2>&1 &
FAKE_PID=$!
for _ in $(seq 100); do
	[ -s "$TMP/places.port" ] && break
	sleep 0.05
done
PLACES_PORT=$(cat "$TMP/places.port")

# --- the herd ------------------------------------------------------------------
NAMES="Hill Jaquez Smith Campbell Singleton"
mapfile -t PORTS < <(free_ports 11)
# Hill also serves clients over TLS (the tls-c50-d16 row), with a
# throwaway self-signed certificate.
TLS_PORT=${PORTS[5]}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/tls.key" -out "$TMP/tls.pem" -days 2 -subj /CN=bench \
    >/dev/null 2>&1
chmod 600 "$TMP/tls.key"
declare -A PORT NBR
NBR[Hill]="Jaquez Smith"
NBR[Jaquez]="Hill Singleton"
NBR[Smith]="Campbell Singleton Hill"
NBR[Campbell]="Smith Singleton"
NBR[Singleton]="Jaquez Smith Campbell"
# Every server serves /metrics (ports 6..10), scraped in the scrape rows.
declare -A MPORT
i=0
for n in $NAMES; do
	PORT[$n]=${PORTS[$i]}
	MPORT[$n]=${PORTS[$((i + 6))]}
	i=$((i + 1))
done
# herd_ini DATA [PERSIST [FSYNC]]: write $INI for the herd; the servers
# keep their records in $TMP/DATA/NAME, with [herd] persist and fsync
# (default yes, everysec).  Each herd started on a new DATA starts empty.
herd_ini() {
	local n
	{
		echo "[herd]"
		echo "run_dir = $TMP/run"
		echo "data_dir = $TMP/$1"
		echo "persist = ${2:-yes}"
		echo "fsync = ${3:-everysec}"
		echo "; no syslog receiver: the nodes drop their log lines cheaply"
		echo "log_socket = $TMP/no-syslog.sock"
		echo "tls_cert = $TMP/tls.pem"
		echo "tls_key = $TMP/tls.key"
		echo
		echo "[places]"
		if [ "${BENCH_PLACES:-}" = geonames ]; then
			echo "api = geonames"	# issue 15's row
		else
			echo "api = new"
			echo "key = test-key"
			echo "url = http://127.0.0.1:$PLACES_PORT/v1/places:searchNearby"
		fi
		echo
		for n in $NAMES; do
			echo "[server:$n]"
			echo "port = ${PORT[$n]}"
			[ "$n" = Hill ] && echo "tls_port = $TLS_PORT"
			echo "metrics_port = ${MPORT[$n]}"
			echo "neighbors = ${NBR[$n]}"
			echo
		done
	} > "$INI"
}
herd_ini data

# The node farthest from Hill (BFS over undirected links; ties: last).
FAR=$("$PY" - "$INI" <<'EOF'
import collections, configparser, sys
cp = configparser.ConfigParser(inline_comment_prefixes=(";",))
cp.read(sys.argv[1])
adj = collections.defaultdict(set)
for sec in cp.sections():
    if sec.startswith("server:"):
        a = sec[7:]
        for b in cp[sec].get("neighbors", "").split():
            adj[a].add(b)
            adj[b].add(a)
dist = {"Hill": 0}
q = collections.deque(["Hill"])
while q:
    a = q.popleft()
    for b in sorted(adj[a]):
        if b not in dist:
            dist[b] = dist[a] + 1
            q.append(b)
far = max(dist.values())
print(sorted(n for n in dist if dist[n] == far)[-1], far)
EOF
)
FAR_NODE=${FAR% *}
FAR_HOPS=${FAR#* }

# herd_start DATA [PERSIST [FSYNC]]: start the herd on those records
# (see herd_ini); sets SUP_PID and the PID of every node.
herd_start() {
	local out
	herd_ini "$@"
	out=$("$HERDCTL" -c "$INI" start)
	SUP_PID=$(echo "$out" | sed -n 's/.*supervisor pid \([0-9]*\).*/\1/p')
	herd_pids
}

# Refresh NODE_PIDS and PID[name] from herdctl status --json.
declare -A PID
herd_pids() {
	local n p
	NODE_PIDS=""
	while read -r n p; do
		PID[$n]=$p
		NODE_PIDS="$NODE_PIDS $p"
	done < <("$HERDCTL" -c "$INI" status --json | "$PY" -c '
import json, sys
for s in json.load(sys.stdin)["servers"]:
    print(s["name"], s["pid"] or 0)')
}

herd_stop() {
	"$HERDCTL" -c "$INI" stop >/dev/null
	SUP_PID=""
	NODE_PIDS=""
}

# The other nodes' PIDs than Hill's, comma-separated.
others() {
	local n s=""
	for n in $NAMES; do
		[ "$n" = Hill ] && continue
		s="$s${s:+,}${PID[$n]}"
	done
	echo "$s"
}

# Wait (up to 10 s) until the nodes are idle (under 2% CPU each over
# 250 ms), so that a run does not pay for the flood backlog of the last.
settle() {
	# shellcheck disable=SC2086
	"$PY" - $NODE_PIDS <<'EOF'
import os, sys, time
tck = os.sysconf("SC_CLK_TCK")
def cpu():
    t = 0
    for p in sys.argv[1:]:
        try:
            f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
        except OSError:
            pass
    return t / tck
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    a = cpu()
    time.sleep(0.25)
    if cpu() - a <= 0.005 * max(1, len(sys.argv) - 1):
        break
EOF
}

FAILED=0
# run LABEL herd-bench-args...: run herd-bench, keep its RESULT line.
run() {
	local label=$1 rc=0
	shift
	settle
	log "$label: herd-bench $*"
	"$BENCH" "$@" > "$TMP/$label.out" 2> "$TMP/$label.err" || rc=$?
	sed 's/^/   /' "$TMP/$label.out" >&2
	if [ "$rc" -ne 0 ]; then
		FAILED=$((FAILED + 1))
		echo "   (herd-bench exit $rc)" >&2
		head -5 "$TMP/$label.err" | sed 's/^/   /' >&2
	fi
	local line
	line=$(grep '^RESULT ' "$TMP/$label.out" | tail -1 || true)
	[ -n "$line" ] && echo "herd $label exit=$rc ${line#RESULT }" >> "$RESULTS"
	return 0
}

# row_add LABEL KV...: append key=value words to the last row LABEL.
row_add() {
	local label=$1
	shift
	grep -q "^herd $label " "$RESULTS" || return 0
	sed -i "s|^herd $label .*|& $*|" "$RESULTS"
}

# --- Redis ----------------------------------------------------------------------
# redis-server runs (idle) next to the herd: each herd IAMAT run is
# followed at once by its redis-benchmark counterpart, so that noise
# from other tenants of the machine hits both sides of a ratio alike.
if [ "$HAVE_REDIS" = 1 ]; then
	RPORT=$(free_ports 1)
	redis-server --port "$RPORT" --bind 127.0.0.1 --save '' \
	    --appendonly no --dir "$TMP" --logfile "$TMP/redis.log" &
	REDIS_PID=$!
	for _ in $(seq 100); do
		redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break
		sleep 0.05
	done
	REDIS_VERSION=$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')
else
	REDIS_VERSION="(not installed)"
fi

# rb C D N [OPTS]: one redis-benchmark GEOADD run (random members, like
# herd-bench's random client ids); prints "rps p50_ms p99_ms".
# With an append-only file, GEOADD must change the data as every IAMAT
# does: re-adding a member at the same coordinates is a no-op that Redis
# neither writes nor syncs, so those runs draw members from a keyspace
# far larger than the requests (RB_KEYSPACE), each GEOADD a new member.
AOF_KEYSPACE=1000000000
rb() {
	local c=$1 d=$2 n=$3
	shift 3
	redis-benchmark -h 127.0.0.1 -p "$RPORT" -c "$c" -P "$d" -n "$n" \
	    -r "${RB_KEYSPACE:-$KEYSPACE}" "$@" --csv GEOADD herd -118.445127 34.068930 \
	    __rand_int__ | tail -1 | tr -d '"' | awk -F, '{ print $2, $5, $7 }'
}

# The value of FIELD in redis-server's INFO persistence.
rinfo() {
	redis-cli -p "$RPORT" info persistence | tr -d '\r' |
	    sed -n "s/^$1://p"
}

# redis LABEL MODE C D [OPTS]: size a run to about BENCH_SECS from a short
# probe, run it, read redis-server's CPU before and after.  With an AOF,
# "after" waits for a rewrite the run started to end (its child's CPU
# counts: cpu_us adds reaped children), and the rewrites are counted.
redis() {
	local label=$1 mode=$2 c=$3 d=$4 probe n before after t0 t1 rps p50 \
	    p99 cpu aof="" rw0=0 RB_KEYSPACE=$KEYSPACE
	shift 4
	[ "$HAVE_REDIS" = 1 ] || return 0
	case $mode in geoadd-aof-*) RB_KEYSPACE=$AOF_KEYSPACE ;; esac
	probe=$(rb "$c" "$d" 5000 "$@")
	if [ "$(rinfo aof_enabled)" = 1 ]; then
		redis-cli -p "$RPORT" config set appendfsync "${mode#geoadd-aof-}" \
		    >/dev/null
		rw0=$(rinfo aof_rewrites)
	fi
	n=$("$PY" -c "import sys; r = float(sys.argv[1])
print(max(5000, min(10000000, int(r * $BENCH_SECS))))" "${probe%% *}")
	log "$label: redis-benchmark -c $c -P $d -n $n -r $RB_KEYSPACE $*" \
	    "GEOADD herd -118.445127 34.068930 __rand_int__"
	before=$(cpu_us "$REDIS_PID")
	t0=$(date +%s.%N)
	read -r rps p50 p99 < <(rb "$c" "$d" "$n" "$@")
	t1=$(date +%s.%N)
	if [ "$(rinfo aof_enabled)" = 1 ]; then
		for _ in $(seq 300); do
			[ "$(rinfo aof_rewrite_in_progress)" = 0 ] &&
			    [ "$(rinfo aof_rewrite_scheduled)" = 0 ] && break
			sleep 0.1
		done
		aof=" aof_rewrites=$(($(rinfo aof_rewrites) - rw0))"
		aof="$aof aof_bytes=$(rinfo aof_current_size)"
	fi
	after=$(cpu_us "$REDIS_PID")
	cpu=$("$PY" -c "print('%.3f' % (($after - $before) / $n))")
	echo "   $rps requests/s, p50 $p50 ms, p99 $p99 ms, server CPU" \
	    "$cpu us/request" >&2
	echo "redis $label exit=0 mode=$mode conns=$c depth=$d reqs=$n" \
	    "secs=$("$PY" -c "print('%.3f' % ($t1 - $t0))") rps=$rps" \
	    "p50_us=$("$PY" -c "print($p50 * 1000)")" \
	    "p99_us=$("$PY" -c "print($p99 * 1000)")" \
	    "cpu_us_per_req=$cpu$aof" >> "$RESULTS"
}

# redis_at PORT PID LABEL MODE C D [OPTS]: redis, on another redis-server.
redis_at() {
	local RPORT=$1 REDIS_PID=$2
	shift 2
	redis "$@"
}

log "herd on ports ${PORTS[*]} (places on $PLACES_PORT); farthest from" \
    "Hill: $FAR_NODE, $FAR_HOPS hops"
herd_start data
HILL=${PORT[Hill]}

# IAMAT: connection counts x pipeline depths.
for d in $DEPTHS; do
	for c in $CONNS; do
		run "iamat-c$c-d$d" iamat -p "$HILL" --pid "${PID[Hill]}" \
		    --also-pids "$(others)" -c "$c" -d "$d" -t "$BENCH_SECS" \
		    -k "$KEYSPACE"
		redis "redis-c$c-d$d" geoadd "$c" "$d"
	done
done
# The same load over TLS on Hill's tls_port, next to the plain rows.
run tls-c50-d16 iamat --tls -p "$TLS_PORT" --pid "${PID[Hill]}" \
    --also-pids "$(others)" -c 50 -d 16 -t "$BENCH_SECS" -k "$KEYSPACE"
# What Prometheus costs (issue 14): c=50 d=16 with a scraper reading
# every server's /metrics SCRAPE_HZ (10) times a second, next to the same
# run without, SCRAPE_ROUNDS (3) alternating pairs; the report compares
# Hill's median CPU per request.
scrape_start() {
	"$PY" - "$TMP/scrape.count" "${SCRAPE_HZ:-10}" \
	    "${MPORT[Hill]}" "${MPORT[Jaquez]}" "${MPORT[Smith]}" \
	    "${MPORT[Campbell]}" "${MPORT[Singleton]}" <<'EOF' &
import http.client, signal, sys, time
out, hz, ports = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
ok = bad = 0
t = time.monotonic()
while not stop:
    for p in ports:
        try:
            c = http.client.HTTPConnection("127.0.0.1", int(p), timeout=5)
            c.request("GET", "/metrics")
            r = c.getresponse()
            body = r.read()
            ok += r.status == 200 and b"herd_records" in body
            bad += r.status != 200
            c.close()
        except OSError:
            bad += 1
    t += 1 / hz
    time.sleep(max(0, t - time.monotonic()))
open(out, "w").write("%d %d\n" % (ok, bad))
EOF
	SCRAPE_PID=$!
}
scrape_stop() {
	kill "$SCRAPE_PID"
	wait "$SCRAPE_PID" || true
	SCRAPE_PID=""
}
for r in $(seq "${SCRAPE_ROUNDS:-3}"); do
	run "scrape-off-r$r" iamat -p "$HILL" --pid "${PID[Hill]}" \
	    -c 50 -d 16 -t "$BENCH_SECS" -k "$KEYSPACE"
	scrape_start
	run "scrape-on-r$r" iamat -p "$HILL" --pid "${PID[Hill]}" \
	    -c 50 -d 16 -t "$BENCH_SECS" -k "$KEYSPACE"
	scrape_stop
	read -r ok bad < "$TMP/scrape.count"
	row_add "scrape-on-r$r" "scrapes_ok=$ok scrapes_bad=$bad"
done
# The same cost measured directly, free of the load's noise: Hill's CPU
# for SCRAPE_N (1000) scrapes of its /metrics, one after the other.
settle
n=${SCRAPE_N:-1000}
b=$(cpu_us "${PID[Hill]}")
"$PY" - "${MPORT[Hill]}" "$n" <<'EOF'
import http.client, sys
for _ in range(int(sys.argv[2])):
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
    c.request("GET", "/metrics")
    assert c.getresponse().read()
    c.close()
EOF
a=$(cpu_us "${PID[Hill]}")
echo "herd scrape-cost n=$n cpu_us=$((a - b))" >> "$RESULTS"
log "scrape-cost: $n scrapes of Hill's /metrics: $((a - b)) us of Hill's CPU"
run oneshot-c50 oneshot -p "$HILL" --pid "${PID[Hill]}" -c 50 \
    -t "$BENCH_SECS" -k "$KEYSPACE"
redis redis-oneshot-c50 geoadd-oneshot 50 1 -k 0
run whatsat-c50-d1 whatsat -p "$HILL" --pid "${PID[Hill]}" -c 50 -d 1 \
    -t "$BENCH_SECS" -k 100
run prop-idle propagation -p "$HILL" --pid "${PID[Hill]}" \
    --to-port "${PORT[$FAR_NODE]}" --to-pid "${PID[$FAR_NODE]}" -n "$PROP_N"
run prop-load propagation -p "$HILL" --pid "${PID[Hill]}" \
    --to-port "${PORT[$FAR_NODE]}" --to-pid "${PID[$FAR_NODE]}" \
    -n "$PROP_N" --rate "$PROP_RATE" --load-conns 10
herd_stop

# --- WHATSAT against geonames (issue 15) -----------------------------------------
# The whatsat-c50-d1 load again, on a fresh herd whose WHATSATs are
# answered in process from the built-in GeoNames set (no provider, no
# cache); herd-bench's random locations get OK or ZERO_RESULTS.
BENCH_PLACES=geonames herd_start data-geonames
run whatsat-geonames-c50-d1 whatsat -p "$HILL" --pid "${PID[Hill]}" -c 50 \
    -d 1 -t "$BENCH_SECS" -k 100 --expect-status any
herd_stop
# --- end of the geonames row -------------------------------------------------------

# --- persistence (issue 11) -------------------------------------------------------
# IAMAT c=50 d=16 on fresh herds with persist = no, then fsync =
# everysec, then Redis with an AOF (appendfsync everysec), one right
# after the other; then fsync = always at d=1 next to Redis's always.
# The persistence rows add the CPU spent until the herd is idle again
# (a compaction the run started, floods still queued).
if [ "$HAVE_REDIS" = 1 ]; then
	APORT=$(free_ports 1)
	mkdir "$TMP/redis-aof"
	redis-server --port "$APORT" --bind 127.0.0.1 --save '' \
	    --appendonly yes --appendfsync everysec --dir "$TMP/redis-aof" \
	    --logfile "$TMP/redis-aof.log" &
	AOF_PID=$!
	for _ in $(seq 100); do
		redis-cli -p "$APORT" ping 2>/dev/null | grep -q PONG && break
		sleep 0.05
	done
fi

# run_settled LABEL ARGS...: run, then settle, and add to its row the
# CPU of Hill and of the whole herd from before the run to then (µs).
run_settled() {
	local label=$1 b hb a ha
	settle
	b=$(cpu_us "${PID[Hill]}")
	# shellcheck disable=SC2086
	hb=$(cpu_us $NODE_PIDS)
	run "$@"
	settle
	a=$(cpu_us "${PID[Hill]}")
	# shellcheck disable=SC2086
	ha=$(cpu_us $NODE_PIDS)
	row_add "$label" "settled_cpu_us=$((a - b)) settled_herd_cpu_us=$((ha - hb))"
}

# p_iamat LABEL C D: run_settled one IAMAT run of the persistence rows.
p_iamat() {
	run_settled "$1" iamat -p "$HILL" --pid "${PID[Hill]}" \
	    --also-pids "$(others)" -c "$2" -d "$3" -t "$BENCH_SECS" \
	    -k "$KEYSPACE"
}

# Two rounds of the three: the targets take each one's better round, as
# other tenants of the machine can spoil any single run.
for r in 1 2; do
	herd_start "data-no-$r" no
	p_iamat "persist-no-c50-d16-r$r" 50 16
	herd_stop
	herd_start "data-everysec-$r" yes everysec
	p_iamat "persist-everysec-c50-d16-r$r" 50 16
	# What Hill's files hold after it (compactions, if any, included).
	read -r bytes gen < <(dir_info "$TMP/data-everysec-$r/Hill")
	row_add "persist-everysec-c50-d16-r$r" "disk_bytes=$bytes gen=$gen" \
	    "held=$("$HERDCTL" -c "$INI" status --json | "$PY" -c '
import json, sys
print([s for s in json.load(sys.stdin)["servers"] if s["name"] == "Hill"]
      [0]["records"])')"
	herd_stop
	redis_at "$APORT" "$AOF_PID" "aof-everysec-c50-d16-r$r" \
	    geoadd-aof-everysec 50 16
done
herd_start data-always yes always
p_iamat persist-always-c50-d1 50 1
herd_stop
redis_at "$APORT" "$AOF_PID" aof-always-c50-d1 geoadd-aof-always 50 1
if [ -n "$AOF_PID" ]; then
	kill "$AOF_PID"
	wait "$AOF_PID" 2>/dev/null || true
	AOF_PID=""
fi

# Log growth at PROP_RATE IAMAT/s (propagation's paced load, new client
# ids: no compaction), over GROWTH_N probes of 13-20 ms.
herd_start data-growth
read -r b0 _ < <(dir_info "$TMP/data-growth/Hill")
read -r hb0 _ < <(dir_info "$TMP/data-growth")
run growth propagation -p "$HILL" --pid "${PID[Hill]}" \
    --to-port "${PORT[$FAR_NODE]}" --to-pid "${PID[$FAR_NODE]}" \
    -n "$GROWTH_N" --gap-us 10000 --rate "$PROP_RATE" --load-conns 10 \
    -k 100000000
settle
read -r b1 gen < <(dir_info "$TMP/data-growth/Hill")
read -r hb1 _ < <(dir_info "$TMP/data-growth")
row_add growth "grow_bytes=$((b1 - b0)) herd_grow_bytes=$((hb1 - hb0))" \
    "gen=$gen"
herd_stop

# Idle connections on a fresh herd: a heap already grown by the load runs
# above would hide what the connections cost.
herd_start data-idle
run idle idle -p "$HILL" --pid "${PID[Hill]}" --idle "$IDLE_K"
herd_stop

# One node without neighbours under the same IAMAT loads: what flooding
# to four co-located nodes costs the d=1 throughput on this machine.
SOLO_PORT=$(free_ports 1)

# solo_start DATA FSYNC: start the lone node Solo on $TMP/DATA/Solo.
solo_start() {
	printf '[herd]\nlog_socket = %s\ndata_dir = %s\nfsync = %s\n\n' \
	    "$TMP/no-syslog.sock" "$TMP/$1" "$2" > "$TMP/solo.ini"
	printf '[server:Solo]\nport = %s\n' "$SOLO_PORT" >> "$TMP/solo.ini"
	"$TMP/bin/herd-node" -c "$TMP/solo.ini" Solo 2>>"$TMP/solo.err" &
	SOLO_PID=$!
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$SOLO_PORT") 2>/dev/null && break
		sleep 0.05
	done
	NODE_PIDS=$SOLO_PID
}

solo_stop() {
	kill "$SOLO_PID"
	wait "$SOLO_PID" 2>/dev/null || true
	SOLO_PID=""
	NODE_PIDS=""
}

solo_start data-solo everysec
for d in 1 16; do
	run "solo-c50-d$d" iamat -p "$SOLO_PORT" --pid "$SOLO_PID" -c 50 \
	    -d "$d" -t "$BENCH_SECS" -k "$KEYSPACE"
done
solo_stop
# fsync = always on one node: one disk sync per batch instead of five.
solo_start data-solo-always always
run solo-always-c50-d1 iamat -p "$SOLO_PORT" --pid "$SOLO_PID" -c 50 \
    -d 1 -t "$BENCH_SECS" -k "$KEYSPACE"
solo_stop

# Recovery on a fresh herd, so that the store holds exactly R records.
herd_start data-recovery
run recovery recovery --herdctl "$HERDCTL" -C "$INI" --node "$RECOVERY_NODE" \
    --records "$RECOVERY_R" -c 50 -d 16
herd_stop

# Memory per record on a fresh herd.
herd_start data-1m
run load-1m load -p "$HILL" --pid "${PID[Hill]}" --also-pids "$(others)" \
    --records "$MEM_R" -c 50 -d 16
herd_stop

# Restart with those records: exec herd-node Hill alone (no neighbours)
# on its files, poll its port until it accepts; its "loaded" log line.
# First with the files in the page cache (as after herdctl restart),
# then with their pages dropped first (as after a reboot).
RESTART_PORT=$(free_ports 1)
printf '[herd]\nlog_socket = %s\ndata_dir = %s\n\n[server:Hill]\nport = %s\n' \
    "$TMP/no-syslog.sock" "$TMP/data-1m" "$RESTART_PORT" \
    > "$TMP/restart.ini"
for cold in 0 1; do
	log "restart-$cold: herd-node -c $TMP/restart.ini --stderr Hill" \
	    "(${MEM_R} records; cold=$cold)"
	if ! "$PY" - "restart-$cold" "$cold" "$RESTART_PORT" "$TMP/data-1m/Hill" \
	    "$TMP/restart-$cold.err" "$TMP/bin/herd-node" -c "$TMP/restart.ini" \
	    --stderr Hill >> "$RESULTS" <<'EOF'
import os, re, signal, socket, subprocess, sys, time
label, cold, port, ddir, err = sys.argv[1:6]
argv = sys.argv[6:]
files = [os.path.join(ddir, n) for n in sorted(os.listdir(ddir))]
files = [f for f in files if os.path.isfile(f)]
size = sum(os.path.getsize(f) for f in files)
if cold == "1":
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
errf = open(err, "w")
t0 = time.monotonic()
p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=errf)
listen = None
while time.monotonic() < t0 + 60 and p.poll() is None:
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(port)))
        if s.getsockname() != s.getpeername():   # not a self-connect
            listen = (time.monotonic() - t0) * 1000
            break
    except OSError:
        time.sleep(0.001)
    finally:
        s.close()
m = None
for _ in range(500):
    m = re.search(r"loaded (\d+) records \((\d+) log entries\) in (\d+) ms",
                  open(err).read())
    if m or p.poll() is not None:
        break
    time.sleep(0.01)
if p.poll() is None:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
ok = listen is not None and m is not None
print("herd %s exit=%d mode=restart cold=%s records=%s log_entries=%s "
      "load_ms=%s exec_to_listen_ms=%s disk_bytes=%d files=%d" % (
          label, 0 if ok else 1, cold, m and m.group(1), m and m.group(2),
          m and m.group(3), "%.1f" % listen if listen else None, size,
          len(files)))
sys.stderr.write("   %s ms exec -> listening; %s\n" % (
    "%.1f" % listen if listen else "never",
    m.group(0) if m else "no 'loaded' line"))
sys.exit(0 if ok else 1)
EOF
	then
		FAILED=$((FAILED + 1))
		tail -5 "$TMP/restart-$cold.err" | sed 's/^/   /' >&2
	fi
done

if [ -n "$REDIS_PID" ]; then
	kill "$REDIS_PID"
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=""
fi

# --- report ----------------------------------------------------------------------
T_END=$(date +%s)
export LOAD_START BENCH_SECS PROP_RATE PROP_N IDLE_K RECOVERY_R MEM_R RECOVERY_NODE \
    FAR_NODE FAR_HOPS REDIS_VERSION KEYSPACE AOF_KEYSPACE GROWTH_N
export RUN_SECS=$((T_END - T_BEGIN))
"$PY" - "$RESULTS" "$OUT" "$HAVE_GNUPLOT" <<'EOF'
import datetime, os, platform, subprocess, sys

results, out, have_gnuplot = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
env = os.environ
rows = {}
order = []
for line in open(results):
    kind, label, *kv = line.split()
    d = dict(x.split("=", 1) for x in kv)
    d["kind"] = kind
    d["label"] = label
    rows[label] = d
    order.append(label)


def f(d, k, default=None):
    try:
        return float(d[k])
    except (KeyError, ValueError):
        return default


def num(v, digits=0):
    if v is None:
        return "–"
    return "{:,.{}f}".format(v, digits)


def growth_mb_min(d):
    """Log growth of Hill's files in MB per minute (from a ~10 s run)."""
    secs = f(d, "secs")
    return f(d, "grow_bytes") / secs * 60 / 1e6 if secs else None


def round_of(label):
    """", round N" for a row of the persistence rounds, else ""."""
    return ", round " + label[-1] if label[-3:-1] == "-r" else ""


def rounds(prefix):
    """The rows of both rounds of prefix, in order."""
    return [rows[l] for l in order if l.startswith(prefix + "-r")]


def best(ds, value):
    """The row of ds with the lowest value(row), or None."""
    ds = [d for d in ds if value(d) is not None]
    return min(ds, key=value) if ds else None


def settled(d, k="settled_cpu_us"):
    """CPU µs per request from the run's start until the herd was idle."""
    n = f(d, "reqs")
    return f(d, k) / n if n and f(d, k) is not None else None


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "?"


cpu_model = "?"
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"):
        cpu_model = l.split(":", 1)[1].strip()
        break
mem_kb = 0
for l in open("/proc/meminfo"):
    if l.startswith("MemTotal:"):
        mem_kb = int(l.split()[1])

md = []
w = md.append
w("# herd benchmark results")
w("")
w("Produced by `make bench` (tests/bench/run.sh); do not edit by hand.")
w("")
w("| | |")
w("|---|---|")
w("| date | %s |" % datetime.datetime.now(datetime.timezone.utc)
  .strftime("%Y-%m-%d %H:%M UTC"))
w("| machine | `%s` |" % sh("uname -a"))
virt = "virtual machine" if " hypervisor" in open("/proc/cpuinfo").read() \
    else "bare metal"
w("| CPU | %s, %s CPUs (nproc), %s |" % (cpu_model, sh("nproc"), virt))
w("| memory | %.1f GiB |" % (mem_kb / 1048576))
w("| compiler | %s |" % sh("cc --version | head -1"))
w("| libevent | %s |" % sh("pkg-config --modversion libevent"))
w("| Redis | %s: redis-server `--save '' --appendonly no` for every "
  "Redis figure but the AOF rows; those go to a second redis-server "
  "with `--save '' --appendonly yes --appendfsync everysec` (AOF in the "
  "scratch directory, auto-rewrite at its defaults), switched to "
  "`CONFIG SET appendfsync always` for the `always` row; the AOF rows "
  "draw GEOADD members from %s ids, so each adds a member (re-adding one "
  "at the same coordinates changes nothing, and Redis writes and syncs "
  "nothing for it), as each IAMAT changes its record |"
  % (env["REDIS_VERSION"], env["AOF_KEYSPACE"]))
w("| load average at start | %s |" % env["LOAD_START"])
w("| whole run | %s s |" % env["RUN_SECS"])
w("")
w("The herd is the default five-server topology (Hill, Jaquez, Smith, "
  "Campbell, Singleton) on loopback, started with herdctl; every client "
  "load goes to Hill, which floods each update to the four others, all "
  "on this machine.  The `iamat, one node` rows load a lone node "
  "without neighbours instead (nothing to flood), after the herd has "
  "stopped.  `log_socket` points to a path where nothing "
  "listens, so the nodes skip their per-request log lines (as with "
  "`log_requests = no`; with a real syslog each request adds two "
  "datagrams and the syslog daemon's work).  WHATSAT goes to the fake places server "
  "(tests/fake_places.py), warmed up, so it measures the node's cache "
  "path, not Python.  Load generators (herd-bench, redis-benchmark) run "
  "on the same machine and compete for its CPUs.")
w("")
w("**Server CPU µs/req** is the utime+stime the server process spent "
  "(from /proc/PID/stat, before and after the run, 10 ms ticks) divided "
  "by the requests answered: the figure that stays comparable on a "
  "noisy machine.  For the herd it is Hill's alone; **herd CPU** adds "
  "the four other nodes (the flooding).  Latency is from the write of "
  "a request (for a pipelined batch: of the batch, as redis-benchmark "
  "counts) to its complete reply.  Ratios are herd/Redis at the same "
  "connection count and pipeline depth: for req/s higher is better "
  "for the herd, for CPU lower is.")
w("")
w("| mode | parameters | req/s | p50 µs | p99 µs | server CPU µs/req "
  "| herd CPU µs/req | Redis req/s | Redis CPU µs/req | req/s ratio "
  "| CPU ratio |")
w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for label in order:
    d = rows[label]
    if d["kind"] != "herd":
        continue
    mode = d.get("mode", "?")
    params = ""
    r = None
    if mode == "iamat":
        params = "c=%s d=%s k=%s" % (d["conns"], d["depth"], d["keyspace"])
        r = rows.get("redis-c%s-d%s" % (d["conns"], d["depth"]))
        if label.startswith("tls-"):
            mode = "iamat over TLS"
            params += ", Hill's tls_port (TLS 1.3, P-256 certificate)"
            r = None
        elif label.startswith("solo-"):
            mode = "iamat, one node"
            params += ", no neighbours (nothing flooded)"
            if label.startswith("solo-always-"):
                mode = "iamat, one node, fsync = always"
                r = rows.get("aof-always-c%s-d%s" % (d["conns"], d["depth"]))
                params += "; Redis: AOF, appendfsync always"
        elif label.startswith("persist-"):
            pol = label.split("-")[1]
            mode = "iamat, persist = no" if pol == "no" else \
                "iamat, fsync = " + pol
            params += ", fresh herd" + round_of(label)
            if pol != "no":
                r = rows.get("aof-" + label[8:])
                params += "; Redis: AOF, appendfsync " + pol
    elif mode == "oneshot":
        params = "c=%s, new connection per request" % d["conns"]
        r = rows.get("redis-oneshot-c%s" % d["conns"])
    elif mode == "whatsat":
        params = "c=%s d=%s, %s clients" % (d["conns"], d["depth"],
                                           d["keyspace"])
        if label.startswith("whatsat-geonames-"):   # issue 15
            mode = "whatsat, api = geonames"
            params += ", answered in process (built-in GeoNames set)"
    elif mode == "propagation":
        params = "Hill→%s (%s hops), %s probes, %s" % (
            env["FAR_NODE"], env["FAR_HOPS"], d["reqs"],
            "idle" if f(d, "rate", 0) == 0 else
            "under %s IAMAT/s asked" % num(f(d, "rate")))
        if label == "growth":
            mode = "log growth"
            params += (", fresh herd, new client ids, %.1f s: Hill's "
                       "files grew %s MB/min" % (f(d, "secs"),
                                                num(growth_mb_min(d), 1)))
    elif mode == "restart":
        params = ("Hill alone on %s records (%s MB on disk), %s: exec → "
                  "port accepts %s ms; `loaded` line: %s ms" % (
                      num(f(d, "records")), num(f(d, "disk_bytes", 0) / 1e6,
                                                1),
                      "files' pages dropped first (as after a reboot)"
                      if d.get("cold") == "1" else "files in the page cache",
                      num(f(d, "exec_to_listen_ms"), 1),
                      num(f(d, "load_ms"))))
    elif mode == "idle":
        params = ("%s idle connections (one IAMAT each); figures per "
                  "connection set up" % d["conns"])
    elif mode == "recovery":
        params = ("%s records, kill -9 %s; req/s of the load, CPU of "
                  "the restarted node per record" % (d["records"],
                                                     env["RECOVERY_NODE"]))
    elif mode == "load":
        params = "%s new records, c=%s d=%s" % (d["records"], d["conns"],
                                               d["depth"])
    rps = f(d, "rps")
    cpu = f(d, "cpu_us_per_req")
    if d.get("mode") == "restart":
        rps = cpu = None
    if mode == "recovery":
        rps = f(d, "load_rps")
    if mode == "propagation" and f(d, "rate", 0) == 0:
        rps = None
        cpu = None      # a few 10 ms ticks: too small to mean anything
    hcpu = f(d, "herd_cpu_us_per_req")
    rr = f(r, "rps") if r else None
    rc = f(r, "cpu_us_per_req") if r else None
    err = "" if d.get("exit") == "0" and d.get("errors", "0") == "0" \
        else " **(errors=%s)**" % d.get("errors", "?")
    w("| %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        mode, err, params, num(rps), num(f(d, "p50_us"), 0),
        num(f(d, "p99_us"), 0), num(cpu, 2), num(hcpu, 2), num(rr),
        num(rc, 2), num(rps / rr, 2) if rps and rr else "–",
        num(cpu / rc, 2) if cpu and rc else "–"))
for label in order:
    d = rows[label]
    if d["kind"] != "redis":
        continue
    extra = ""
    if d["mode"] == "geoadd-oneshot":
        extra = ", new connection per request (-k 0)"
    elif d["mode"].startswith("geoadd-aof-"):
        extra = (", `--appendonly yes --appendfsync %s`, %s AOF "
                 "rewrite(s) (waited for)%s" % (d["mode"][11:],
                                                d.get("aof_rewrites", "?"),
                                                round_of(label)))
    w("| redis GEOADD | c=%s d=%s r=%s%s | %s | %s | %s | %s | – | | | | |" % (
        d["conns"], d["depth"], env["AOF_KEYSPACE"] if d["mode"].startswith(
            "geoadd-aof-") else env["KEYSPACE"], extra, num(f(d, "rps")),
        num(f(d, "p50_us")), num(f(d, "p99_us")),
        num(f(d, "cpu_us_per_req"), 2)))
w("")

# Mode details that do not fit the table.
w("Details:")
w("")
w("- propagation: a probe is an IAMAT for a new client at Hill; its "
  "latency runs from that write to the write of the first WHATSAT poll "
  "at the far node that finds the record (polls go back to back, so "
  "the resolution is one poll round trip).  A max of hundreds of ms is "
  "the nodes' anti-entropy pass (`reconcile_s`, default 60 s), which "
  "re-sends the whole store on every link: flooded records queue "
  "behind it.  The background load is paced over 10 connections.")
p = rows.get("prop-idle")
q = rows.get("prop-load")
if p:
    w("- propagation idle: p50 %s µs, p99 %s µs, p99.9 %s µs, max %s µs."
      % (num(f(p, "p50_us"), 1), num(f(p, "p99_us"), 1),
         num(f(p, "p999_us"), 1), num(f(p, "max_us"), 1)))
if q:
    w("- propagation under load: %s IAMAT/s achieved (%s asked); "
      "p50 %s µs, p99 %s µs, p99.9 %s µs; background IAMAT p99 %s µs."
      % (num(f(q, "rps")), num(f(q, "rate")), num(f(q, "p50_us"), 1),
         num(f(q, "p99_us"), 1), num(f(q, "p999_us"), 1),
         num(f(q, "load_p99_us"), 1)))
i = rows.get("idle")
if i:
    w("- idle: node RSS %s kB → %s kB with %s connections (%s bytes per "
      "connection), %s kB after they closed."
      % (i["rss_before_kb"], i["rss_after_kb"], i["conns"],
         i["bytes_per_conn"], i["rss_closed_kb"]))
m = rows.get("load-1m")
if m:
    w("- 1M records: Hill RSS %s kB → %s kB: **%s bytes per record** "
      "(RSS growth / records; the store's table, the record with its "
      "client id and AT line, malloc overhead)."
      % (m["rss_before_kb"], m["rss_after_kb"], m["bytes_per_record"]))
r = rows.get("recovery")
if r:
    w("- recovery: %s records loaded at %s/s; after kill -9 the "
      "supervisor had it listening again in %s ms; from listening, a "
      "random sample of 1000 records plus the last one was held after "
      "%s ms; a full check of all %s then found %s missing."
      % (r["records"], num(f(r, "load_rps")), r["kill_to_listen_ms"],
         r["sample_ms"], r["records"], r.get("late", "?")))
pns = rounds("persist-no-c50-d16")
pes = rounds("persist-everysec-c50-d16")
aes = rounds("aof-everysec-c50-d16")
pn = best(pns, settled)
pe = best(pes, settled)
ae = best(aes, lambda d: f(d, "cpu_us_per_req"))
pa = rows.get("persist-always-c50-d1")
aa = rows.get("aof-always-c50-d1")
w("- persistence: every herd row above keeps its records on disk "
  "(`fsync = everysec`, the default), and so does the one node; the "
  "`persist = no` and `fsync =` rows each get a fresh herd with that "
  "setting and are run one right after the other, each next to its "
  "Redis counterpart (same load, Redis with an append-only file).  Their "
  "*settled* CPU counts from the start of the run until the herd is "
  "idle again, so a compaction or a flood backlog the run leaves behind "
  "is paid for; Redis's counts until an AOF rewrite the run started has "
  "finished, its forked child included.  The c=50 d=16 triple runs "
  "twice (rounds 1 and 2); the targets take each setting's better "
  "round.")
for h in pns + pes + ([pa] if pa else []):
    w("- %s, c=%s d=%s%s: Hill %s µs/req at the end of the run, %s µs/req "
      "settled; whole herd %s settled." % (
          "persist = no" if h in pns else "fsync = " +
          ("everysec" if h in pes else "always"), h["conns"], h["depth"],
          round_of(h["label"]), num(f(h, "cpu_us_per_req"), 2),
          num(settled(h), 2), num(settled(h, "settled_herd_cpu_us"), 2)))
if pe and f(pe, "held"):
    w("- after the everysec run (updates of %s client ids) Hill held %s "
      "records in %s MB of files (log generation %s: %d compaction(s) "
      "during the run): %s bytes per record held." % (
          env["KEYSPACE"], num(f(pe, "held")),
          num(f(pe, "disk_bytes") / 1e6, 1), pe["gen"], int(pe["gen"]) - 1,
          num(f(pe, "disk_bytes") / f(pe, "held"))))
if pa:
    w("- fsync = always: every server syncs its own log, the four that "
      "receive the floods too, so five fdatasync streams share the disk "
      "where Redis has one; the `one node, fsync = always` row has one.  "
      "Both wait for the disk: req/s is bound by fdatasync latency times "
      "the records a sync covers (group commit), not by CPU.")
for a in aes + ([aa] if aa else []):
    w("- Redis AOF appendfsync %s%s: %s µs/req, %s rewrite(s), AOF %s MB "
      "after the run." % (a["mode"][11:], round_of(a["label"]),
                          num(f(a, "cpu_us_per_req"), 2),
                          a.get("aof_rewrites", "?"),
                          num(f(a, "aof_bytes", 0) / 1e6, 1)))
for k in ("restart-0", "restart-1"):
    x = rows.get(k)
    if x:
        w("- restart (%s): `herd-node Hill` alone on the files the load row "
          "left (%s files, %s bytes: %s bytes per record); the script "
          "timed exec → first accepted connection (polling every ms) at "
          "%s ms; the node logged `loaded %s records (%s log entries) in "
          "%s ms`." % ("page cache dropped first with "
                       "posix_fadvise(DONTNEED), as after a reboot"
                       if x.get("cold") == "1" else "files in the page cache",
                       x["files"], num(f(x, "disk_bytes")),
                       num(f(x, "disk_bytes") / f(x, "records", 1)),
                       x["exec_to_listen_ms"], x["records"],
                       x["log_entries"], x["load_ms"]))
g = rows.get("growth")
if g:
    w("- log growth: propagation's paced load at %s IAMAT/s asked (%s "
      "achieved) for %.1f s on a fresh herd, client ids new (log "
      "generation %s at the end: %s); Hill's files grew by %s bytes "
      "= %s MB/min scaled to a minute (%s bytes per IAMAT); the five "
      "servers' together by %s MB/min (each stores every record).  With "
      "clients that update (not new ones), compaction keeps the files "
      "near twice the live data, so this is the rate of disk writes, not "
      "of space held." % (
          num(f(g, "rate")), num(f(g, "rps")), f(g, "secs"), g["gen"],
          "no compaction" if g["gen"] == "1" else
          "a compaction ran, so the growth is understated",
          num(f(g, "grow_bytes")), num(growth_mb_min(g), 1),
          num(f(g, "grow_bytes") / (f(g, "rps") * f(g, "secs"))),
          num(f(g, "herd_grow_bytes") / f(g, "secs") * 60 / 1e6, 1)))
w("")


def target(name, ok, got):
    w("| %s | %s | %s |" % (name, got, "**pass**" if ok else
                             ("**FAIL**" if ok is not None else
                              "reported" if got != "not measured" else
                              "n/a")))


t, pl = rows.get("tls-c50-d16"), rows.get("iamat-c50-d16")
if t and pl:
    w("## TLS for clients (issue 13)")
    w("")
    w("IAMAT c=50 d=16 to Hill's `tls_port` (herd-bench `--tls`: TLS 1.3, "
      "no certificate check, one handshake per connection before the "
      "clock starts), right after the same load on the plain port: "
      "%s req/s against %s (%.2f×); Hill's CPU %s µs/req against %s "
      "(%.2f×), p99 %s µs against %s.  The bench client decrypts too, on "
      "the same two CPUs." % (
          num(f(t, "rps")), num(f(pl, "rps")), f(t, "rps") / f(pl, "rps"),
          num(f(t, "cpu_us_per_req"), 2), num(f(pl, "cpu_us_per_req"), 2),
          f(t, "cpu_us_per_req") / f(pl, "cpu_us_per_req"),
          num(f(t, "p99_us")), num(f(pl, "p99_us"))))
    w("")

offs, ons = ([rows[l] for l in order if l.startswith(p)]
             for p in ("scrape-off-r", "scrape-on-r"))


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    return v[len(v) // 2] if len(v) % 2 else \
        (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


scrape = None
if offs and ons:
    w("## What scraping /metrics costs (issue 14)")
    w("")
    w("IAMAT c=50 d=16 to Hill, alternating: without a scraper, then with "
      "one reading `/metrics` of all five servers %s times a second "
      "(one connection per scrape).  The ratio compares medians."
      % env.get("SCRAPE_HZ", "10"))
    w("")
    w("| round | Hill CPU µs/req without | with | scrapes answered (failed) "
      "| req/s without | with |")
    w("|---|---|---|---|---|---|")
    for a, b in zip(offs, ons):
        w("| %s | %s | %s | %s (%s) | %s | %s |" % (
            a["label"][-1], num(f(a, "cpu_us_per_req"), 3),
            num(f(b, "cpu_us_per_req"), 3), num(f(b, "scrapes_ok")),
            num(f(b, "scrapes_bad")), num(f(a, "rps")), num(f(b, "rps"))))
    m0 = median(f(a, "cpu_us_per_req") for a in offs)
    m1 = median(f(b, "cpu_us_per_req") for b in ons)
    bad = sum(f(b, "scrapes_bad", 1) for b in ons)
    if m0 and m1:
        scrape = (m1 / m0 - 1, m0, m1, bad)
    sc = rows.get("scrape-cost")
    if sc and f(sc, "n"):
        per = f(sc, "cpu_us") / f(sc, "n")
        hz = float(env.get("SCRAPE_HZ", "10"))
        on = [b for b in ons if f(b, "rps") and f(b, "cpu_us_per_req")]
        busy = median(f(b, "rps") * f(b, "cpu_us_per_req") for b in on)
        w("")
        w("Measured directly: %s scrapes of Hill's `/metrics` one after "
          "the other cost Hill %s µs of CPU each; %g a second are %s µs "
          "of CPU per second, against the %s µs per second Hill spent on "
          "the c=50 d=16 load: %.2f%% (clock ticks are 10 ms, so this "
          "figure is the steadier one)." % (
              num(f(sc, "n")), num(per, 1), hz, num(per * hz),
              num(busy), 100 * per * hz / busy if busy else 0))
        if busy:
            scrape = scrape + (per * hz / busy,) if scrape else None
    w("")

w("## Targets (issue 6)")
w("")
w("| target | measured | result |")
w("|---|---|---|")
h = rows.get("iamat-c50-d16")
r = rows.get("redis-c50-d16")
if h and r:
    ratio = f(h, "cpu_us_per_req") / f(r, "cpu_us_per_req")
    target("IAMAT c=50 d=16: server CPU/req ≤ Redis GEOADD's (ratio ≤ 1.0)",
           ratio <= 1.0, "%.2f vs %.2f µs → ratio %.2f (whole herd: %s µs)"
           % (f(h, "cpu_us_per_req"), f(r, "cpu_us_per_req"), ratio,
              num(f(h, "herd_cpu_us_per_req"), 2)))
else:
    target("IAMAT c=50 d=16 CPU ratio ≤ 1.0", None, "not measured")
h = rows.get("iamat-c50-d1")
r = rows.get("redis-c50-d1")
if h and r:
    ratio = f(h, "rps") / f(r, "rps")
    s = rows.get("solo-c50-d1")
    solo = ("; one node without neighbours: %s req/s → %.2f" % (
        num(f(s, "rps")), f(s, "rps") / f(r, "rps")) if s else "")
    target("IAMAT c=50 d=1: throughput within 10% of Redis GEOADD",
           ratio >= 0.9, "%s vs %s req/s → %.2f%s" % (
               num(f(h, "rps")), num(f(r, "rps")), ratio, solo))
else:
    target("IAMAT c=50 d=1 throughput ≥ 0.9 × Redis", None, "not measured")
if p:
    target("propagation to %s (farthest): p99 < 1 ms idle" % env["FAR_NODE"],
           f(p, "p99_us") < 1000 and p.get("errors") == "0",
           "p99 %s µs" % num(f(p, "p99_us")))
if q:
    target("propagation p99 < 5 ms under %s IAMAT/s" % num(f(q, "rate")),
           f(q, "p99_us") < 5000 and q.get("errors") == "0" and
           f(q, "rps") >= 0.95 * f(q, "rate"),
           "p99 %s µs at %s IAMAT/s achieved" % (num(f(q, "p99_us")),
                                                num(f(q, "rps"))))
if i:
    grow = (f(i, "rss_after_kb") - f(i, "rss_before_kb")) / 1024
    target("%s idle connections: RSS growth < 40 MB" % i["conns"],
           grow < 40 and i.get("errors") == "0", "%.1f MB" % grow)
if m:
    target("%s records: node RSS < 300 MB" % num(f(m, "records")),
           f(m, "rss_after_kb") < 300 * 1024 and m.get("errors") == "0",
           "%.1f MB (%s bytes/record)" % (f(m, "rss_after_kb") / 1024,
                                         m["bytes_per_record"]))
r = rows.get("recovery")
if r:
    target("recovery of %s records after kill -9: < 1 s from restart"
           % num(f(r, "records")),
           f(r, "recover_ms") < 1000 and r.get("errors") == "0",
           "%s ms (+%s ms kill → listening)" % (r["recover_ms"],
                                               r["kill_to_listen_ms"]))
w("")
w("## Targets (issue 11: persistence)")
w("")
w("| target | measured | result |")
w("|---|---|---|")
if pe and pn:
    ratio = settled(pe) / settled(pn)
    target("IAMAT c=50 d=16, fsync = everysec: Hill's CPU/req ≤ 1.2× "
           "persist = no (settled, better of 2 rounds each)", ratio <= 1.2,
           "%.2f vs %.2f µs → ratio %.2f (end of run: %.2f vs %.2f; whole "
           "herd settled: %.2f vs %.2f)" % (
               settled(pe), settled(pn), ratio, f(pe, "cpu_us_per_req"),
               f(pn, "cpu_us_per_req"), settled(pe, "settled_herd_cpu_us"),
               settled(pn, "settled_herd_cpu_us")))
if pe and ae:
    ratio = settled(pe) / f(ae, "cpu_us_per_req")
    target("IAMAT c=50 d=16, everysec: Hill's CPU/req ≤ Redis's with "
           "`appendonly yes appendfsync everysec` (better of 2 rounds each)",
           ratio <= 1.0,
           "%.2f vs %.2f µs → ratio %.2f" % (
               settled(pe), f(ae, "cpu_us_per_req"), ratio))
else:
    target("IAMAT c=50 d=16 everysec CPU vs Redis AOF", None, "not measured")
if pa and aa:
    ratio = f(pa, "rps") / f(aa, "rps")
    s = rows.get("solo-always-c50-d1")
    solo = ("; one node without neighbours: %s req/s → %.2f" % (
        num(f(s, "rps")), f(s, "rps") / f(aa, "rps")) if s else "")
    target("IAMAT c=50 d=1, fsync = always: throughput ≥ Redis's with "
           "`appendfsync always`", ratio >= 1.0,
           "%s vs %s req/s → %.2f%s" % (num(f(pa, "rps")),
                                        num(f(aa, "rps")), ratio, solo))
else:
    target("IAMAT c=50 d=1 always vs Redis", None, "not measured")
for k in ("restart-0", "restart-1"):
    x = rows.get(k)
    if x:
        ms = f(x, "exec_to_listen_ms")
        target("restart with %s records (%s): exec → listening < 1 s" % (
            num(f(x, "records")), "page cache dropped" if x.get("cold") ==
            "1" else "warm"), ms is not None and ms < 1000 and
            x.get("exit") == "0",
            "%s ms (loading: %s ms)" % (num(ms, 1), x["load_ms"]))
x = rows.get("restart-0")
if x:
    target("disk bytes per record (reported)", None if x.get("exit") == "0"
           else False, "%s after the load of %s records%s" % (
               num(f(x, "disk_bytes") / f(x, "records", 1)),
               num(f(x, "records")),
               "; %s per record held after the everysec run (%d "
               "compaction(s))" % (num(f(pe, "disk_bytes") / f(pe, "held")),
                                   int(pe["gen"]) - 1)
               if pe and f(pe, "held") else ""))
if g:
    target("log growth per minute at %s IAMAT/s (reported)" % num(
        f(g, "rate")), None if g.get("exit") == "0" else False,
        "%s MB/min at Hill (%.1f s measured, scaled)" % (
            num(growth_mb_min(g), 1), f(g, "secs")))
if scrape and len(scrape) > 4:
    # The direct figure decides; the A/B medians are shown beside it.
    target("scraping /metrics of every server 10×/s during c=50 d=16: "
           "Hill's CPU/req changes < 3%", scrape[4] < 0.03 and
           scrape[3] == 0, "+%.2f%% measured directly; A/B medians %.3f "
           "µs with vs %.3f without (%+.1f%%, noise); %d failed scrapes"
           % (100 * scrape[4], scrape[2], scrape[1], 100 * scrape[0],
              scrape[3]))
else:
    target("scraping /metrics costs < 3% CPU/req", None, "not measured")
w("")
w("## How to read and rerun")
w("")
w("`make bench` (as root it installs redis-server, redis-tools and "
  "gnuplot-nox when missing) takes under five minutes.  Each herd-bench "
  "run prints a summary and a `RESULT key=value ...` line; run one mode "
  "by hand with `bin/herd-bench MODE --help`.  Shorter runs: "
  "`BENCH_SECS=1 MEM_R=200000 make bench`.  Figures from a shared or "
  "virtual machine move by tens of percent between runs; the CPU per "
  "request moves least.")
w("")
w("![throughput and p99 against connection count](throughput.png)")
w("")
open(os.path.join(out, "results.md"), "w").write("\n".join(md))

# Plot data: conns, herd d1, herd d16, redis d1, redis d16 (rps and p99).
series = {}
for label, d in rows.items():
    if d.get("mode") in ("iamat", "geoadd") and \
            not label.startswith(("solo-", "persist-")):
        series.setdefault((d["kind"], d["depth"]), []).append(
            (int(d["conns"]), f(d, "rps"), f(d, "p99_us")))
dat = os.path.join(os.path.dirname(results), "plot.dat")
keys = sorted(series)
with open(dat, "w") as fp:
    for k in keys:
        fp.write("# %s depth %s\n" % k)
        for c, rps, p99 in sorted(series[k]):
            fp.write("%d %f %f\n" % (c, rps, p99))
        fp.write("\n\n")
if have_gnuplot and keys:
    titles = ["%s d=%s" % (("herd IAMAT" if k[0] == "herd" else
                            "Redis GEOADD"), k[1]) for k in keys]
    plot1 = ", ".join("'%s' index %d using 1:2 with linespoints title '%s'"
                      % (dat, n, t) for n, t in enumerate(titles))
    plot2 = ", ".join("'%s' index %d using 1:3 with linespoints title '%s'"
                      % (dat, n, t) for n, t in enumerate(titles))
    term = "pngcairo size 1200,560" if "pngcairo" in sh(
        "gnuplot -e 'set terminal' 2>&1") else "png size 1200,560"
    script = """
set terminal %s
set output '%s'
set multiplot layout 1,2
set logscale x 2
set grid
set key below
set xlabel 'connections'
set ylabel 'requests/s'
set title 'throughput'
plot %s
set ylabel 'p99 latency (us)'
set logscale y
set title 'p99 latency'
plot %s
unset multiplot
""" % (term, os.path.join(out, "throughput.png"), plot1, plot2)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
print("wrote %s" % os.path.join(out, "results.md"))
EOF
cat "$OUT/results.md"
if [ "$FAILED" -ne 0 ]; then
	log "$FAILED herd-bench run(s) reported errors"
	exit 1
fi
OK=1
