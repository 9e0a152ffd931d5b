"""Helpers the offline deployment tests share."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orders.deploy import render
from orders.deploy.common import ROOT


def compose_mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of a compose service's volumes (short or long syntax)."""
    out: dict[str, str] = {}
    for m in service.get("volumes", []):
        if isinstance(m, str):
            source, target = m.split(":")[:2]
            out[target] = source
        else:
            out[m["target"]] = m["source"]
    return out


COMPOSE: dict[str, Any] = render.load_compose()

SERVICES: dict[str, Any] = COMPOSE["services"]


OVERLAYS = sorted(p.parent for p in (ROOT / "k8s" / "overlays").glob("*/kustomization.yaml"))


def kustomize(directory: Path) -> str:
    """``kubectl kustomize`` of ``directory`` (skips when kubectl is missing)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot build the kustomize overlays offline")
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {directory} failed:\n{done.stderr}"
    return done.stdout


def is_default_deny(policy: dict[str, Any]) -> bool:
    """A NetworkPolicy denying every pod of its namespace all ingress and egress."""
    spec = policy["spec"]
    return (
        spec.get("podSelector") == {}
        and set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}
        and not spec.get("ingress")
        and not spec.get("egress")
    )
