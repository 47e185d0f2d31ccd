# make run - the README's first command: install the build dependencies if
# any is missing (Debian/Ubuntu: apt-get as root, sudo apt-get otherwise),
# build everything, and run bin/predict-gateway in the foreground on SQLite
# (sqlite:///predictions.db in this directory) with models/titanic.json on
# port 5000 of 127.0.0.1 (tools/run-gateway). Ctrl-C stops it (the requests
# in flight finish first).
#
# make run-postgresql - the same on a throwaway local PostgreSQL with the
# extension installed (tools/run-postgresql): a cluster under /tmp, owned by
# the postgres user when run as root, removed when Ctrl-C stops the gateway.
#
# The gateway's own settings apply: DATABASE_URL (e.g. a postgresql:// URL,
# or another sqlite:/// file), PORT, HOST, PREDICT_MODEL, ...
# (bin/predict-gateway --help), as in `PORT=8000 make run`.

run:
	@tools/install-deps build
	@$(MAKE) --no-print-directory all
	@exec tools/run-gateway

run-postgresql:
	@tools/install-deps build
	@$(MAKE) --no-print-directory all temp-install
	@exec tools/run-postgresql

.PHONY: run run-postgresql
