#!/usr/bin/env bash
# Build and push the service images with one pinned tag, and pin the aws overlay to it:
#   REGISTRY=123456789012.dkr.ecr.eu-west-1.amazonaws.com/tapmask deploy/build-images.sh
# TAG defaults to <workspace version>-<commit> (e.g. 0.1.0-3f2c1a9d0b4e), so a tag names
# the exact sources it was built from and is never moved (no `latest`). Needs docker (with
# buildx) and kustomize (`make install-checks` puts one in .local/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
REGISTRY=${REGISTRY:-ghcr.io/tapmask}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
if [ -z "${TAG:-}" ]; then
  git diff --quiet HEAD || { echo "uncommitted changes: commit first, or set TAG" >&2; exit 1; }
  TAG="$VERSION-$(git rev-parse --short=12 HEAD)"
fi
KUSTOMIZE=${KUSTOMIZE:-$(command -v kustomize || echo .local/bin/kustomize)}

declare -A DIGEST
build() {  # name dockerfile [build args...]
  local name=$1 file=$2; shift 2
  docker build -f "deploy/docker/$file" "$@" -t "$REGISTRY/$name:$TAG" .
  docker push "$REGISTRY/$name:$TAG"
  # repo@sha256:...: the overlay pins the digest too, so even a moved tag changes nothing.
  DIGEST[$name]=$(docker inspect --format '{{index .RepoDigests 0}}' "$REGISTRY/$name:$TAG" | cut -d@ -f2)
}
build gateway gateway.Dockerfile
build notifier notifier.Dockerfile
build renderer renderer.Dockerfile
build tracker-sam2 tracker.Dockerfile --build-arg EXTRAS=sam2

cd deploy/k8s/overlays/aws
for name in gateway notifier renderer tracker-sam2; do
  "$KUSTOMIZE" edit set image "ghcr.io/tapmask/$name=$REGISTRY/$name:$TAG@${DIGEST[$name]}"
done
echo "images $REGISTRY/*:$TAG pushed; deploy/k8s/overlays/aws pinned to them (commit it)"
