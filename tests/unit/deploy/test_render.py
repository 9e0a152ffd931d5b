"""The committed k8s/base and docker-compose.yml are exactly what the renderer produces."""

from __future__ import annotations

import json
from pathlib import Path

from orders.contract import identities
from orders.deploy import common, dashboard, render
from orders.deploy.common import ROOT


def test_committed_files_equal_a_fresh_rendering(tmp_path: Path) -> None:
    render.write(tmp_path)
    fresh = render.generated_paths(tmp_path)
    committed = render.generated_paths(ROOT)
    assert committed == fresh, "generated files added or missing: run `make manifests`"
    stale = [p for p in sorted(fresh) if (ROOT / p).read_text() != (tmp_path / p).read_text()]
    assert not stale, f"hand-edited or stale (run `make manifests`): {stale}"


def test_check_mode_reports_drift_and_write_repairs_it(tmp_path: Path) -> None:
    render.write(tmp_path)
    assert render.main(["--root", str(tmp_path), "--check"]) == 0
    deployment = tmp_path / "k8s/base/order-validate/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("readOnlyRootFilesystem: true", ""))
    (tmp_path / "k8s/base/order-retired/deployment.yaml").parent.mkdir()
    (tmp_path / "k8s/base/order-retired/deployment.yaml").write_text("kind: Deployment\n")
    drift = render.diff(tmp_path)
    assert "readOnlyRootFilesystem" in drift
    assert "order-retired" in drift
    assert render.main(["--root", str(tmp_path), "--check"]) == 1
    changed = render.write(tmp_path)
    assert set(changed) == {
        Path("k8s/base/order-validate/deployment.yaml"),
        Path("k8s/base/order-retired/deployment.yaml"),
    }
    assert render.diff(tmp_path) == ""


def test_every_file_says_it_is_generated() -> None:
    for rel, text in render.rendered().items():
        if rel.parent == render.KIND_FILES_DIR:
            # Verbatim copies of package files (the kind overlay's ConfigMap sources).
            assert text == common.package_file(rel.name), rel
        elif rel.suffix == ".json":
            # JSON has no comments: the Grafana dashboard says so in its description.
            assert json.loads(text)["description"] == dashboard.GENERATED_NOTE, rel
        else:
            assert text.startswith(render.GENERATED), rel


def test_compose_files_stay_reviewable() -> None:
    """Anchors for what services share; the servers in an included file.

    The servers' file stays under 560 lines, and the identities' file under ~30 lines per
    identity (its own networks, metrics ports, token mount), so a copy that adds identities
    with ``orders new`` stays within it too. Observability has a file of its own.
    """
    lines = {
        f: len((ROOT / f).read_text().splitlines())
        for f in (render.COMPOSE_FILE, render.INFRA_FILE)
    }
    assert lines[render.INFRA_FILE] <= 560
    assert lines[render.COMPOSE_FILE] <= 40 + 30 * len(common.workloads())
    main = (ROOT / render.COMPOSE_FILE).read_text()
    assert render.INFRA_FILE.as_posix() in render.load_compose()["include"]
    assert main.count("<<: *worker") == len(list(identities.workers()))
