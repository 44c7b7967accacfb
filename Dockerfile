# syntax=docker/dockerfile:1
#
# Rescind in a small image that runs as non-root.
#   docker build -t rescind .
#   docker run -p 8443:8443 -v rescind-data:/var/lib/rescind rescind
# Production: set RESCIND_DATABASE__URL (or DATABASE_URL) to PostgreSQL and
# either mount a certificate (RESCIND_TLS__MODE=files, RESCIND_TLS__CERT,
# RESCIND_TLS__KEY) or terminate TLS at the load balancer (RESCIND_TLS__MODE=proxy).
# The admin API and /metrics listen on RESCIND_ADMIN__LISTEN (e.g.
# 0.0.0.0:9443) once RESCIND_ADMIN__TOKEN_HASH is set; publish that port to
# operators and Prometheus only. deploy/ has a compose file and Kubernetes
# manifests built on this image.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so that editing src/ does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY build.rs build.rs
COPY src src
COPY migrations migrations
COPY config config
# No .git in the build context: pass the commit for rescind_build_info with
# --build-arg SOURCE_COMMIT=$(git rev-parse --short HEAD); else "unknown".
ARG SOURCE_COMMIT=""
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && strip target/release/rescind \
    && mkdir -p /out/data

# distroless/cc: glibc and libgcc only (rustls uses ring, SQLite is bundled),
# no shell, no package manager; "nonroot" is uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/rescind /usr/local/bin/rescind
COPY --from=build --chown=65532:65532 /out/data /var/lib/rescind
COPY config/rescind.example.toml /etc/rescind/rescind.example.toml
ENV RESCIND_DATA_DIR=/var/lib/rescind \
    RESCIND_SERVER__LISTEN=0.0.0.0:8443 \
    RESCIND_LOG__FORMAT=json
VOLUME ["/var/lib/rescind"]
# 8443: the public endpoints; 9443: the admin listener, when configured.
EXPOSE 8443 9443
USER 65532:65532
STOPSIGNAL SIGTERM
# No shell or curl in the image: the binary asks its own /health/ready with
# the container's configuration (its TLS, or plain HTTP in proxy mode).
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/rescind", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/rescind"]
CMD ["serve"]
