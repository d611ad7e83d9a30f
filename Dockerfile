# merhaba as a container: main.ts run by Deno on a distroless base, as a
# non-root user, with its dependencies cached at build time.
#
#   docker build -t merhaba .
#   docker run --rm -p 8080:8080 merhaba
#   docker run --rm -p 9000:9000 -e PORT=9000 merhaba --greeting "Merhaba from a box"
#
# Why `deno run` and not the `deno compile` binary: `deno compile` downloads
# its base runtime (denort) at build time, which some build machines cannot
# reach (this project's CI among them), while this image builds from the
# official Deno images and npm alone, so CI builds and runs exactly what
# users build (`deno task container`). The permission flags are the binary's
# (tools/compile.ts); the binaries for download are still made by
# `deno task compile:all`.
#
# Base images are build arguments, so a build can pin them by digest
# (--build-arg DENO_IMAGE=denoland/deno:2.9.6@sha256:…) or use local copies;
# the tags below name one Deno release, not a moving tag like :latest.
ARG DENO_IMAGE=denoland/deno:2.9.6
ARG RUNTIME_IMAGE=denoland/deno:distroless-2.9.6

FROM ${DENO_IMAGE} AS build
# For builds behind a proxy or with an npm mirror: a CA bundle for Deno, and
# the registry to fetch npm packages from. Unset, Deno's defaults apply
# (podman then warns that they are missing: harmless, see docs/deploy.md).
ARG DENO_CERT
ARG NPM_CONFIG_REGISTRY
ENV DENO_DIR=/deno-dir
WORKDIR /app
COPY deno.json deno.lock main.ts server.ts ./
COPY lib lib
COPY cli cli
# Only what the server imports (LogTape), not the test-only packages.
RUN deno cache --lock=deno.lock --frozen main.ts cli/worker_entry.ts

FROM ${RUNTIME_IMAGE}
ENV DENO_DIR=/deno-dir \
    DENO_NO_UPDATE_CHECK=1 \
    PORT=8080
COPY --from=build /deno-dir /deno-dir
COPY --from=build /app /app
USER 65532:65532
EXPOSE 8080
# merhaba drains in-flight connections on SIGTERM, then exits 0.
STOPSIGNAL SIGTERM
# `--probe` with no target probes what PORT (and the same flags) would serve.
# Flags given to `docker run` do not reach the health check: configure the
# port with PORT, or override the health check along with the flags. With
# several --listen, keep a TCP one on PORT (--listen :8080 --listen
# udp://:8053) and this check holds; a UDP-only server needs its own check
# (docs/deploy.md). A udp:// probe needs Deno's unstable net API: /app's
# deno.json turns it on for every `deno run` of /app/main.ts.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/bin/deno", "run", "--cached-only", "--lock=/app/deno.lock", "--frozen", "--no-code-cache", "--allow-net", "--allow-env=PORT", "/app/main.ts", "--probe", "--timeout", "2"]
ENTRYPOINT ["/bin/deno", "run", "--cached-only", "--lock=/app/deno.lock", "--frozen", "--no-code-cache", "--allow-net", "--allow-read", "--allow-write", "--allow-env=PORT,MERHABA_TLS_ROUTE", "--allow-sys=hostname,networkInterfaces", "--unstable-net", "--v8-flags=--max-semi-space-size=2,--max-old-space-size=128", "/app/main.ts"]
