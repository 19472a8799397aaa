"""An object store in memory, for the tests of the workers' stages (the tracker's and the
renderer's, and the tracker's review delivery): the ``ObjectStore`` port with objects as
bytes and metadata in a dict. Importable by every test (``tests/`` is on the tests' path)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tapmask_runtime.errors import ObjectMissingError


@dataclass
class FakeStore:
    """Objects as bytes + metadata in a dict; counts uploads per key; small objects apart."""

    objects: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    uploads: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    async def download(self, key: str, path: Path) -> None:
        if key not in self.objects:
            raise ObjectMissingError(key)
        path.write_bytes(self.objects[key][0])  # noqa: ASYNC240 - a few bytes in tests

    async def upload(self, path: Path, key: str, metadata: dict[str, str]) -> None:
        self.objects[key] = (path.read_bytes(), dict(metadata))  # noqa: ASYNC240
        self.uploads[key] += 1

    async def metadata(self, key: str) -> dict[str, str] | None:
        return dict(self.objects[key][1]) if key in self.objects else None

    # Small objects (the durable attempts records), apart from the stage's files.
    small: dict[str, bytes] = field(default_factory=dict)

    async def read_bytes(self, key: str) -> bytes | None:
        return self.small.get(key)

    async def write_bytes(self, key: str, data: bytes) -> None:
        self.small[key] = data

    async def delete(self, key: str) -> None:
        self.small.pop(key, None)
