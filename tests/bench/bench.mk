# bench.mk -- `make bench`: herd-bench in every mode against a herd it
# starts, then redis-benchmark (GEOADD) for scale; writes
# tests/bench/results.md and tests/bench/throughput.png.  Under 5 min.
# Knobs: BENCH_SECS, CONNS, DEPTHS, PROP_N, PROP_RATE, IDLE_K,
# RECOVERY_R, MEM_R, GROWTH_N (see tests/bench/run.sh).
# `make bench-scale` (also the end of `make bench`): herds of 5, 20 and 50
# servers (tests/bench/scale.sh); writes tests/bench/scale.md and
# tests/bench/scale.png.  About 30 s.
# Knobs: SCALE_SIZES, SCALE_UPDATES, SCALE_PROBES, SCALE_SEED.

.PHONY: bench bench-scale bench-catch-up bench-tls bench-geonames

bench: all
	bash tests/bench/run.sh
	bash tests/bench/scale.sh
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/catch_up.py
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/tls.py

bench-scale: all
	bash tests/bench/scale.sh

# One catch-up between two neighbours, herd/1 against herd/2: bytes and
# time at CATCHUP_N records (1,000,000) with CATCHUP_D differences (100);
# writes tests/bench/catch_up.md (also the end of `make bench`).
bench-catch-up: all
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/catch_up.py

# What TLS on peer links costs: herd CPU per update (all five servers,
# c=50 d=16) with peer_tls = yes and = no, TLS_ROUNDS (3) of each,
# alternating; writes tests/bench/tls.md (also the end of `make bench`).
bench-tls: all
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/tls.py

# What a 1,000,000-feature GeoNames dump costs five servers of one
# machine (api = geonames, issue 15): load time of the first (builds the
# index file) and the others (map it), their memory together.  ~10 s.
bench-geonames: all
	HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/bench/geonames_1m.py
