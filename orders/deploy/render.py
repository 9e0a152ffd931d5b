"""Render the deployments of the identity contract: ``k8s/base/`` and the compose files.

Run ``make manifests`` (``python -m orders.deploy.render``) after changing
:mod:`orders.contract.identities`; ``--check`` reports drift without writing. A unit test re-renders
into a temporary directory and compares with the committed files, so nobody hand-edits a
generated file and a new identity cannot be half-deployed.

What is rendered, and by which module:

* ``k8s/base/``: one file per object (:mod:`orders.deploy.k8s_base`);
* ``docker-compose.yml``: the identities (:mod:`orders.deploy.compose_identities`), which
  includes ``docker-compose.infra.yml``: the servers and setup steps
  (:mod:`orders.deploy.compose_infra`, :mod:`orders.deploy.compose_steps`);
* the kind overlay's NetworkPolicies of ``orders-infra``
  (``k8s/overlays/kind/infra/networkpolicies/``: :mod:`orders.deploy.kind_policies`);
* the kind overlay's copies of the package files its ConfigMaps are generated from
  (``k8s/overlays/kind/infra/files/``: the reload script, ``pg_hba.conf``), because
  kustomize reads files only below the overlay.

Compose files are written with YAML anchors for what services share
(:class:`orders.deploy.common.Anchor`) and short lists on one line; Kubernetes files are
plain YAML.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import yaml

from orders.deploy import (
    compose_identities,
    compose_observability,
    compose_steps,
    k8s_base,
    kind_observability,
    kind_policies,
    overlays,
    tls,
)
from orders.deploy.common import BASE_DIR, COMPOSE_FILE, GENERATED, ROOT, Anchor, package_file
from orders.deploy.compose_infra import INFRA_FILE

__all__ = ["COMPOSE_FILE", "GENERATED", "INFRA_FILE", "ROOT", "load_compose", "main", "write"]

KIND_FILES_DIR: Final = Path("k8s/overlays/kind/infra/files")
KIND_PG_HBA: Final = "pg_hba.conf"
"""The same file as compose's: the superuser over the socket only, TLS + SCRAM on TCP."""
KIND_FILES: Final = (tls.RELOAD_SCRIPT, KIND_PG_HBA)
"""Package files the kind overlay generates ConfigMaps from (copied verbatim)."""
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_FLOW_WIDTH: Final = 88
"""Longest mapping of scalars written on one line; longer strings with spaces are blocks."""


class _Dumper(yaml.SafeDumper):
    """Plain YAML: shared sub-objects are written out in full, never as anchors/aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _ComposeDumper(yaml.SafeDumper):
    """YAML with named anchors for :class:`Anchor` objects, merge keys, short flow lists."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.anchor_names: dict[int, str] = {}

    def ignore_aliases(self, data: Any) -> bool:
        return not isinstance(data, Anchor)

    def generate_anchor(self, node: Any) -> Any:
        return self.anchor_names.get(id(node)) or super().generate_anchor(node)


def _scalar(value: Any) -> bool:
    return (isinstance(value, str | int | float | bool) or value is None) and not _long(value)


def _long(value: Any) -> bool:
    """A string written as a literal block (a shell or Python one-liner), never folded."""
    return isinstance(value, str) and len(value) > _FLOW_WIDTH and " " in value


def _represent_str(dumper: _ComposeDumper, data: str) -> yaml.Node:
    style = "|" if _long(data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_list(dumper: _ComposeDumper, data: list[Any]) -> yaml.Node:
    flow = all(_scalar(v) for v in data)  # argv and the like: wrapped at the line width
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper: _ComposeDumper, data: dict[str, Any]) -> yaml.Node:
    flat = ", ".join(f"{k}: {v}" for k, v in data.items())
    flow = bool(data) and all(_scalar(v) for v in data.values()) and len(flat) <= _FLOW_WIDTH
    node = dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow)
    for key, _ in node.value:
        if key.value == "<<":
            key.tag = _MERGE_TAG  # written as a plain `<<`, the YAML merge key
    return node


def _represent_anchor(dumper: _ComposeDumper, data: Anchor) -> yaml.Node:
    node = _represent_dict(dumper, dict(data))
    dumper.anchor_names[id(node)] = data.name
    return node


_ComposeDumper.add_representer(str, _represent_str)
_ComposeDumper.add_representer(list, _represent_list)
_ComposeDumper.add_representer(dict, _represent_dict)
_ComposeDumper.add_representer(Anchor, _represent_anchor)


def _dump(obj: dict[str, Any] | list[Any]) -> str:
    body = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    return GENERATED + body


