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
# of it (pg_regress, test/pg/*.py, valgrind on four of the regression tests).

VALGRIND_TESTS ?=

# The install script of 1.2 and the upgrade from 1.1, put together from the
# parts in src/pg/sql/ (each part is whole statements; report.sql is managed
# mode's too). The order is the order of creation. The upgrade replaces the
# report functions (report.sql is CREATE OR REPLACE throughout); 1.0 reaches
# 1.2 through 1.1's upgrade script as it shipped.
EXTENSION_1_2 = $(addprefix src/pg/sql/,extension-header.sql extension-schema.sql tables.sql \
	extension.sql untyped.sql report.sql extension-backup.sql extension-grants.sql)
EXTENSION_1_1_1_2 = $(addprefix src/pg/sql/,extension-header.sql extension--1.1--1.2.sql report.sql)

build/sql:
	mkdir -p $@

build/sql/predict--1.2.sql: $(EXTENSION_1_2) | build/sql
	{ echo '/* predict--1.2.sql: the predict extension, version 1.2 (made by mk/pg.mk from src/pg/sql/) */'; \
	  cat $(EXTENSION_1_2); } > $@

build/sql/predict--1.1--1.2.sql: $(EXTENSION_1_1_1_2) | build/sql
	{ echo '/* predict--1.1--1.2.sql: upgrade from 1.1 to 1.2 (made by mk/pg.mk from src/pg/sql/) */'; \
	  cat $(EXTENSION_1_1_1_2); } > $@

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
