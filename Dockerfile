# Arbiter's container image: arbiterd (the server), arbiter (the CLI) and the default bundle.
#
# The build stage installs and builds exactly as CI does (.ci/run -> scripts/install-deps.sh,
# scripts/build.sh); helm/test/run.sh fails when these steps drift from those scripts, so CI proves
# the image's build steps even though no Docker engine runs there.
#
#   docker build -t <registry>/arbiter:0.1.0 .
#   docker run --rm -p 50051:50051 -p 8181:8181 <registry>/arbiter:0.1.0

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build-only
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DARBITER_BUILD_TESTS=OFF -DARBITER_BUILD_BENCH=OFF \
 && cmake --build build --target arbiterd arbiter

FROM debian:bookworm-slim AS runtime
# The runtime halves of the build's -dev packages; nothing is copied by hand.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 liblua5.4-0 libyaml-0-2 libre2-9 \
      libmicrohttpd12 libgnutls30 libtcmalloc-minimal4 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid: the Helm chart's podSecurityContext runs as the same ids.
RUN groupadd --system --gid 10001 arbiter \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin arbiter
COPY --from=build /src/build/service/server/arbiterd /usr/local/bin/arbiterd
COPY --from=build /src/build/clients/cli/arbiter /usr/local/bin/arbiter
COPY --from=build /src/policies /usr/share/arbiter/policies
# Fail the build, not the pod, when a shared library is missing from the runtime packages.
RUN ! ldd /usr/local/bin/arbiterd /usr/local/bin/arbiter | grep -F "not found"
USER 10001:10001
# gRPC (arbiter.v1, grpc.health.v1, reflection) and HTTP (/metrics, /healthz, /readyz, OPA API).
EXPOSE 50051 8181
ENTRYPOINT ["/usr/local/bin/arbiterd"]
# Plaintext for a local try only (every caller "anonymous"); the Helm chart runs it with mutual TLS.
CMD ["--bundle", "/usr/share/arbiter/policies", "--listen", "0.0.0.0:50051", "--http-listen", "0.0.0.0:8181", "--allow-insecure"]
