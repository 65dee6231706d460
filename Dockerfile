# syntax=docker/dockerfile:1.7
# tollgate's container images, from this repository (docs/install/kubernetes.md#images):
#
#   docker build --target slim  -t tollgate:slim  .   # no libtorch: gates take declared predictions
#   docker build --target torch -t tollgate:torch .   # libtorch 2.13.0 for CPU and CUDA
#
# Both run as the distroless `nonroot` user (65532), need no writable root filesystem (state goes
# to the volumes the Helm chart mounts), have no HEALTHCHECK (the chart's probes call /healthz
# and /readyz) and start tollgate directly, without a shell. They carry the `git` program, which
# clones, fetches and pushes promotions (docs/git.md). The binary is built by
# scripts/build-release, the same script the test `deploy_tests::image` runs.

# ---- build: the binary, as scripts/build-release builds it ------------------------------------
FROM docker.io/library/rust:1.95-slim-bookworm AS build-base
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ENV TOLLGATE_CACHE=/cache CARGO_TARGET_DIR=/cache/target

FROM build-base AS build-slim
RUN --mount=type=cache,target=/cache --mount=type=cache,target=/usr/local/cargo/registry \
    scripts/build-release /out

FROM build-base AS build-torch
# scripts/torch-env installs PyTorch 2.13.0 (its libtorch, and the CUDA libraries of its
# nvidia-* wheels) into a venv under /cache; scripts/build-release copies those libraries out.
RUN --mount=type=cache,target=/cache --mount=type=cache,target=/usr/local/cargo/registry \
    scripts/build-release --torch /out

# ---- git and what it loads, for the distroless runtime ------------------------------------------
FROM docker.io/library/debian:12.12-slim AS git
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/image-git-runtime /usr/local/bin/image-git-runtime
RUN image-git-runtime /rootfs

# ---- runtime images ------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS slim
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tollgate" \
      org.opencontainers.image.description="GitOps policy and compliance control plane for ML releases (without libtorch)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/tollgate" \
      org.opencontainers.image.documentation="https://example.invalid/tollgate/docs/install/kubernetes.md" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=git /rootfs/ /
COPY --from=build-slim /out/usr/local/bin/tollgate /usr/local/bin/tollgate
ENV HOME=/var/cache/tollgate/home TOLLGATE_CACHE=/var/cache/tollgate TOLLGATE_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/tollgate"]
CMD ["serve"]

FROM gcr.io/distroless/cc-debian12:nonroot AS torch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tollgate-torch" \
      org.opencontainers.image.description="GitOps policy and compliance control plane for ML releases (with libtorch 2.13.0 for CPU and CUDA)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/tollgate" \
      org.opencontainers.image.documentation="https://example.invalid/tollgate/docs/install/kubernetes.md" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=git /rootfs/ /
COPY --from=build-torch /out/usr/lib/tollgate/ /usr/lib/tollgate/
COPY --from=build-torch /out/usr/local/bin/tollgate /usr/local/bin/tollgate
ENV HOME=/var/cache/tollgate/home TOLLGATE_CACHE=/var/cache/tollgate TOLLGATE_LOG_FORMAT=json \
    LD_LIBRARY_PATH=/usr/lib/tollgate/torch/lib
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/tollgate"]
CMD ["serve"]
