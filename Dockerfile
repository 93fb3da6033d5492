# syntax=docker/dockerfile:1.7
#
# Quire's container image. Targets:
#   runtime (default)  quire on a slim Debian with Poppler and MuPDF (PDF text engines)
#   full               runtime + tesseract-ocr and libreoffice-calc (scanned statements,
#                      spreadsheet conversion)
# Build: docker build -t quire:0.1.0 .            (or --target full -t quire:0.1.0-full)
# Run:   docker run -p 8000:8000 quire:0.1.0      (`quire serve`; `worker`/`migrate` as args)
#
# No container daemon runs on the project's machines, so this file is checked without
# being built: tests/api/deploy.rs parses it (pinned images, settings, user, probe path)
# and deploy/runtime-stage.sh runs the runtime stage's steps (user, paths, command,
# healthcheck) against a binary built with the builder's own cargo command. README.md,
# "Production", says what is verified and how.

ARG RUST_IMAGE=rust:1.90.0-slim-bookworm
ARG RUNTIME_IMAGE=debian:12.12-slim

# --- planner: the dependency recipe, which changes only when manifests change ---------
FROM ${RUST_IMAGE} AS chef
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config \
 && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.71
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- builder: dependencies in their own cached layer, then Quire's sources ------------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin quire
COPY . .
RUN cargo build --release --locked --bin quire
RUN install -m 0755 target/release/quire /usr/local/bin/quire

# --- runtime: what runs in production -------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ARG QUIRE_VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="Quire" \
      org.opencontainers.image.description="Self-hosted document intelligence: ingest bundles, manage LLM workspaces, run scored question sets." \
      org.opencontainers.image.version="${QUIRE_VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:12.12-slim"
# poppler-utils (pdftotext) and mupdf-tools (mutool): PDF_TEXT_ENGINE=auto takes mutool
# when it is on PATH. curl: the HEALTHCHECK below. ca-certificates: HTTPS to S3 and LLMs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl poppler-utils mupdf-tools \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 quire \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/quire --shell /usr/sbin/nologin quire \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/quire
COPY --from=builder /usr/local/bin/quire /usr/local/bin/quire
ENV HOST=0.0.0.0 \
    PORT=8000 \
    QUIRE_DATA_DIR=/var/lib/quire \
    LOG_FORMAT=json
WORKDIR /var/lib/quire
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD curl -fsS "http://127.0.0.1:${PORT}/api/v1/health" || exit 1
ENTRYPOINT ["/usr/local/bin/quire"]
CMD ["serve"]

# --- full: OCR and spreadsheet conversion for the Statements and Consolidation work ----
FROM runtime AS full
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng libreoffice-calc \
 && rm -rf /var/lib/apt/lists/*
USER 10001:10001

# The default target (the last stage) is the slim runtime.
FROM runtime
