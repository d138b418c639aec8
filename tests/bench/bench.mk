# bench.mk -- `make bench`: herd-bench in every mode against a herd it
# starts, then redis-benchmark (GEOADD) for scale; writes
# tests/bench/results.md and tests/bench/throughput.png.  Under 5 min.
# Knobs: BENCH_SECS, CONNS, DEPTHS, PROP_N, PROP_RATE, IDLE_K,
# RECOVERY_R, MEM_R, GROWTH_N (see tests/bench/run.sh).

.PHONY: bench

bench: all
	bash tests/bench/run.sh
