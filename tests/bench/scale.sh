#!/usr/bin/env bash
# tests/bench/scale.sh -- `make bench-scale`: herds of 5, 20 and 50 servers.
#
# Random connected topologies of average degree 3 (tests/topology.py,
# fixed seed) on free loopback ports, each started with herdctl; for each
# size tests/bench/scale.py measures start and link-up times, propagation
# to the farthest server, CPU per update per server, RSS per server, and
# the time of herdctl status and reload.  Writes tests/bench/scale.md and
# tests/bench/scale.png.  Cleans up everything it started, by PID.
#
# Knobs (environment): SCALE_SIZES (5,20,50), SCALE_UPDATES (20000),
# SCALE_PROBES (200), SCALE_SEED (1), BENCH_OUT (tests/bench).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${BENCH_OUT:-$ROOT/tests/bench}
mkdir -p "$OUT"
PY=/usr/bin/python3

log() { printf '== %s\n' "$*" >&2; }

# gnuplot for the plot (as root: installed when missing, as run.sh does).
if ! command -v gnuplot >/dev/null; then
	if [ "$(id -u)" -eq 0 ]; then
		log "installing: gnuplot-nox"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
	else
		log "missing: gnuplot-nox (not root: no plot)"
	fi
fi
GNUPLOT=()
command -v gnuplot >/dev/null && GNUPLOT=(--gnuplot)

log "building"
make --no-print-directory all >/dev/null
TMP=$(mktemp -d /tmp/herd-scale.XXXXXX)
OK=0
cleanup() {
	if [ "$OK" = 1 ]; then
		rm -rf "$TMP"
	else
		echo "bench-scale: failed; logs kept in $TMP" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Private copies of the normal build (bin/ may be rebuilt meanwhile);
# herdctl runs the herd-node next to itself.
mkdir "$TMP/bin"
for p in herd-node herdctl herd-bench; do
	cp "build/normal/bin/$p" "$TMP/bin/"
done
if ldd "$TMP/bin/herd-node" | grep -q libasan; then
	echo "bench-scale: herd-node is a sanitizer build" >&2
	exit 1
fi
# 50 servers, their links and the bench's connections: room for all.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

"$PY" tests/bench/scale.py --bin "$TMP/bin" --out "$OUT" --tmp "$TMP" \
    --sizes "${SCALE_SIZES:-5,20,50}" --updates "${SCALE_UPDATES:-20000}" \
    --probes "${SCALE_PROBES:-200}" --seed "${SCALE_SEED:-1}" "${GNUPLOT[@]}"
OK=1
