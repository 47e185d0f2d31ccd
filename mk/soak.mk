# The soak (issue 7, "Load"): the gateway at 80% of its saturation rate on
# every backend, with resident memory, open descriptors, latency, errors and
# rows checked (test/soak/soak.py says how).
#
#   make soak                   SOAK_DURATION seconds per backend (default 300),
#                               after SOAK_DURATION / 5 of saturation run
#   make soak SOAK_DURATION=60 SOAK_BACKENDS=sqlite
#
# test/suites/55-soak runs 8 s of saturation and 20 s of soak in `make test`.

SOAK_DURATION ?= 300
SOAK_BACKENDS ?= postgresql,managed,sqlite

build/soak/loadgen: test/soak/loadgen.c
	mkdir -p build/soak
	$(CC) $(PREDICT_CFLAGS) -o $@ $<

test-programs: build/soak/loadgen

soak:
	@tools/install-deps test
	@$(MAKE) --no-print-directory all build/soak/loadgen
	@SOAK_DURATION=$(SOAK_DURATION) SOAK_BACKENDS=$(SOAK_BACKENDS) $(or $(PYTHON),/usr/bin/python3) test/soak/soak.py

.PHONY: soak
