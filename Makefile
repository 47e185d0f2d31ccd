# predict: scikit-learn binary classifiers scored in C inside PostgreSQL.
#
#   make            build the extension (PGXS), bin/predict-score and the rest
#   make install    install the PostgreSQL extension
#   make run        build and start the gateway on SQLite (port 5000)
#   make check      the inner loop: unit, parity and pg_regress tests (test/run-check)
#   make test       install missing packages, build, run every test suite
#   make fuzz       run the libFuzzer targets (FUZZ_SECONDS each, default 60)
#   make bench      run the benchmarks under bench/
#   make soak       the gateway at 80% of its saturation rate, SOAK_DURATION s per backend (mk/soak.mk)
#
# The layers (docs/architecture.md): src/core is the scoring core, plain C
# with no database dependency, built once as build/libpredict.a, which every
# host links: the PostgreSQL extension (src/pg), the SQLite extension
# (src/sqlite), the CLI (src/cli) and the gateway (gateway/). Managed mode's
# SQL compiler (src/managed) is part of the library: the gateway and the
# tests compile models with it.

# make check is ours (test/run-check); PGXS's own check target only says it
# is not supported, so it is not read for that goal.
ifeq ($(MAKECMDGOALS),check)
check:
	@tools/install-deps test
	@test/run-check
.PHONY: check
else

EXTENSION = predict
MODULE_big = predict
CORE_SRCS = $(wildcard src/core/*.c) src/managed/sql_codegen.c
CORE_HDRS = $(wildcard src/core/*.h)
# The extension's module: every file of src/pg (src/pg/pg_predict.h).
OBJS = $(patsubst %.c,%.o,$(wildcard src/pg/*.c))
# The scripts of released versions are kept as they shipped (the install
# scripts of 1.0 to 1.4, the upgrades from 1.0 to 1.3); 1.5's install
# script and the upgrade from 1.4 are put together from src/pg/sql/
# (mk/pg.mk).
DATA = $(addprefix src/pg/sql/,predict--1.0.sql predict--1.1.sql predict--1.2.sql predict--1.3.sql \
	predict--1.4.sql predict--1.0--1.1.sql predict--1.1--1.2.sql predict--1.2--1.3.sql \
	predict--1.3--1.4.sql)
DATA_built = build/sql/predict--1.5.sql build/sql/predict--1.4--1.5.sql
SHLIB_LINK = build/libpredict.a -lcjson -lm
PG_CPPFLAGS = -Isrc/core
# -ffp-contract=off: a fused multiply-add would round differently from
# scikit-learn; warnings are errors when WERROR is set (make test sets it).
PG_CFLAGS = -ffp-contract=off -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers $(if $(WERROR),-Werror)
# sql/*.sql are the regression tests (pg_regress, with expected/).
REGRESS = $(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=plpgsql
EXTRA_CLEAN = bin build results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all:
	@echo "PostgreSQL's PGXS was not found ($(PG_CONFIG) --pgxs)."
	@echo "Run tools/install-deps (or: apt-get install postgresql-server-dev-15), then make again."
	@exit 1
endif

# ---------- the programs outside PostgreSQL ----------

CC ?= cc
PREDICT_CFLAGS = -std=gnu11 -O2 -g -fPIC -ffp-contract=off -Wall -Wextra \
	-Wmissing-prototypes -Wdeclaration-after-statement $(if $(WERROR),-Werror) -Isrc/core $(EXTRA_CFLAGS)
PREDICT_LDLIBS = -lcjson -lm

CORE_OBJS = $(patsubst src/%.c,build/%.o,$(CORE_SRCS))
CORE_LIB = build/libpredict.a
# The SQLite extension (mk/sqlite.mk), also linked into the gateway (mk/gateway.mk).
SQLITE_SRCS = $(wildcard src/sqlite/*.c)
SQLITE_HDRS = $(wildcard src/sqlite/*.h)
SQLITE_OBJS = $(patsubst src/%.c,build/%.o,$(SQLITE_SRCS))
SQLITE_LOADABLE_OBJS = $(patsubst src/sqlite/%.c,build/sqlite-loadable/%.o,$(SQLITE_SRCS))
PROGRAMS = bin/predict-score

all: $(PROGRAMS)

build/%.o: src/%.c $(CORE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREDICT_CFLAGS) -c -o $@ $<

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# PGXS links the extension's module with the library (SHLIB_LINK).
ifneq ($(shlib),)
$(shlib): $(CORE_LIB)
# PGXS knows nothing of the module's own header.
$(OBJS): $(wildcard src/pg/*.h) $(CORE_HDRS)
endif

build bin:
	mkdir -p $@

bin/predict-score: build/cli/predict_score.o $(CORE_LIB) | bin
	$(CC) $(PREDICT_CFLAGS) -o $@ $^ $(PREDICT_LDLIBS)

# ---------- tests ----------

UNIT_SRCS = $(wildcard test/unit/*.c)
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS = -std=gnu11 -O1 -g -ffp-contract=off -Wall -Wextra -Werror -Isrc/core $(SAN_FLAGS)

build/test-unit: $(UNIT_SRCS) $(CORE_LIB) | build
	$(CC) $(PREDICT_CFLAGS) -o $@ $(UNIT_SRCS) $(CORE_LIB) $(PREDICT_LDLIBS)

# The same core, unit tests and CLI under AddressSanitizer and UBSan.
build/asan/test-unit: $(UNIT_SRCS) $(CORE_SRCS) $(CORE_HDRS)
	mkdir -p build/asan
	clang $(SAN_CFLAGS) -o $@ $(UNIT_SRCS) $(CORE_SRCS) $(PREDICT_LDLIBS)

build/asan/predict-score: src/cli/predict_score.c $(CORE_SRCS) $(CORE_HDRS)
	mkdir -p build/asan
	clang $(SAN_CFLAGS) -o $@ src/cli/predict_score.c $(CORE_SRCS) $(PREDICT_LDLIBS)

FUZZ_TARGETS = $(patsubst test/fuzz/%.c,build/fuzz/%,$(wildcard test/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60

# The targets share the fixtures and the cJSON reader of observations kept
# as the scanner's reference (test/unit/reference_observation.c).
FUZZ_SHARED = test/unit/fixtures.c test/unit/reference_observation.c

build/fuzz/%: test/fuzz/%.c $(FUZZ_SHARED) $(CORE_SRCS) $(CORE_HDRS)
	mkdir -p build/fuzz
	clang -std=gnu11 -O1 -g -ffp-contract=off -Wall -Wextra -Werror -Isrc/core \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ $< $(FUZZ_SHARED) $(CORE_SRCS) $(PREDICT_LDLIBS)

fuzz: $(FUZZ_TARGETS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) test/run-fuzz $(FUZZ_TARGETS)

test-programs: all build/test-unit build/asan/test-unit build/asan/predict-score $(FUZZ_TARGETS)

test:
	@tools/install-deps test
	@$(MAKE) --no-print-directory WERROR=1 test-programs
	@test/run-all

bench:
	@tools/install-deps bench
	@$(MAKE) --no-print-directory all
	bench/run-all

.PHONY: fuzz test test-programs bench

# Each part of the project adds its own programs and test targets here
# (a fragment adds prerequisites to all: and test-programs:).
include $(sort $(wildcard mk/*.mk))

endif
