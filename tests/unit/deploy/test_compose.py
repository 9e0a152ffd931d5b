"""docker-compose.yml: one service per identity, every service hardened and health-gated."""

from __future__ import annotations

import pytest

from orders.contract import identities
from orders.deploy import observability
from orders.deploy.common import UID
from orders.deploy.compose_infra import NAMESPACE_STEP, PROMOTE_STEP
from tests.support.deploy import SERVICES

ONE_SHOT = {
    "openbao-init",
    "temporal-schema",
    "tls-bootstrap",
    "pki",
    "setup",
    NAMESPACE_STEP,
    PROMOTE_STEP,
    identities.ORDER_MIGRATE.name,
}
NO_PROBE = {observability.COLLECTOR}
"""Images with nothing to probe with: the collector's is its binary alone (no shell, no
client); nothing depends on its health (workers export spans best-effort)."""


def test_one_service_per_identity_that_runs() -> None:
    names = {i.name for i in identities.workers()} | {
        identities.ORDER_MIGRATE.name,
        identities.CODEC_SERVER.name,
    }
    assert names <= set(SERVICES)
    for ident in identities.workers():
        service = SERVICES[ident.name]
        assert service["command"] == ["python", "-m", "workers", ident.name]
        assert service["environment"]["ORDERS_IDENTITY"] == ident.name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_is_hardened(name: str) -> None:
    service = SERVICES[name]
    user = str(service["user"])
    uid, gid = (int(x) for x in user.split(":"))
    assert uid != 0
    assert gid != 0
    assert service["read_only"] is True
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["cap_drop"] == ["ALL"]
    assert "cap_add" not in service
    assert "privileged" not in service
    if name in ONE_SHOT:
        assert service["restart"] == "no"
    elif name not in NO_PROBE:
        assert service["healthcheck"]["test"][0] == "CMD"
    for dep, cond in service.get("depends_on", {}).items():
        assert dep in SERVICES
        expected = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
        if name == "openbao-init":
            expected = "service_started"  # it is what makes OpenBao healthy (unsealed)
        assert cond == {"condition": expected}, (name, dep)


def test_project_services_run_as_the_image_user() -> None:
    for name, service in SERVICES.items():
        if service.get("image", "").startswith("hardened-orders:"):
            assert service["user"] == f"{UID}:{UID}", name


def test_each_identity_sees_only_its_own_bootstrap_credential() -> None:
    for ident in (*identities.workers(), identities.CODEC_SERVER, identities.ORDER_MIGRATE):
        mounts = SERVICES[ident.name]["volumes"]
        subpaths = {m["volume"]["subpath"] for m in mounts if m["source"] == "identity-state"}
        assert subpaths == {
            "identity/ca.crt",
            f"identity/clients/{ident.service_account}.token",
        }
        # Besides, the codec server reads its OIDC client id (not a secret), nobody else any.
        oidc = {m["volume"]["subpath"] for m in mounts if m["source"] == "oidc-clients"}
        assert oidc == ({"codec-client-id"} if ident is identities.CODEC_SERVER else set())
        assert all(m["read_only"] for m in mounts)


def test_no_database_for_the_workflow_worker_and_no_secrets_for_workers() -> None:
    for ident in identities.workers():
        assert "secrets" not in SERVICES[ident.name], ident.name
    env = SERVICES[identities.ORDER_WORKFLOW.name]["environment"]
    assert not any("PASSWORD" in key for key in env)


def test_servers_are_not_published_beyond_loopback() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
