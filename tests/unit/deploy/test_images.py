"""Every image is pinned by digest, from one table, and none is the deprecated auto-setup.

Reads what runs: the compose model as compose sees it, every built overlay (kind, keda,
external), ``k8s/kind-config.yaml`` and the Dockerfile's ``FROM`` lines. Mutated copies (a
tag-only image, a digest the table does not hold, auto-setup back) must be caught.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from orders.deploy import images, render
from orders.deploy.common import ROOT
from tests.support.deploy import OVERLAYS, kustomize


def compose_refs(model: dict[str, Any]) -> list[str]:
    """``image:`` of every compose service."""
    return [s["image"] for s in model["services"].values() if "image" in s]


def k8s_refs(objects: list[dict[str, Any]]) -> list[str]:
    """Every container and init container image of every pod template."""
    out = []
    for obj in objects:
        spec = obj.get("spec", {})
        pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get(
            "spec", {}
        ).get("template", {}).get("spec", {})
        for key in ("initContainers", "containers"):
            out += [c["image"] for c in pod.get(key, [])]
    return out


def dockerfile_refs(text: str) -> list[str]:
    """The image of each ``FROM`` (stage names aside)."""
    return [m.group(1) for m in re.finditer(r"^FROM\s+(\S+)", text, re.M)]


def violations(refs: list[str]) -> list[str]:
    """Tag-only or unknown third-party images, and any auto-setup image."""
    out = [f"not pinned by the table's digest: {r}" for r in images.unpinned(refs)]
    out += [f"deprecated auto-setup: {r}" for r in refs if "auto-setup" in r]
    return out


@pytest.fixture(scope="module")
def overlay_objects() -> dict[str, list[dict[str, Any]]]:
    return {p.name: [d for d in yaml.safe_load_all(kustomize(p)) if d] for p in OVERLAYS}


def test_the_table_holds_real_looking_digests_once() -> None:
    names = [i.name for i in images.IMAGES]
    assert len(names) == len(set(names))
    for image in images.IMAGES:
        assert images.DIGEST_RE.fullmatch(image.digest), image
        assert image.tag, image
        assert "@" not in image.tag, image


# The reference grammar of the distribution spec (lowercase path components; a tag of at
# most 128 word characters, dots and dashes, not starting with either).
NAME_RE = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def test_every_row_is_a_well_formed_reference_to_a_fixed_release() -> None:
    digests = [i.digest for i in images.IMAGES]
    assert len(digests) == len(set(digests)), "one digest pasted into two rows"
    for image in images.IMAGES:
        assert NAME_RE.fullmatch(image.name), image.name
        assert TAG_RE.fullmatch(image.tag), image.tag
        # A release, not a moving label: the digest is what is pulled, the tag what a
        # reader (and the refresh) goes by.
        assert image.tag not in {"latest", "stable", "main", "edge"}, image
        assert any(ch.isdigit() for ch in image.tag), image
        assert image.ref == f"{image.name}:{image.tag}@{image.digest}"
        assert image.path.count("/") == 1, image.path
        assert images.unpinned([image.ref]) == []
        assert images.unpinned([f"{image.name}:{image.tag}"]) == [f"{image.name}:{image.tag}"]


def test_the_refresh_command_is_documented_and_parses_offline() -> None:
    readme = (ROOT / "k8s" / "README.md").read_text()
    assert "python -m orders.deploy.images" in readme
    with pytest.raises(SystemExit) as done:
        images.main(["--help"])
    assert done.value.code == 0


def test_compose_pins_every_image() -> None:
    refs = compose_refs(render.load_compose())
    assert images.TEMPORAL_SERVER.ref in refs
    assert images.TEMPORAL_ADMIN_TOOLS.ref in refs
    assert violations(refs) == []


def test_every_overlay_pins_every_image(overlay_objects: dict[str, list[dict[str, Any]]]) -> None:
    assert {"kind", "keda", "external"} <= set(overlay_objects)
    for name, objects in overlay_objects.items():
        assert violations(k8s_refs(objects)) == [], name
    kind = k8s_refs(overlay_objects["kind"])
    assert images.TEMPORAL_SERVER.ref in kind
    assert images.TEMPORAL_ADMIN_TOOLS.ref in kind


def test_kind_node_and_dockerfile_are_pinned() -> None:
    config = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
    assert violations([n["image"] for n in config["nodes"]]) == []
    froms = dockerfile_refs((ROOT / "Dockerfile").read_text())
    assert froms
    assert violations(froms) == []


def _compose_set(service: str, ref: str) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["services"][service].update(image=ref)


COMPOSE_MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "tag-only Postgres": _compose_set("postgres", "postgres:17.5-bookworm"),
    "auto-setup is back": _compose_set(
        "temporal", images.TEMPORAL_SERVER.ref.replace("/server", "/auto-setup")
    ),
    "a digest the table does not hold": _compose_set("openbao", images.OPENBAO.ref[:-4] + "0000"),
    "an unknown image": _compose_set("temporal-ui", "example/ui@sha256:" + "0" * 64),
}


@pytest.mark.parametrize("mutation", sorted(COMPOSE_MUTATIONS))
def test_compose_check_catches(mutation: str) -> None:
    model = copy.deepcopy(render.load_compose())
    COMPOSE_MUTATIONS[mutation](model)
    assert violations(compose_refs(model)), mutation


def _kind_tag_only(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "temporal":
            obj["spec"]["template"]["spec"]["initContainers"][0]["image"] = (
                "temporalio/server:1.28.1"
            )


def _kind_auto_setup(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "temporal":
            c = obj["spec"]["template"]["spec"]["containers"][0]
            c["image"] = c["image"].replace("/server", "/auto-setup")


@pytest.mark.parametrize("mutation", [_kind_tag_only, _kind_auto_setup])
def test_kind_check_catches(
    mutation: Callable[[list[dict[str, Any]]], None],
    overlay_objects: dict[str, list[dict[str, Any]]],
) -> None:
    objects = copy.deepcopy(overlay_objects["kind"])
    mutation(objects)
    assert violations(k8s_refs(objects))


def test_dockerfile_check_catches_a_tag_only_base() -> None:
    text = (ROOT / "Dockerfile").read_text()
    mutated = re.sub(r"@sha256:[0-9a-f]{64}", "", text, count=1)
    assert violations(dockerfile_refs(mutated))
