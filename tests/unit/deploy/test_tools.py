"""Offline validation with the industry tools: no cluster, no engine, no network.

Each tool runs from the tools virtualenv on the files as committed (and on the built
overlays), and a failure prints the tool's own report.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from orders.contract import identities
from orders.deploy import k8s_base
from orders.deploy.common import COMPOSE_FILE, ROOT
from orders.deploy.compose_infra import INFRA_FILE
from orders.deploy.compose_observability import OBS_FILE
from tests.support.deploy import OVERLAYS, kustomize

KUBERNETES_VERSION = "1.33.0"
"""Schema version for kubernetes-validate: the minor of the kind node (k8s/kind-config.yaml)."""


def run(argv: list[str | Path], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a tool; offline by construction (no tool here is given a URL)."""
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_kind_config_pins_the_validated_kubernetes_minor() -> None:
    config = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
    images = {n["image"] for n in config["nodes"]}
    minor = ".".join(KUBERNETES_VERSION.split(".")[:2])
    assert all(i.startswith(f"kindest/node:v{minor}.") and "@sha256:" in i for i in images)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_overlay_builds_and_matches_the_kubernetes_schema(
    overlay: Path, tools_bin: Path, tmp_path: Path
) -> None:
    built = tmp_path / f"{overlay.name}.yaml"
    built.write_text(kustomize(overlay))
    done = run(
        [tools_bin / "kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, "--quiet", built]
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_validation_rejects_an_invalid_object(tools_bin: Path, tmp_path: Path) -> None:
    """The validator is really strict: a misspelt hardening field fails it."""
    bad = tmp_path / "bad.yaml"
    dep = k8s_base.deployment(identities.ORDER_NOTIFY)
    sc = dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    sc["readOnlyRootFileSystem"] = sc.pop("readOnlyRootFilesystem")
    bad.write_text(yaml.safe_dump(dep))
    done = run([tools_bin / "kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, bad])
    assert done.returncode != 0
    assert "readOnlyRootFileSystem" in done.stdout + done.stderr


def test_checkov_finds_nothing(tools_bin: Path, kind_file: Path) -> None:
    done = run(
        [
            tools_bin / "checkov",
            "--config-file",
            ROOT / ".checkov.yaml",
            "--skip-download",  # no Prisma Cloud look-ups: offline
            "--compact",
            "-f",
            kind_file,
            "-f",
            ROOT / "Dockerfile",
            "-f",
            ROOT / COMPOSE_FILE,
            "-f",
            ROOT / INFRA_FILE,
        ],
        timeout=300,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Failed checks: 0" in report
    assert "kubernetes scan results" in report
    assert "dockerfile scan results" in report


def test_every_checkov_skip_has_a_reason() -> None:
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    config = yaml.safe_load("\n".join(lines))
    for check in config.get("skip-check", []):
        at = lines.index(f"  - {check}")
        reason = []
        for line in reversed(lines[:at]):
            if not line.strip().startswith("#"):
                break
            reason.append(line)
        assert reason, f"{check} is skipped without a reason above it in .checkov.yaml"


def test_checkov_fails_a_weakened_deployment(tools_bin: Path, tmp_path: Path) -> None:
    """The scan really judges: privilege escalation allowed is a failed check."""
    dep = k8s_base.deployment(identities.ORDER_NOTIFY)
    dep["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "allowPrivilegeEscalation"
    ] = True
    bad = tmp_path / "weak.yaml"
    bad.write_text(yaml.safe_dump(dep))
    done = run(
        [tools_bin / "checkov", "--config-file", ROOT / ".checkov.yaml", "--skip-download",
         "--compact", "-f", bad],
    )  # fmt: skip
    assert done.returncode != 0
    assert "CKV_K8S_20" in done.stdout


def test_hadolint_passes_the_dockerfile(tools_bin: Path) -> None:
    done = run([tools_bin / "hadolint", "--failure-threshold", "info", ROOT / "Dockerfile"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_file_matches_the_compose_spec_schema(tools_bin: Path) -> None:
    # check-jsonschema ships the compose-spec schema (vendor.compose-spec): no download.
    done = run(
        [
            tools_bin / "check-jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            ROOT / COMPOSE_FILE,
            ROOT / INFRA_FILE,
            ROOT / OBS_FILE,
        ]
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_schema_rejects_an_invalid_file(tools_bin: Path, tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / INFRA_FILE).read_text())
    compose["services"]["postgres"]["read_only"] = "yes please"
    compose["services"]["postgres"]["depends_on"] = {"x": {"condition": "service_happy"}}
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(yaml.safe_dump(compose))
    done = run([tools_bin / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", bad])
    assert done.returncode != 0
