# The HTTP gateway (issue 4): bin/predict-gateway, its ASan/UBSan build, and
# the HTTP test suite's programs. Included by the top Makefile.
#
# gateway/*.c is HTTP -> SQL only: it includes no file of src/ and links no
# scoring code (scoring happens inside the database).

GATEWAY_SRCS = $(wildcard gateway/*.c)
GATEWAY_HDRS = $(wildcard gateway/*.h)
GATEWAY_OBJS = $(patsubst gateway/%.c,build/gateway/%.o,$(GATEWAY_SRCS))
GATEWAY_CPPFLAGS = -I$(shell $(PG_CONFIG) --includedir 2>/dev/null || echo /usr/include/postgresql)
GATEWAY_LDLIBS = -lmicrohttpd -lpq -lcjson -lpthread

all: bin/predict-gateway

build/gateway:
	mkdir -p $@

build/gateway/%.o: gateway/%.c $(GATEWAY_HDRS) | build/gateway
	$(CC) $(PREDICT_CFLAGS) $(GATEWAY_CPPFLAGS) -c -o $@ $<

bin/predict-gateway: $(GATEWAY_OBJS) | bin
	$(CC) $(PREDICT_CFLAGS) -o $@ $(GATEWAY_OBJS) $(GATEWAY_LDLIBS)

# The same gateway under AddressSanitizer and UBSan (test/http runs it with
# PREDICT_GATEWAY=build/asan/predict-gateway).
build/asan/predict-gateway: $(GATEWAY_SRCS) $(GATEWAY_HDRS)
	mkdir -p build/asan
	clang $(SAN_CFLAGS) $(GATEWAY_CPPFLAGS) -o $@ $(GATEWAY_SRCS) $(GATEWAY_LDLIBS)

test-programs: bin/predict-gateway build/asan/predict-gateway

.PHONY: gateway
gateway: bin/predict-gateway
