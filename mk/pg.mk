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

installcheck-valgrind:
	test/pg/run-valgrind $(VALGRIND_TESTS)

.PHONY: installcheck-valgrind
