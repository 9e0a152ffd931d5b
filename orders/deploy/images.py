"""Every third-party image the deployments run: one table of (image, tag, digest).

Compose (:mod:`orders.deploy.compose_infra`) renders its ``image:`` lines from
:func:`ref`; the hand-written kind overlay, ``k8s/kind-config.yaml`` and the Dockerfile
carry the same references, and ``tests/unit/deploy/test_images.py`` fails when any of them
names a third-party image without a digest, or with a digest other than this table's.

A reference is ``name:tag@sha256:...``: the runtime pulls by digest (the tag is then
ignored, so it cannot move under us) and the tag stays beside it for the reader.

Refreshing (on a machine that reaches the registry; ours does not)::

    python -m orders.deploy.images            # prints registry digest vs table, exit 1 on drift

asks each registry's HTTP API (an anonymous pull token, then ``HEAD`` on the manifest with
the OCI index / Docker manifest-list media types) for the digest of each tag; paste the new
ones into :data:`IMAGES`, run ``make manifests``, update the kind overlay (the test names
every line to change) and commit.

Provenance of the digests below: the machine this table was written on has no route to
any registry, so none was resolved here. Each is the multi-platform *index* digest of that
tag as recorded in public repositories that pin it (several independent ones for the UI
and OpenBao; one project's registry-resolution record for the two Temporal images; the
Postgres tag is rebuilt by Docker's library and two digests circulate for it, the newer
one is used; Prometheus v3.5.0 and Grafana 12.1.0 as pinned by several unrelated
projects, the collector's 0.130.0 by one project's two test suites). Run the refresh
above before relying on them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from dataclasses import dataclass
from typing import Final

DIGEST_RE: Final = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Image:
    """One pinned image.

    Attributes:
        name: Repository as written in manifests (Docker Hub short form).
        tag: Human-readable tag the digest was taken from.
        digest: ``sha256:...`` of the tag's index (multi-platform manifest list).
        registry: Registry API host, for :func:`registry_digest`.
        repository: Repository path in that registry (``library/`` for official images).
    """

    name: str
    tag: str
    digest: str
    registry: str = "registry-1.docker.io"
    repository: str = ""

    @property
    def ref(self) -> str:
        """``name:tag@digest``: pulled by digest, the tag kept for the reader."""
        return f"{self.name}:{self.tag}@{self.digest}"

    @property
    def path(self) -> str:
        """Repository path in the registry API."""
        return self.repository or (self.name if "/" in self.name else f"library/{self.name}")


TEMPORAL_SERVER: Final = Image(
    "temporalio/server",
    "1.28.1",
    "sha256:acaf8454947544312216c6e153929b7db060571f736bbced290bfaf76e287499",
)
TEMPORAL_ADMIN_TOOLS: Final = Image(
    "temporalio/admin-tools",
    "1.28.1-tctl-1.18.4-cli-1.4.1",
    "sha256:01537b62d995f27a0f0d33a01ac4caa6779622f454fb2eb36fed0dccd45c6244",
)
"""``temporal-sql-tool`` and the schema files of the same server release (1.28.1)."""
TEMPORAL_UI: Final = Image(
    "temporalio/ui",
    "2.34.0",
    "sha256:cb17ea423d76a8a19a269d0bcd81fc12eee1f6365acd2a56b590dafb35696a95",
)
OPENBAO: Final = Image(
    "openbao/openbao",
    "2.7.1",
    "sha256:6d2b93856e3fcf7b18ad855a0b51eaba474dc8b79cf554379ea32034797d2acf",
)
POSTGRES: Final = Image(
    "postgres",
    "17.5-bookworm",
    "sha256:fbcea1bd13b6a882cd6caa6b58db3ae5c102efe50ec625b3e2a5cbc50db5bfe4",
)
PYTHON: Final = Image(
    "python",
    "3.11.13-slim-bookworm",
    "sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1",
)
"""The project image's base (Dockerfile ``FROM``)."""
KIND_NODE: Final = Image(
    "kindest/node",
    "v1.33.1",
    "sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f",
)
"""kind's node image (``k8s/kind-config.yaml``)."""
OTEL_COLLECTOR: Final = Image(
    "otel/opentelemetry-collector-contrib",
    "0.130.0",
    "sha256:867d1074c2f750936fb9358ec9eefa009308053cf156b2c7ca1761ba5ef78452",
)
"""The OpenTelemetry Collector (contrib: it ships the ``health_check`` extension)."""
PROMETHEUS: Final = Image(
    "prom/prometheus",
    "v3.5.0",
    "sha256:63805ebb8d2b3920190daf1cb14a60871b16fd38bed42b857a3182bc621f4996",
)
"""Prometheus 3.5, a long-term-support release."""
GRAFANA: Final = Image(
    "grafana/grafana",
    "12.1.0",
    "sha256:6ac590e7cabc2fbe8d7b8fc1ce9c9f0582177b334e0df9c927ebd9670469440f",
)

