# merhaba as a container: compile with the official Deno image, run the single
# binary on a minimal base as a non-root user.
#
#   docker build -t merhaba .
#   docker run --rm -p 8080:8080 merhaba
#   docker run --rm -p 8080:8080 merhaba --port 8080 --greeting "Merhaba from $(hostname)"

FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY . .
RUN deno task compile

# glibc and libgcc for the Deno runtime, nothing else; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/dist/merhaba /usr/local/bin/merhaba
USER nonroot:nonroot
EXPOSE 8080
# merhaba drains in-flight connections on SIGTERM, then exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=2s --retries=3 \
  CMD ["/usr/local/bin/merhaba", "--probe", "127.0.0.1:8080", "--timeout", "2"]
ENTRYPOINT ["/usr/local/bin/merhaba"]
CMD ["--port", "8080"]
