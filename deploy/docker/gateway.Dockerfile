# TapMask gateway (HTTP API + the web frontend). Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile .
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
    uv sync --locked --no-dev --no-editable --package tapmask-gateway

FROM python:3.11-slim
RUN useradd --system --uid 10001 tapmask
COPY --from=build /app/.venv /app/.venv
COPY --from=web /web/dist /app/web
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 \
    TAPMASK_HOST=0.0.0.0 TAPMASK_PORT=8000 TAPMASK_WEB_DIST=/app/web
# Numeric, so Kubernetes can check runAsNonRoot against the image itself.
USER 10001
EXPOSE 8000
CMD ["tapmask-gateway"]
