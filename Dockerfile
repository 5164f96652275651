# nomnom's image: one binary (bun build --compile, which needs no download beyond npm) and the example
# entities, on distroless (glibc, CA certificates, nothing else), as a non-root user.
#   docker build -t nomnom .
#   docker run --rm -e NATS_URL=... -e DATABASE_URL=... -p 8080:8080 nomnom --role=api
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci's postinstall applies these to node_modules (patch-package): postgres.js's closed-socket crash fix.
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
# Identifiers are not minified: libraries name errors after their class (postgres.js: this.constructor.name), and
# minified, the logs said "name":"Ya". Whitespace and syntax minification keep the size (about 240 KB more).
RUN ./node_modules/.bin/bun build --compile --minify-whitespace --minify-syntax build/bun_main.ts src/embedded/postgres_thread.ts --outfile /nomnom

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /nomnom /nomnom
COPY entities /entities
ENV NOMNOM_ENTITIES=/entities \
    HOST=0.0.0.0 \
    PORT=8080 \
    NOMNOM_OPS_PORT=9090
# Bun's garbage collector sizes its heap to the RAM it believes the machine has (the node's, not the container's
# limit). Telling it 384 MiB makes it collect sooner: peak RSS of the API under 16 concurrent NDJSON batches of
# 1,000 orders went 549 → 336 MB with no loss of throughput (bench/README in docs/performance.md). Raise it
# with the container's memory limit. Bun's maintainers give this as its --max-old-space-size (oven-sh/bun#6548).
ENV BUN_JSC_forceRAMSize=402653184
USER nonroot
# The demo's default --data-dir (./.nomnom) must be writable by that user: its home, which it owns.
WORKDIR /home/nonroot
EXPOSE 8080 9090
# The binary probes itself: distroless has no curl. Without a role it asks PORT, then the ops port, so this one
# line fits a container of any role.
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 CMD ["/nomnom", "healthcheck"]
ENTRYPOINT ["/nomnom"]
CMD ["--role=all"]
