# TapMask notifier. Build from the repository root: docker build -f deploy/docker/notifier.Dockerfile .
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
# The venv is built where it will run (/app/.venv): its scripts hard-code that path.
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY . .
# Only this service's package and what it needs, as pinned by the workspace lock file.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package tapmask-notifier

FROM python:3.11-slim
RUN useradd --system --uid 10001 tapmask
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 TAPMASK_NOTIFIER__HOST=0.0.0.0 TAPMASK_NOTIFIER__PORT=8001
# Numeric, so Kubernetes can check runAsNonRoot against the image itself.
USER 10001
EXPOSE 8001
CMD ["tapmask-notifier"]
