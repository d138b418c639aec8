# bench.mk -- `make bench`: herd-bench in every mode against a herd it
# starts, then redis-benchmark (GEOADD) for scale; writes results.md and
# throughput.png (and scale.*, catch_up.md, tls.md) into BENCH_OUT,
# build/bench by default, so a run leaves the tree clean.  Under 6 min.
# `make bench-reference`: the same into tests/bench/, refreshing the
# committed reference the README quotes.
# Knobs: BENCH_SECS, CONNS, DEPTHS, PROP_N, PROP_RATE, IDLE_K,
# RECOVERY_R, MEM_R, GROWTH_N (see tests/bench/run.sh).
# `make bench-scale` (also the end of `make bench`): herds of 5, 20 and 50
# servers (tests/bench/scale.sh); writes scale.md and scale.png into
# BENCH_OUT.  About 30 s.
# Knobs: SCALE_SIZES, SCALE_UPDATES, SCALE_PROBES, SCALE_SEED.

.PHONY: bench bench-reference bench-scale bench-catch-up bench-tls bench-geonames

BENCH_OUT ?= $(CURDIR)/build/bench
export BENCH_OUT

bench: all
	@mkdir -p "$(BENCH_OUT)"
	bash tests/bench/run.sh
	bash tests/bench/scale.sh
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/catch_up.py
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/tls.py
	@echo "bench: results in $(BENCH_OUT) (make bench-reference refreshes tests/bench/)"

bench-reference:
	$(MAKE) bench BENCH_OUT=$(CURDIR)/tests/bench

bench-scale: all
	bash tests/bench/scale.sh

# One catch-up between two neighbours, herd/1 against herd/2: bytes and
# time at CATCHUP_N records (1,000,000) with CATCHUP_D differences (100);
# writes BENCH_OUT/catch_up.md (also the end of `make bench`).
bench-catch-up: all
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/catch_up.py

# What TLS on peer links costs: herd CPU per update (all five servers,
# c=50 d=16) with peer_tls = yes and = no, TLS_ROUNDS (3) of each,
# alternating; writes BENCH_OUT/tls.md (also the end of `make bench`).
bench-tls: all
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/tls.py

# What a 1,000,000-feature GeoNames dump costs five servers of one
# machine (api = geonames, issue 15): load time of the first (builds the
# index file) and the others (map it), their memory together.  ~10 s.
bench-geonames: all
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/geonames_1m.py
