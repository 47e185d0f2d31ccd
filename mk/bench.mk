# Programs the benchmarks build for themselves, not part of `all`.
#
# build/bench/latency-proxy (bench/latency-proxy.c): the 1 ms link between the
# clients and PostgreSQL of bench/http.sh's postgresql-link backend.

build/bench/latency-proxy: bench/latency-proxy.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Wmissing-prototypes -Wdeclaration-after-statement \
		-Werror -pthread -o $@ $<
