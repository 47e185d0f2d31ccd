# mk/pg.mk - the PostgreSQL extension's extra targets (included by the Makefile).
#
#   make installcheck                     pg_regress (sql/, expected/) against the
#                                         server of PGHOST/PGPORT (PGXS's target)
#   make installcheck-valgrind [VALGRIND_TESTS="errors drop"]
#                                         the same tests against a throwaway server
#                                         run under valgrind (after make install;
#                                         about 30x slower; default: every test)
#
# test/suites/40-pg builds, installs, starts a throwaway cluster and runs all
# of it (pg_regress, test/pg/*.py, valgrind on five of the regression tests).

VALGRIND_TESTS ?=

# The install script of 1.5 and the upgrade from 1.4, put together from the
# parts in src/pg/sql/ (each part is whole statements; registry.sql and
# report.sql are managed mode's too). The order is the order of creation.
# 1.5 adds the log's explanations: the upgrade changes the tables
# (extension--1.4--1.5.sql) and creates the functions again; 1.0 to 1.3
# reach 1.4 through the scripts as they shipped.
EXTENSION_1_5 = $(addprefix src/pg/sql/,extension-header.sql extension-schema.sql tables.sql) \
	build/sql/registry-errors.sql $(addprefix src/pg/sql/,registry.sql extension.sql untyped.sql \
	explain.sql report.sql registry-checks.sql extension-backup.sql extension-grants.sql)
EXTENSION_1_4_1_5 = $(addprefix src/pg/sql/,extension-header.sql extension--1.4--1.5.sql) \
	build/sql/registry-errors.sql $(addprefix src/pg/sql/,registry.sql extension.sql report.sql \
	extension-grants.sql)

build/sql:
	mkdir -p $@

# PostgreSQL's registry_error, written from the core's table of the
# registry's errors (src/core/registry_errors.c), for both modes.
build/gen/registry_errors_sql: src/pg/gen/registry_errors_sql.c src/core/registry_errors.c \
		src/core/registry_errors.h src/core/predict.h
	mkdir -p build/gen
	$(CC) $(PREDICT_CFLAGS) -Isrc/core -o $@ src/pg/gen/registry_errors_sql.c src/core/registry_errors.c

build/sql/registry-errors.sql: build/gen/registry_errors_sql | build/sql
	build/gen/registry_errors_sql > $@

build/sql/predict--1.5.sql: $(EXTENSION_1_5) | build/sql
	{ echo '/* predict--1.5.sql: the predict extension, version 1.5 (made by mk/pg.mk from src/pg/sql/) */'; \
	  cat $(EXTENSION_1_5); } > $@

build/sql/predict--1.4--1.5.sql: $(EXTENSION_1_4_1_5) | build/sql
	{ echo '/* predict--1.4--1.5.sql: upgrade from 1.4 to 1.5 (made by mk/pg.mk from src/pg/sql/) */'; \
	  cat $(EXTENSION_1_4_1_5); } > $@

installcheck-valgrind:
	test/pg/run-valgrind $(VALGRIND_TESTS)

.PHONY: installcheck-valgrind

# The tests' PostgreSQL: a private copy of the server under build/tmp_install
# with the extension installed into it (test/pg-temp-install). test/pg-cluster
# and test/processes.py start clusters from it when it exists: no sudo, no
# write outside the tree, and two checkouts do not test each other's build.
temp-install: all
	@test/pg-temp-install build/tmp_install >/dev/null

.PHONY: temp-install
