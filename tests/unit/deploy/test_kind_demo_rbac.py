"""kind: the demo's token requester may mint tokens for exactly the identities it acts as.

``k8s/kind.sh demo`` acts as identities from outside the cluster through TokenRequest
(``serviceaccounts/token``, ``create``) with the ``demo-token-requester`` ServiceAccount's
token. Without ``resourceNames`` that Role mints ``aud: vault`` tokens for every
ServiceAccount in ``orders``: it impersonates every identity, payment included. Offline
(the built overlay), with mutated copies that must be caught.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orders.contract import identities
from orders.deploy import kind

REQUESTER = "demo-token-requester"
WANTED = sorted(i.service_account for i in kind.DEMO_IDENTITIES)


def _grants_token(rule: dict[str, Any]) -> bool:
    resources = set(rule.get("resources", ()))
    verbs = set(rule.get("verbs", ()))
    groups = set(rule.get("apiGroups", ()))
    return (
        bool(resources & {"serviceaccounts/token", "serviceaccounts/*", "*"})
        and bool(verbs & {"create", "*"})
        and bool(groups & {"", "*"})
    )


def _roles_of_requester(objects: list[dict[str, Any]]) -> set[tuple[str, str | None, str]]:
    """(kind, namespace, name) of every Role/ClusterRole bound to the requester."""
    out: set[tuple[str, str | None, str]] = set()
    for obj in objects:
        if obj["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(
            s.get("kind") == "ServiceAccount" and s.get("name") == REQUESTER
            for s in obj.get("subjects", ())
        ):
            continue
        ref = obj["roleRef"]
        ns = obj["metadata"].get("namespace") if ref["kind"] == "Role" else None
        out.add((ref["kind"], ns, ref["name"]))
    return out


def problems(objects: list[dict[str, Any]]) -> list[str]:
    """Why the overlay lets the requester mint more than the demo's tokens ([] if it does not)."""
    found: list[str] = []
    bound = _roles_of_requester(objects)
    if bound != {("Role", identities.K8S_NAMESPACE, REQUESTER)}:
        found.append(f"{REQUESTER} is bound to {sorted(map(str, bound))}")
    roles = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for o in objects
        if o["kind"] in ("Role", "ClusterRole")
    }
    for key in sorted(bound, key=str):
        role = roles.get(key)
        if role is None:
            found.append(f"{key} is bound but not defined")
            continue
        for rule in role.get("rules", ()):
            if not _grants_token(rule):
                found.append(f"{key[2]} grants something else: {rule}")
                continue
            names = sorted(rule.get("resourceNames", ()))
            if names != WANTED:
                found.append(f"{key[2]} mints tokens for {names or 'every ServiceAccount'}")
            if set(rule["verbs"]) != {"create"} or rule["resources"] != ["serviceaccounts/token"]:
                found.append(f"{key[2]} grants {rule['verbs']} on {rule['resources']}")
    return found


def test_the_requester_mints_tokens_only_for_the_demo_identities(
    kind_objects: list[dict[str, Any]],
) -> None:
    assert problems(kind_objects) == []
    # The payment identities (which move money) are never among them.
    assert identities.ORDER_PROCESS_PAYMENT.service_account not in WANTED
    assert identities.ORDER_REFUND_PAYMENT.service_account not in WANTED


def _role(doc: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in doc if o["kind"] == "Role" and o["metadata"]["name"] == REQUESTER)


def _no_names(doc: list[dict[str, Any]]) -> None:
    del _role(doc)["rules"][0]["resourceNames"]


def _payment_too(doc: list[dict[str, Any]]) -> None:
    _role(doc)["rules"][0]["resourceNames"].append(identities.ORDER_PROCESS_PAYMENT.service_account)


def _second_rule(doc: list[dict[str, Any]]) -> None:
    _role(doc)["rules"].append(
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}
    )


def _wildcard(doc: list[dict[str, Any]]) -> None:
    _role(doc)["rules"][0]["resources"] = ["*"]


def _cluster_binding(doc: list[dict[str, Any]]) -> None:
    doc.append(
        {
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "demo-everything"},
            "roleRef": {"kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": REQUESTER, "namespace": "x"}],
        }
    )


MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "no resourceNames (every ServiceAccount)": _no_names,
    "a payment identity added": _payment_too,
    "a second rule without names": _second_rule,
    "every subresource": _wildcard,
    "another binding for the requester": _cluster_binding,
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_wider_requester_is_caught(kind_objects: list[dict[str, Any]], name: str) -> None:
    doc = copy.deepcopy(kind_objects)
    MUTATIONS[name](doc)
    assert problems(doc), name


def test_the_demo_gets_credential_files_only_for_those_identities(tmp_path: Path) -> None:
    from orders.devstack.state import StackPaths

    paths = StackPaths(tmp_path / "kind")
    kind.write_stack(
        paths, apiserver="https://127.0.0.1:6443", ca_pem="PEM", requester_token="req",
        evidence_password="pw", orders_ca_pem="OCA",
        temporal_port=1, vault_port=2, postgres_port=3,
    )  # fmt: skip
    clients = paths.identity / "clients"
    assert sorted(p.stem for p in clients.iterdir()) == WANTED