def _dump_compose(obj: dict[str, Any], what: str) -> str:
    body = yaml.dump(obj, Dumper=_ComposeDumper, sort_keys=False, width=100)
    # A blank line before each top-level key and each service, for the reader.
    lines: list[str] = []
    section = ""
    for line in body.splitlines():
        top = line[:1].isalpha()
        service = section == "services" and line.startswith("  ") and line[2:3].isalpha()
        if top:
            section = line.split(":", 1)[0]
        if lines and (top or (service and not lines[-1].endswith("services:"))):
            lines.append("")
        lines.append(line)
    return GENERATED + f"# {what}\n" + "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    """Every generated file, keyed by path relative to the project root."""
    objects = k8s_base.base_objects()
    files = {BASE_DIR / path: _dump(obj) for path, obj in objects.items()}
    files[BASE_DIR / "kustomization.yaml"] = _dump(k8s_base.kustomization(objects))
    idents, infra = compose_identities.compose(), compose_steps.infra()
    # Observability hooks into both (settings, networks) and adds a file of its own.
    compose_observability.attach(idents, infra)
    idents["include"].append(compose_observability.OBS_FILE.as_posix())
    services = {**idents["services"], **infra["services"]}
    files[COMPOSE_FILE] = _dump_compose(
        idents,
        f"The identities; the servers and setup steps are in {INFRA_FILE} (include).",
    )
    files[INFRA_FILE] = _dump_compose(
        infra, f"The servers and setup steps, included by {COMPOSE_FILE}."
    )
    files[compose_observability.OBS_FILE] = _dump_compose(
        compose_observability.compose(services),
        f"Collector, Prometheus and Grafana, included by {COMPOSE_FILE}.",
    )
    files |= compose_observability.config_files(services)
    for name in KIND_FILES:
        files[KIND_FILES_DIR / name] = package_file(name)
    policies = kind_policies.policies()
    for name, obj in policies.items():
        files[kind_policies.DIR / name] = _dump(obj)
    files[kind_policies.DIR / "kustomization.yaml"] = _dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(policies),
        }
    )
    files |= {p: _dump(o) for p, o in overlays.keda_files().items()}
    files |= {p: _dump(o) for p, o in overlays.external_files().items()}
    for path, obj in kind_observability.files().items():
        files[path] = obj if isinstance(obj, str) else _dump(obj)
    return files


def generated_paths(root: Path) -> set[Path]:
    """Generated files that exist under ``root`` (stale ones included)."""
    found = {p.relative_to(root) for p in (root / BASE_DIR).rglob("*.yaml")}
    for d in (kind_policies.DIR, overlays.KEDA_DIR, overlays.EXTERNAL_DIR):
        found |= {p.relative_to(root) for p in (root / d).glob("*.yaml")}
    for d in (kind_observability.DIR, compose_observability.CONFIG_DIR):
        found |= {p.relative_to(root) for p in (root / d).rglob("*") if p.is_file()}
    obs = compose_observability.OBS_FILE
    for rel in (COMPOSE_FILE, INFRA_FILE, obs, *(KIND_FILES_DIR / n for n in KIND_FILES)):
        if (root / rel).exists():
            found.add(rel)
    return found


def load_compose(root: Path = ROOT) -> dict[str, Any]:
    """The compose model as docker compose sees it: merge keys resolved, includes merged.

    Args:
        root: Project root holding ``docker-compose.yml``.

    Returns:
        The main file's mapping with every included file's services, networks, volumes,
        secrets and configs added (``x-`` fields and ``include`` left as they are).
    """
    model: dict[str, Any] = yaml.safe_load((root / COMPOSE_FILE).read_text())
    for rel in model.get("include", []):
        included: dict[str, Any] = yaml.safe_load((root / rel).read_text())
        for key in ("services", "networks", "volumes", "secrets", "configs"):
            overlap = set(model.get(key, {})) & set(included.get(key, {}))
            if overlap:
                raise ValueError(f"{rel} redefines {key}: {sorted(overlap)}")
            model.setdefault(key, {}).update(included.get(key, {}))
    return model


def write(root: Path) -> list[Path]:
    """Render into ``root``: write every file and delete stale generated ones.

    Returns:
        Paths (relative to ``root``) whose content changed, including deletions.
    """
    files = rendered()
    changed: list[Path] = []
    for stale in sorted(generated_paths(root) - set(files)):
        (root / stale).unlink()
        changed.append(stale)
    for rel, text in files.items():
        path = root / rel
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        changed.append(rel)
    return changed


def diff(root: Path) -> str:
    """Unified diff between the files under ``root`` and a fresh rendering ("" if none)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        write(fresh)
        out: list[str] = []
        for rel in sorted(generated_paths(root) | generated_paths(fresh)):
            old = (root / rel).read_text() if (root / rel).exists() else ""
            new = (fresh / rel).read_text() if (fresh / rel).exists() else ""
            out += difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                f"committed/{rel}",
                f"rendered/{rel}",
            )
        return "".join(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m orders.deploy.render [--check] [--root DIR]``."""
    ap = argparse.ArgumentParser(prog="python -m orders.deploy.render", description=__doc__)
    ap.add_argument("--root", type=Path, default=ROOT, help="project root to render into")
    ap.add_argument("--check", action="store_true", help="only report drift (exit 1)")
    args = ap.parse_args(argv)
    if args.check:
        drift = diff(args.root)
        sys.stdout.write(drift or "manifests are up to date\n")
        return 1 if drift else 0
    for rel in write(args.root):
        print(f"rendered {rel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
