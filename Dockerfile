# kasa2mqtt container image: a static binary on distroless.
#
#   docker build -t kasa2mqtt --build-arg VERSION=1.0.0 .
#   docker run -d -v kasa2mqtt:/data kasa2mqtt
#
# Everything lives in the /data volume: the configuration at
# /data/config.yaml and the state in /data/state (the default state_dir is
# "state" next to the config file). See docs/deployment.md, "Docker".

# ---- build -------------------------------------------------------------------
FROM golang:1.26 AS build
ARG VERSION=dev
ARG COMMIT=
WORKDIR /src
# Dependencies first, so that code changes do not re-download them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/kasa2mqtt/kasa2mqtt/internal/version.Version=${VERSION} -X github.com/kasa2mqtt/kasa2mqtt/internal/version.Commit=${COMMIT}" \
      -o /out/kasa2mqtt ./cmd/kasa2mqtt \
 && mkdir -p /out/data/state

# ---- run -----------------------------------------------------------------------
# distroless/static: CA certificates and time zone data, no shell, no
# package manager. The nonroot variant runs as uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kasa2mqtt /kasa2mqtt
# An empty /data owned by nonroot, so a new named volume starts writable.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME ["/data"]
# Only used when the embedded broker is enabled and set to listen on
# 0.0.0.0:1883 (mqtt.embedded.listen).
EXPOSE 1883
# The operations endpoint (/healthz, /readyz, /metrics) inside the
# container; publish the port (-p 127.0.0.1:9792:9792) only if Prometheus
# should scrape it from outside. Every config key can be set this way
# (KASA2MQTT_<SECTION>_<KEY>, see config.example.yaml).
ENV KASA2MQTT_HTTP_LISTEN=0.0.0.0:9792
EXPOSE 9792
USER nonroot:nonroot
# The image has no shell or curl: the binary checks its own /healthz.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/kasa2mqtt", "health"]
ENTRYPOINT ["/kasa2mqtt"]
CMD ["run", "-c", "/data/config.yaml"]
