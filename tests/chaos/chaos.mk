# chaos.mk -- `make chaos`: the randomized fault-injection run of
# tests/chaos/chaos.py against the programs of the build flavour (build/normal/bin).  CHAOS_SECONDS
# (default 120) of faults, then heal, settle and check; CHAOS_SEED
# replays a run (a random seed is printed otherwise).

CHAOS_SECONDS ?= 120
CHAOS_SEED ?=

.PHONY: chaos

chaos: all
	@CHAOS_SECONDS=$(CHAOS_SECONDS) CHAOS_SEED=$(CHAOS_SEED) \
	    HERD_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 tests/chaos/chaos.py
