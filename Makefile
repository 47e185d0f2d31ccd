# predict: scikit-learn binary classifiers scored in C inside PostgreSQL.
#
#   make            build the extension (PGXS), bin/predict-score and the rest
#   make install    install the PostgreSQL extension
#   make run        build and start the gateway on SQLite (port 5000)
#   make test       install missing packages, build, run every test suite
#   make fuzz       run the libFuzzer targets (FUZZ_SECONDS each, default 60)
#   make bench      run the benchmarks under bench/
#   make soak       the gateway at 80% of its saturation rate, SOAK_DURATION s per backend (mk/soak.mk)
#
# The scoring core (src/model.c, score.c, observation.c, util.c) is plain C
# and is compiled into every host: the PostgreSQL module by PGXS, and the
# other programs with the rules below.

EXTENSION = predict
MODULE_big = predict
CORE_SRCS = src/model.c src/score.c src/observation.c src/util.c src/sql_codegen.c
PG_SRCS = $(wildcard src/pg_predict.c)
OBJS = $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)
# sql/predict--1.0.sql is 1.0's install script as it shipped; 1.1's install
# and upgrade scripts are put together from sql/schema/ (mk/pg.mk).
DATA = sql/predict--1.0.sql
DATA_built = build/sql/predict--1.1.sql build/sql/predict--1.0--1.1.sql
SHLIB_LINK = -lcjson -lm
PG_CPPFLAGS = -Isrc
# -ffp-contract=off: a fused multiply-add would round differently from
# scikit-learn; warnings are errors when WERROR is set (make test sets it).
PG_CFLAGS = -ffp-contract=off -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers $(if $(WERROR),-Werror)
# sql/*.sql are the regression tests, but for the 1.0 install script.
REGRESS = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/predict--%,$(wildcard sql/*.sql))))
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
	-Wmissing-prototypes -Wdeclaration-after-statement $(if $(WERROR),-Werror) -Isrc $(EXTRA_CFLAGS)
PREDICT_LDLIBS = -lcjson -lm

CORE_OBJS = $(patsubst src/%.c,build/%.o,$(CORE_SRCS))
PROGRAMS = bin/predict-score

all: $(PROGRAMS)

build/%.o: src/%.c src/*.h | build
	$(CC) $(PREDICT_CFLAGS) -c -o $@ $<

build bin:
	mkdir -p $@

bin/predict-score: build/predict_score.o $(CORE_OBJS) | bin
	$(CC) $(PREDICT_CFLAGS) -o $@ $^ $(PREDICT_LDLIBS)

# ---------- tests ----------

UNIT_SRCS = $(wildcard test/unit/*.c)
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS = -std=gnu11 -O1 -g -ffp-contract=off -Wall -Wextra -Werror -Isrc $(SAN_FLAGS)

build/test-unit: $(UNIT_SRCS) $(CORE_OBJS) | build
	$(CC) $(PREDICT_CFLAGS) -o $@ $(UNIT_SRCS) $(CORE_OBJS) $(PREDICT_LDLIBS)

# The same core, unit tests and CLI under AddressSanitizer and UBSan.
build/asan/test-unit: $(UNIT_SRCS) $(CORE_SRCS) src/*.h
	mkdir -p build/asan
	clang $(SAN_CFLAGS) -o $@ $(UNIT_SRCS) $(CORE_SRCS) $(PREDICT_LDLIBS)

build/asan/predict-score: src/predict_score.c $(CORE_SRCS) src/*.h
	mkdir -p build/asan
	clang $(SAN_CFLAGS) -o $@ src/predict_score.c $(CORE_SRCS) $(PREDICT_LDLIBS)

FUZZ_TARGETS = $(patsubst test/fuzz/%.c,build/fuzz/%,$(wildcard test/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60

build/fuzz/%: test/fuzz/%.c test/unit/fixtures.c $(CORE_SRCS) src/*.h
	mkdir -p build/fuzz
	clang -std=gnu11 -O1 -g -ffp-contract=off -Wall -Wextra -Werror -Isrc \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ $< test/unit/fixtures.c $(CORE_SRCS) $(PREDICT_LDLIBS)

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
