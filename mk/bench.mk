# Programs the benchmarks build for themselves, not part of `all`.
#
# build/bench/latency-proxy (bench/latency-proxy.c): the 1 ms link between the
# clients and PostgreSQL of bench/http.sh's postgresql-link backend.

build/bench/latency-proxy: bench/latency-proxy.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Wmissing-prototypes -Wdeclaration-after-statement \
		-Werror -o $@ $<

# build/bench/explain-rate (bench/explain-rate.c): the core's rows per second,
# scoring against explaining, with nothing printed (bench/explain.sh).
build/bench/explain-rate: bench/explain-rate.c $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(PREDICT_CFLAGS) -Werror -o $@ $< $(CORE_LIB) $(PREDICT_LDLIBS)