IMAGES: Final = (
    TEMPORAL_SERVER,
    TEMPORAL_ADMIN_TOOLS,
    TEMPORAL_UI,
    OPENBAO,
    POSTGRES,
    PYTHON,
    KIND_NODE,
    OTEL_COLLECTOR,
    PROMETHEUS,
    GRAFANA,
)
PROJECT_IMAGES: Final = frozenset({"hardened-orders"})
"""The project's own image: built and loaded locally (kind, compose), never pulled."""


def unpinned(refs: list[str]) -> list[str]:
    """The references in ``refs`` that are third-party and not this table's exact ref.

    Args:
        refs: Image references as written in a manifest or compose file.

    Returns:
        Each offending reference (tag-only, a digest the table does not hold, an image
        the table does not know), in order.
    """
    known = {i.ref for i in IMAGES}
    out = []
    for ref in refs:
        name = ref.split("@", 1)[0].rsplit(":", 1)[0] if "@" in ref else ref.rsplit(":", 1)[0]
        if name in PROJECT_IMAGES:
            continue
        if ref not in known:
            out.append(ref)
    return out


_ACCEPT: Final = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def registry_digest(image: Image, timeout: float = 15.0) -> str:
    """The digest the registry serves today for ``image.tag`` (Docker Hub token flow).

    Raises:
        OSError: The registry is unreachable or refuses.
        ValueError: The answer carries no digest.
    """
    scope = f"repository:{image.path}:pull"
    token_url = f"https://auth.docker.io/token?service=registry.docker.io&scope={scope}"
    with urllib.request.urlopen(token_url, timeout=timeout) as resp:
        token = json.load(resp)["token"]
    req = urllib.request.Request(
        f"https://{image.registry}/v2/{image.path}/manifests/{image.tag}",
        method="HEAD",
        headers={"Authorization": f"Bearer {token}", "Accept": _ACCEPT},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        digest = resp.headers.get("Docker-Content-Digest", "")
    if not DIGEST_RE.fullmatch(digest):
        raise ValueError(f"{image.name}:{image.tag}: the registry answered no digest")
    return str(digest)


def main(argv: list[str] | None = None) -> int:
    """``python -m orders.deploy.images``: compare the table with the registries."""
    ap = argparse.ArgumentParser(prog="python -m orders.deploy.images", description=__doc__)
    ap.parse_args(argv)
    drift = 0
    for image in IMAGES:
        try:
            live = registry_digest(image)
        except (OSError, ValueError) as exc:
            print(f"{image.name}:{image.tag}: cannot resolve ({exc})", file=sys.stderr)
            drift = 1
            continue
        same = live == image.digest
        drift |= not same
        print(f"{image.name}:{image.tag} {'ok' if same else 'CHANGED'} {live}")
    return drift


if __name__ == "__main__":
    raise SystemExit(main())
