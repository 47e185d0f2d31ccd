# The HTTP gateway (issue 4): bin/predict-gateway, its ASan/UBSan build, and
# the HTTP test suite's programs. Included by the top Makefile.
#
# gateway/*.c translates HTTP to SQL. It links the scoring core for two
# things only: compiling models to SQL for managed PostgreSQL (managed mode,
# where the extension cannot be installed), and registering the SQLite
# functions on its own SQLite connections (the embedded default).

GATEWAY_SRCS = $(wildcard gateway/*.c)
GATEWAY_HDRS = $(wildcard gateway/*.h)
GATEWAY_OBJS = $(patsubst gateway/%.c,build/gateway/%.o,$(GATEWAY_SRCS))
GATEWAY_CPPFLAGS = -I$(shell $(PG_CONFIG) --includedir 2>/dev/null || echo /usr/include/postgresql)
GATEWAY_LDLIBS = -lmicrohttpd -lpq -lsqlite3 -lcjson -lm -lpthread
# The core and the SQLite extension, linked into the gateway.
GATEWAY_CORE_SRCS = $(CORE_SRCS) $(SQLITE_SRCS)
GATEWAY_CORE_OBJS = $(SQLITE_OBJS) $(CORE_LIB)

all: bin/predict-gateway

build/gateway:
	mkdir -p $@

build/gateway/%.o: gateway/%.c $(GATEWAY_HDRS) $(CORE_HDRS) $(SQLITE_HDRS) build/gateway/managed_sql.h | build/gateway
	$(CC) $(PREDICT_CFLAGS) $(GATEWAY_CPPFLAGS) -Isrc/sqlite -Ibuild/gateway -c -o $@ $<

# Managed mode's schema, put together as the extension's scripts are
# (mk/pg.mk): a new schema, and the migrations from 1.0 and 1.1; the tables, the
# registry and the reports are the extension's own parts (src/pg/sql/).
MANAGED_NEW = src/managed/sql/managed-schema.sql src/pg/sql/tables.sql src/managed/sql/managed.sql \
	build/sql/registry-errors.sql src/pg/sql/registry.sql src/pg/sql/registry-checks.sql src/pg/sql/untyped.sql \
	src/managed/sql/managed-constraints.sql src/pg/sql/report.sql
MANAGED_1_0_1_1 = src/managed/sql/managed-schema.sql src/managed/sql/managed--1.0--1.1.sql \
	src/managed/sql/managed--1.8--1.9.sql src/managed/sql/managed.sql build/sql/registry-errors.sql src/pg/sql/registry.sql \
	src/managed/sql/managed--1.3--1.4.sql src/pg/sql/registry-checks.sql src/pg/sql/untyped.sql src/pg/sql/report.sql
# From 1.1 (every later change to the tables is an idempotent migration
# step: 1.4's, 1.9's): the functions again.
MANAGED_1_1 = src/managed/sql/managed-schema.sql src/managed/sql/managed--1.8--1.9.sql \
	src/managed/sql/managed.sql build/sql/registry-errors.sql \
	src/pg/sql/registry.sql src/managed/sql/managed--1.3--1.4.sql src/pg/sql/registry-checks.sql \
	src/pg/sql/untyped.sql src/pg/sql/report.sql

build/gateway/managed.sql: $(MANAGED_NEW) | build/gateway
	cat $(MANAGED_NEW) > $@

build/gateway/managed--1.0--1.1.sql: $(MANAGED_1_0_1_1) | build/gateway
	cat $(MANAGED_1_0_1_1) > $@

build/gateway/managed--1.1.sql: $(MANAGED_1_1) | build/gateway
	cat $(MANAGED_1_1) > $@

# The managed scripts as C strings, so that the binary carries them.
build/gateway/managed_sql.h: build/gateway/managed.sql build/gateway/managed--1.0--1.1.sql build/gateway/managed--1.1.sql
	{ echo '/* generated from build/gateway/managed*.sql by mk/gateway.mk */'; \
	  echo 'static const char managed_sql[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' build/gateway/managed.sql; \
	  echo ';'; \
	  echo 'static const char managed_upgrade_1_0_sql[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' build/gateway/managed--1.0--1.1.sql; \
	  echo ';'; \
	  echo 'static const char managed_upgrade_1_1_sql[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' build/gateway/managed--1.1.sql; \
	  echo ';'; } > $@

bin/predict-gateway: $(GATEWAY_OBJS) $(GATEWAY_CORE_OBJS) | bin
	$(CC) $(PREDICT_CFLAGS) -o $@ $(GATEWAY_OBJS) $(GATEWAY_CORE_OBJS) $(GATEWAY_LDLIBS)

# The same gateway under AddressSanitizer and UBSan (test/http runs it with
# PREDICT_GATEWAY=build/asan/predict-gateway).
build/asan/predict-gateway: $(GATEWAY_SRCS) $(GATEWAY_HDRS) $(GATEWAY_CORE_SRCS) $(CORE_HDRS) $(SQLITE_HDRS) build/gateway/managed_sql.h
	mkdir -p build/asan
	clang $(SAN_CFLAGS) $(GATEWAY_CPPFLAGS) -Isrc/sqlite -Ibuild/gateway -o $@ $(GATEWAY_SRCS) $(GATEWAY_CORE_SRCS) $(GATEWAY_LDLIBS)

test-programs: bin/predict-gateway build/asan/predict-gateway

.PHONY: gateway
gateway: bin/predict-gateway

# The request parser's libFuzzer target (test/fuzz/fuzz_request.c): built
# with the gateway's body parser (gateway/body.c, strbuf.c) and the core's
# JSON helpers (src/core/util.c, with the number formatting of
# src/core/shortest.c) instead of the whole core.
build/fuzz/fuzz_request: test/fuzz/fuzz_request.c gateway/body.c gateway/strbuf.c gateway/body.h gateway/strbuf.h \
		src/core/util.c src/core/shortest.c $(CORE_HDRS)
	mkdir -p build/fuzz
	clang -std=gnu11 -O1 -g -Wall -Wextra -Werror -Igateway -Isrc/core \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ $< gateway/body.c gateway/strbuf.c src/core/util.c src/core/shortest.c -lcjson -lm
