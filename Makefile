# sched: one plain Makefile (see README.md).
#
#   make            build bin/schedd, bin/workerd, bin/schedctl
#   make check      build and run every test (unit, then integration)
#   make sanitize   the whole test suite again under ASan + UBSan (build/san)
#   make demo       a local cluster on loopback with examples/ (Ctrl-C stops it)
#   make deps       install the Debian packages the build needs
#   make fuzz       build the libFuzzer targets (clang) and run each briefly
#   make model      check the Promela model of the protocol with spin
#   make lab        build the fault lab's helpers (tests/lab/*.c) into build/lab
#   make lab-check  the lab checker's quick tests (tests/lab/test_check.py)
#   make lab-e2e    the lab checker against a loopback cluster (test_check.sh)
#   make chaos      seeded random faults in the lab, checked (SEED=N DURATION=S)
#   make install    copy the binaries to $(DESTDIR)$(PREFIX)/bin

CC       ?= cc
BUILD    ?= build
BIN      ?= bin
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wvla \
            -Icommon -Ischeduler -Iworker -MMD -MP
LDLIBS   += -lsqlite3 -lsodium -lm

ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

COMMON_SRC := $(wildcard common/*.c)
SCHED_SRC  := $(filter-out scheduler/schedd.c scheduler/schedctl.c, \
                $(wildcard scheduler/*.c))
WORKER_SRC := $(filter-out worker/workerd.c, $(wildcard worker/*.c))
LIB_SRC    := $(COMMON_SRC) $(SCHED_SRC) $(WORKER_SRC)
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema.o
SCHEMA_SQL := $(wildcard schema/*.sql)
LIB        := $(BUILD)/libsched.a

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/%)

PROGS := $(BIN)/schedd $(BIN)/workerd $(BIN)/schedctl

# The fault lab's helpers (tests/lab): small programs the lab's tasks run.
# nfq* need libnetfilter_queue and are built by the lab itself.
LAB_SRC    := $(filter-out tests/lab/nfq%,$(wildcard tests/lab/*.c))
LAB_BIN    := $(LAB_SRC:tests/lab/%.c=$(BUILD)/lab/%)

.PHONY: all check unit integration lab lab-check lab-test lab-e2e sanitize demo deps fuzz model install \
	clean format

all: $(PROGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The schema files are compiled in (common/db.h), so binaries need no
# files at run time.
$(BUILD)/gen/schema.c: $(SCHEMA_SQL) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	scripts/embed-sql.sh $@

$(BUILD)/gen/schema.o: $(BUILD)/gen/schema.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/schedd: $(BUILD)/scheduler/schedd.o $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/schedctl: $(BUILD)/scheduler/schedctl.o $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/workerd: $(BUILD)/worker/workerd.o $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

$(BUILD)/tests/%: $(BUILD)/tests/helpers/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# -Werror even when CFLAGS comes from the command line.
$(BUILD)/lab/%: tests/lab/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Werror $(LDFLAGS) -o $@ $<

lab: $(LAB_BIN)

# The lab checker's tests (tests/lab/CHECKER.md).  lab-check: synthetic
# inputs for every property, the checker's schedules against `schedctl
# next`, sched-interval as a real process; about a second, no root, so
# part of `check`.  lab-e2e: schedd and two workers on loopback with a
# worker and a task killed, about 20 s.
lab-check: $(LAB_BIN) $(PROGS)
	@SCHED_INTERVAL=$(abspath $(BUILD)/lab/sched-interval) BIN=$(abspath $(BIN)) \
	  timeout --kill-after=10 120 python3 tests/lab/test_check.py

# The lab's own tests (tests/lab/run.sh): hosts in network namespaces,
# faults with nftables; root, nftables and libfaketime (scripts/test.sh).
lab-test: $(LAB_BIN) $(PROGS)
	@LAB_BIN=$(abspath $(BIN)) tests/lab/run.sh

lab-e2e: $(LAB_BIN) $(PROGS)
	@BIN=$(abspath $(BIN)) LAB=$(abspath $(BUILD)/lab) \
	  timeout --kill-after=10 240 bash tests/lab/test_check.sh

# The seeded chaos driver (tests/lab/CHAOS.md): DURATION seconds (120) of
# random faults drawn from SEED (a random one, printed, if unset) in the
# fault lab, then check.py; root, nftables and libfaketime.  Results in
# var/chaos/.  `make chaos SEED=1 DURATION=120` takes about 2.5 minutes.
.PHONY: chaos
chaos: $(LAB_BIN) $(PROGS)
	@LAB_BIN=$(abspath $(BIN)) CHAOS_INTERVAL=$(abspath $(BUILD)/lab/sched-interval) \
	  SEED="$(SEED)" DURATION="$(or $(DURATION),120)" bash tests/lab/chaos.sh

# Unit tests: every Criterion binary, each bounded in time; integration
# tests: real processes on loopback, driven by tests/integration/run.sh.
unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

integration: $(PROGS) $(HELPER_BIN)
	@BIN=$(abspath $(BIN)) HELPERS=$(abspath $(BUILD)/tests) \
	  tests/integration/run.sh

check: all unit integration lab-check

# One Criterion job at a time: Criterion's own runner leaks a few bytes
# under ASan when parallel tests end at different times.
sanitize:
	JOBS=1 $(MAKE) BUILD=build/san BIN=build/san/bin SANITIZE=1 check

demo: all
	@scripts/demo.sh

deps:
	@scripts/install-deps.sh

# The protocol model (tests/model): the safety and progress checks must
# pass, and the build without the fence check must be caught.
model:
	tests/model/check.sh --all

# One libFuzzer target per decoder (tests/fuzz); FUZZ_SECONDS each.
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS  := -g -O1 -std=c11 -D_GNU_SOURCE -Icommon \
                -fsanitize=fuzzer,address,undefined
fuzz:
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_wire tests/fuzz/fuzz_wire.c common/wire.c
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_auth tests/fuzz/fuzz_auth.c common/auth.c -lsodium
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_swim tests/fuzz/fuzz_swim.c common/swim*.c -lm
	build/fuzz/fuzz_wire -max_total_time=$(FUZZ_SECONDS)
	build/fuzz/fuzz_auth -max_total_time=$(FUZZ_SECONDS)
	build/fuzz/fuzz_swim -max_total_time=$(FUZZ_SECONDS)

PREFIX ?= /usr/local
install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf $(BUILD) build $(BIN)

format:
	clang-format -i common/*.[ch] scheduler/*.[ch] worker/*.[ch] tests/unit/*.c

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
