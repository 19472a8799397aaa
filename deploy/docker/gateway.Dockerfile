# TapMask gateway (HTTP API + the web frontend). Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile .
# The web app's mask preview runs the tracker's click segmentation in the gateway (the
# `preview` extra: onnxruntime, OpenCV) on the same pinned, sha256-verified models as the
# tracker image, fetched at build time into /opt/tapmask/models (TAPMASK_MODELS_DIR).
# Mirrors: --build-arg NPM_REGISTRY=<url> --build-arg PYPI_INDEX=<url>.
FROM python:3.11-slim AS models
ARG NPM_REGISTRY=""
ARG PYPI_INDEX=""
COPY libs/processing/src/tapmask_processing/models.py /tmp/models.py
RUN TAPMASK_NPM_REGISTRY="$NPM_REGISTRY" TAPMASK_PYPI_INDEX="$PYPI_INDEX" \
    python /tmp/models.py fetch --dir /opt/tapmask/models \
    && chmod -R a+rX /opt/tapmask/models

FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
# The venv is built where it will run (/app/.venv): its scripts hard-code that path.
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package tapmask-gateway --extra preview

FROM python:3.11-slim
RUN useradd --system --uid 10001 tapmask
COPY --from=build /app/.venv /app/.venv
COPY --from=web /web/dist /app/web
# Owned by root, world-readable: the mask preview reads them, never writes.
COPY --from=models /opt/tapmask/models /opt/tapmask/models
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 \
    TAPMASK_HOST=0.0.0.0 TAPMASK_PORT=8000 TAPMASK_WEB_DIST=/app/web \
    TAPMASK_MODELS_DIR=/opt/tapmask/models
# Numeric, so Kubernetes can check runAsNonRoot against the image itself.
USER 10001
# Fails the build unless the unprivileged user can read the pinned files.
RUN python -m tapmask_processing.models check
EXPOSE 8000
CMD ["tapmask-gateway"]
