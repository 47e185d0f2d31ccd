# The gateway for Heroku's container stack (heroku.yml), or any container
# runtime: built from source on Debian slim, run as an unprivileged user.
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends make gcc libc6-dev libpq-dev \
      libcjson-dev libmicrohttpd-dev libsqlite3-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY mk mk
COPY src src
COPY gateway gateway
COPY sql sql
RUN make WERROR=1 bin/predict-gateway

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libcjson1 libmicrohttpd12 \
      libsqlite3-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app predict
WORKDIR /app
COPY --from=build /src/bin/predict-gateway bin/predict-gateway
# every model committed under models/: heroku run bin/predict-gateway deploy models/...
COPY models models
USER predict
ENV PORT=5000
EXPOSE 5000
# Heroku sends SIGTERM and waits 30 s: the gateway drains in at most 10 s.
CMD ["bin/predict-gateway"]
