# make run - the README's first command: install the build dependencies if
# any is missing (Debian/Ubuntu: apt-get as root, sudo apt-get otherwise),
# build everything, and run bin/predict-gateway in the foreground on SQLite
# (sqlite:///predictions.db in this directory) with models/titanic.json on
# port 5000. Once it answers /readyz, print its URL and the tutorial's curl
# commands (a watcher detached from the gateway, which runs as the recipe's
# shell: `exec`, so that Ctrl-C reaches it directly). Ctrl-C stops it (the
# requests in flight finish first).
#
# The gateway's own settings apply: DATABASE_URL (e.g. a postgresql:// URL,
# or another sqlite:/// file), PORT, PREDICT_MODEL, ... (bin/predict-gateway
# --help), as in `PORT=8000 make run`. One default differs: a development
# command listens on 127.0.0.1 only, as the tutorial's Flask development
# server does (HOST=0.0.0.0 make run to expose it); the gateway itself, as
# deployed (Procfile, Dockerfile), listens on every interface.

# The tutorial's examples (docs/http-api.md, "Quick start"); PORT replaces 5000.
define RUN_EXAMPLES
curl -X POST http://localhost:5000/predict -d '{"id": 0, "observation": {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, "Cabin": null, "Embarked": "S"}}'
curl -X POST http://localhost:5000/update -d '{"id": 0, "true_class": 1}'
curl http://localhost:5000/list-db-contents
endef
export RUN_EXAMPLES

run: SHELL := /bin/bash
run:
	@tools/install-deps build
	@$(MAKE) --no-print-directory all
	@port=$${PORT:-5000}; db=$${DATABASE_URL:-sqlite:///predictions.db}; host=$${HOST:-127.0.0.1}; \
	echo "Starting bin/predict-gateway on $$db, port $$port of $$host (Ctrl-C stops it)"; \
	( ( for i in $$(seq 1 600); do \
	    kill -0 $$$$ 2>/dev/null || exit 0; \
	    if (printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && grep -q '"ready"' <&3) \
	         2>/dev/null 3<>"/dev/tcp/127.0.0.1/$$port"; then \
	      echo; echo "predict-gateway is ready at http://localhost:$$port/ - try, in another terminal:"; \
	      echo; echo "$$RUN_EXAMPLES" | sed "s|localhost:5000/|localhost:$$port/|; s/^/  /"; echo; \
	      exit 0; \
	    fi; \
	    sleep 0.1; \
	  done ) & ) ; \
	DATABASE_URL=$$db PORT=$$port HOST=$$host exec bin/predict-gateway

.PHONY: run
