# fuzz.mk -- libFuzzer harnesses; included by the top-level Makefile.
#
#   make fuzz                    build, then fuzz every harness FUZZ_SECONDS
#   make fuzz FUZZ_SECONDS=300   longer runs
#   make fuzz FUZZ_ONLY=config   one harness (names without fuzz_)
#   make fuzz-build              build only
#   make fuzz-regress            run tests/fuzz/regress/<name>/* once each
#
# Harnesses are tests/fuzz/fuzz_<name>.c, built with clang against all of
# src/*.c compiled with the same sanitizer flags, into build/fuzz/.  Runs
# fuzz a scratch corpus, build/fuzz/corpus/<name>, seeded from
# tests/fuzz/corpus/<name>, so the committed corpus never changes; they
# use tests/fuzz/<name>.dict when it exists.  A crash fails the target
# and leaves its input in build/fuzz/<name>-crash-* (or -leak-, -timeout-,
# -oom-); the full log is build/fuzz/<name>.log.  To keep a crash as a
# regression input, copy it to tests/fuzz/regress/<name>/.

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_DIR	:= build/fuzz
FUZZ_SAN	:= -fsanitize=fuzzer,address,undefined \
		   -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS	:= -g -O1 $(FUZZ_SAN) $(WARN)
FUZZ_OPTS	?= -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
FUZZ_ALL	:= $(patsubst tests/fuzz/fuzz_%.c,%,\
		   $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_ONLY	?= $(FUZZ_ALL)
# What of a log to show: libFuzzer's summary of a clean run; the failed
# check, sanitizer report, our stack frames and the input of a crash.
FUZZ_STATS	:= grep -E '^\#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)'
FUZZ_SHOW	:= grep -E 'check failed|ERROR:|runtime error|SUMMARY|Test unit|^Base64:|(src|tests/fuzz)/[a-z_]+\.c:[0-9]'

FUZZ_BINS	:= $(FUZZ_ALL:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_LIB_OBJS	:= $(LIB_SRCS:src/%.c=$(FUZZ_DIR)/src/%.o)

.PRECIOUS: $(FUZZ_DIR)/%.o
.PHONY: fuzz fuzz-build fuzz-regress fuzz-clean

fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/%.o: %.c $(wildcard include/herd/*.h src/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS)

# Every harness runs even after another crashed; any crash fails.
fuzz: fuzz-build
	@fail=0; for n in $(FUZZ_ONLY); do \
		bin=$(FUZZ_DIR)/fuzz_$$n; work=$(FUZZ_DIR)/corpus/$$n; \
		log=$(FUZZ_DIR)/$$n.log; dict=; \
		[ -x $$bin ] || { echo "no harness fuzz_$$n"; fail=1; continue; }; \
		mkdir -p $$work; \
		if [ -d tests/fuzz/corpus/$$n ]; then \
			cp -R tests/fuzz/corpus/$$n/. $$work/; \
		fi; \
		if [ -f tests/fuzz/$$n.dict ]; then \
			dict=-dict=tests/fuzz/$$n.dict; \
		fi; \
		echo "== fuzz_$$n: $(FUZZ_SECONDS) s on $$work $$dict"; \
		if $$bin -max_total_time=$(FUZZ_SECONDS) $(FUZZ_OPTS) $$dict \
		    -artifact_prefix=$(FUZZ_DIR)/$$n- $$work >$$log 2>&1; then \
			$(FUZZ_STATS) $$log; \
		else \
			fail=1; $(FUZZ_SHOW) $$log | head -n 40; \
			echo "== fuzz_$$n FAILED; input in $(FUZZ_DIR)/$$n-*, log $$log"; \
		fi; \
	done; exit $$fail

# Each regression input once through its harness (no fuzzing).
fuzz-regress: fuzz-build
	@fail=0; for n in $(FUZZ_ALL); do \
		[ -d tests/fuzz/regress/$$n ] || continue; \
		for f in $$(find tests/fuzz/regress/$$n -type f ! -name '.*' | \
		    LC_ALL=C sort); do \
			if $(FUZZ_DIR)/fuzz_$$n \
			    -artifact_prefix=$(FUZZ_DIR)/regress-$$n- $$f \
			    >$(FUZZ_DIR)/regress.log 2>&1; then \
				echo "ok   fuzz_$$n $$f"; \
			else \
				fail=1; $(FUZZ_SHOW) $(FUZZ_DIR)/regress.log | \
				    head -n 40; \
				echo "FAIL fuzz_$$n $$f"; \
			fi; \
		done; \
	done; exit $$fail

fuzz-clean:
	rm -rf $(FUZZ_DIR)
