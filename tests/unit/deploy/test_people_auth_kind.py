"""Temporal authorization and the codec server's login on kind agree with vault/ (offline).

Parses the built kind overlay (``kubectl kustomize``): the Temporal server's authorization
env equals :func:`orders.deploy.people_auth.temporal_server_env` for the kind endpoints,
the vault-configure Job applies the provider with the issuer and the codec server's
callback that the codec server expects, and the codec server reads the client id the Job
publishes, under an RBAC Role that allows only that ConfigMap. What only a cluster shows
(the images reading these variables, a login round trip) is listed in k8s/README.md.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from orders.codec_server.settings import CodecServerSettings
from orders.contract import identities, pki_names, temporal_access
from orders.deploy import common, k8s_base, people_auth, render
from orders.settings import WorkerSettings
from orders.vault import people as vault_people
from orders.vault import tokens as vault_tokens

EP = k8s_base.KIND_PEOPLE


def _find(objects: list[dict[str, Any]], kind: str, name: str, namespace: str) -> dict[str, Any]:
    [found] = [
        o
        for o in objects
        if o["kind"] == kind
        and o["metadata"]["name"] == name
        and o["metadata"].get("namespace") == namespace
    ]
    return found


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    [container] = containers
    return container


def _plain_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _option(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == name]


@pytest.fixture(scope="module")
def configure_args(kind_objects: list[dict[str, Any]]) -> list[str]:
    job = _find(kind_objects, "Job", "vault-configure", common.INFRA_NAMESPACE)
    command: list[str] = _container(job)["command"]
    return command


def test_temporal_server_authorizes_with_both_key_sets(
    kind_objects: list[dict[str, Any]],
) -> None:
    server = _find(kind_objects, "Deployment", "temporal", common.INFRA_NAMESPACE)
    env = _plain_env(_container(server))
    wanted = people_auth.temporal_server_env(EP)
    assert {k: env.get(k) for k in wanted} == wanted
    # Both key sets from OpenBao by its certificate's name, which the pod maps to OpenBao's
    # Service (hostAliases), over TLS trusting the Vault root CA; the two documented paths.
    people, machines = (urlsplit(env[f"TEMPORAL_JWT_KEY_SOURCE{n}"]) for n in (1, 2))
    name = pki_names.Server.OPENBAO.value
    assert people.scheme == machines.scheme == "https"
    assert people.netloc == machines.netloc == f"{name}:{common.VAULT.port}"
    service = _find(kind_objects, "Service", common.VAULT.service, common.INFRA_NAMESPACE)
    aliases = server["spec"]["template"]["spec"]["hostAliases"]
    assert [a["ip"] for a in aliases if name in a["hostnames"]] == [service["spec"]["clusterIP"]]
    assert env["SSL_CERT_FILE"]
    assert machines.path == vault_tokens.JWKS_PATH
    assert people.path == urlsplit(vault_people.jwks_url_for(EP.issuer)).path
    assert env["TEMPORAL_JWT_PERMISSIONS_CLAIM"] == vault_people.PERMISSIONS_CLAIM


def test_configure_job_applies_the_provider_the_codec_server_expects(
    kind_objects: list[dict[str, Any]], configure_args: list[str]
) -> None:
    codec = _container(_find(kind_objects, "Deployment", "codec-server", identities.K8S_NAMESPACE))
    env = _plain_env(codec)
    [base] = _option(configure_args, "--oidc-issuer-base")
    assert base == EP.vault_public
    assert env["ORDERS_CODEC_ISSUER"] == vault_people.issuer_for(base)
    callback = env["ORDERS_CODEC_PUBLIC_URL"] + vault_people.CODEC_CALLBACK_PATH
    assert _option(configure_args, "--codec-redirect-uri") == [callback]
    # Browsers reach the codec server at that URL: the Ingress host.
    ingress = _find(kind_objects, "Ingress", "codec-server", identities.K8S_NAMESPACE)
    assert urlsplit(callback).hostname == ingress["spec"]["rules"][0]["host"]
    # The UI's origin is the one the codec server answers CORS for.
    ui = _plain_env(
        _container(_find(kind_objects, "Deployment", "temporal-ui", common.INFRA_NAMESPACE))
    )
    assert env["ORDERS_CODEC_UI_ORIGIN"] == ui["TEMPORAL_CORS_ORIGINS"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == env["ORDERS_CODEC_PUBLIC_URL"]
    # Browsers log in on OpenBao's own page: its web UI is served.
    config = _find(kind_objects, "ConfigMap", "openbao-config", common.INFRA_NAMESPACE)
    assert re.search(r"^\s*ui\s*=\s*true$", config["data"]["config.hcl"], re.MULTILINE)


def test_codec_server_reads_the_client_id_the_job_publishes(
    kind_objects: list[dict[str, Any]], configure_args: list[str]
) -> None:
    codec = _container(_find(kind_objects, "Deployment", "codec-server", identities.K8S_NAMESPACE))
    [ref] = [e for e in codec["env"] if e["name"] == "ORDERS_CODEC_CLIENT_ID"]
    key_ref = ref["valueFrom"]["configMapKeyRef"]
    assert key_ref == {"name": k8s_base.OIDC_CONFIGMAP, "key": people_auth.CODEC_CLIENT_ID_FILE}
    assert key_ref.get("optional") is not True  # no id: the pod waits, never runs without
    assert _option(configure_args, "--oidc-configmap") == [
        f"{identities.K8S_NAMESPACE}/{k8s_base.OIDC_CONFIGMAP}"
    ]
    # Every plain ORDERS_CODEC_* variable is a setting the codec server knows.
    codec_fields = {f"ORDERS_CODEC_{n.upper()}" for n in CodecServerSettings.model_fields}
    for name in _plain_env(codec):
        if name.startswith("ORDERS_CODEC_"):
            assert name in codec_fields, name


def test_configure_job_may_write_only_that_configmap(
    kind_objects: list[dict[str, Any]],
) -> None:
    job = _find(kind_objects, "Job", "vault-configure", common.INFRA_NAMESPACE)
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    [api] = [v for v in pod["volumes"] if v["name"] == "kube-api"]
    [token] = [
        s["serviceAccountToken"] for s in api["projected"]["sources"] if "serviceAccountToken" in s
    ]
    assert token["expirationSeconds"] <= 600
    bindings = [
        o
        for o in kind_objects
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and any(
            s.get("name") == pod["serviceAccountName"]
            and s.get("namespace") == common.INFRA_NAMESPACE
            for s in o["subjects"]
        )
    ]
    assert [b["kind"] for b in bindings] == ["RoleBinding"]
    [binding] = bindings
    assert binding["metadata"]["namespace"] == identities.K8S_NAMESPACE
    role = _find(kind_objects, "Role", binding["roleRef"]["name"], identities.K8S_NAMESPACE)
    rules = [
        (tuple(r["resources"]), tuple(r["verbs"]), tuple(r.get("resourceNames", ())))
        for r in role["rules"]
    ]
    assert sorted(rules) == sorted(
        [
            (("configmaps",), ("create",), ()),
            (("configmaps",), ("get", "update"), (k8s_base.OIDC_CONFIGMAP,)),
        ]
    )


def test_every_worker_pod_presents_its_own_token(kind_objects: list[dict[str, Any]]) -> None:
    shared = _find(kind_objects, "ConfigMap", k8s_base.ENV_CONFIGMAP, identities.K8S_NAMESPACE)
    for ident in common.workloads():
        kind = "Job" if ident.kind is identities.Kind.MIGRATE else "Deployment"
        pod = _find(kind_objects, kind, ident.name, identities.K8S_NAMESPACE)
        env = shared["data"] | _plain_env(_container(pod))
        fields = {k.removeprefix("ORDERS_").lower(): v for k, v in env.items()}
        settings = WorkerSettings.model_validate(
            {k: v for k, v in fields.items() if k in WorkerSettings.model_fields}
        )
        assert settings.identity == ident.name
        assert settings.temporal_token is bool(temporal_access.temporal_permissions(ident)), ident


def test_browser_issuer_is_where_kind_sh_forwards_openbao() -> None:
    script = (render.ROOT / "k8s" / "kind.sh").read_text()
    ports = re.search(r"^V_PORT=(\d+)$", script, re.MULTILINE)
    assert ports is not None
    assert int(ports.group(1)) == k8s_base.KIND_VAULT_PORT
    assert urlsplit(EP.vault_public).port == k8s_base.KIND_VAULT_PORT
    forward = f'forward {common.VAULT.namespace} {common.VAULT.service} "${{V_PORT}}:'
    assert f'{forward}{common.VAULT.port}"' in script
