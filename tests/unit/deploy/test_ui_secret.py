"""The Temporal UI's OIDC client secret: private at rest, in the UI's process alone (#16).

Offline on the rendered compose model (mutated copies must be caught), and on the files the
setup step writes (mode and group).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orders.deploy import compose_infra, people_auth, render, setup
from tests.support.deploy import compose_mounts

COMPOSE: dict[str, Any] = render.load_compose()
SECRET = f"{people_auth.UI_SECRET_DIR}/{people_auth.UI_CLIENT_SECRET_FILE}"


def _option(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def secret_violations(compose: dict[str, Any]) -> list[str]:
    """Where the UI's client secret could reach more than the UI (or be world-readable)."""
    out: list[str] = []
    services: dict[str, Any] = compose["services"]
    holders = {
        name
        for name, svc in services.items()
        if compose_infra.UI_SECRET_VOLUME in compose_mounts(svc).values()
    }
    if holders != {"temporal-ui", "setup"}:
        out.append(f"secret volume mounted by {sorted(holders)}")
    for name, svc in services.items():
        for m in svc.get("volumes", []):
            sub = m.get("volume", {}).get("subpath", "") if isinstance(m, dict) else ""
            if sub.endswith(people_auth.UI_CLIENT_SECRET_FILE) and name != "temporal-ui":
                out.append(f"{name} mounts the secret file")
        env = svc.get("environment", {})
        if isinstance(env, dict) and any("CLIENT_SECRET" in k for k in env):
            out.append(f"{name}: a client secret in the compose environment")
    ui_mounts = compose_mounts(services["temporal-ui"])
    if ui_mounts.get(SECRET) != compose_infra.UI_SECRET_VOLUME:
        out.append("the UI reads its secret from elsewhere")
    if f"cat {SECRET}" not in services["temporal-ui"]["entrypoint"][-1]:
        out.append("the UI entrypoint does not read the secret file")
    args = services["setup"]["command"]
    ui_gid = str(services["temporal-ui"]["user"]).split(":")[1]
    if _option(args, "--ui-secret-dir") != [people_auth.UI_SECRET_DIR]:
        out.append("setup writes the secret elsewhere")
    if _option(args, "--ui-secret-group") != [ui_gid]:
        out.append("secret group is not the UI's")
    if any(s.startswith("hvo_secret_") for s in _strings(compose)):
        out.append("a literal client secret")
    return out


def test_the_ui_secret_reaches_the_ui_alone() -> None:
    assert secret_violations(COMPOSE) == []


def _add_mount(service: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["services"][service]["volumes"].append(
            {"type": "volume", "source": compose_infra.UI_SECRET_VOLUME, "target": "/x"}
        )

    return mutate


def _setup_arg(flag: str, value: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        args = doc["services"]["setup"]["command"]
        args[args.index(flag) + 1] = value

    return mutate


def _secret_in_shared_volume(doc: dict[str, Any]) -> None:
    # The finding as it was: the secret beside the public ids, in the shared volume.
    ui = doc["services"]["temporal-ui"]
    for m in ui["volumes"]:
        if isinstance(m, dict) and m["source"] == compose_infra.UI_SECRET_VOLUME:
            m["source"] = "oidc-clients"
    _setup_arg("--ui-secret-dir", people_auth.OIDC_DIR)(doc)


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "a worker mounts the secret volume": _add_mount("order-notify"),
    "the front mounts the secret volume": _add_mount("temporal-front"),
    "the secret in the shared OIDC volume": _secret_in_shared_volume,
    "the secret readable by another group": _setup_arg("--ui-secret-group", "10001"),
    "the secret as an environment variable": lambda doc: doc["services"]["temporal-ui"][
        "environment"
    ].update(TEMPORAL_AUTH_CLIENT_SECRET="hvo_secret_x"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_secret_checker_catches(mutation: str) -> None:
    doc = copy.deepcopy(COMPOSE)
    MUTATIONS[mutation](doc)
    assert secret_violations(doc), mutation


def test_setup_writes_the_secret_private_and_the_ids_public(tmp_path: Path) -> None:
    ids, secret_dir = tmp_path / "ids", tmp_path / "secret"
    gid = os.getgid()
    public = {people_auth.UI_CLIENT_ID_FILE: "ui-id", people_auth.CODEC_CLIENT_ID_FILE: "c-id"}
    setup.write_client_files(public, "hvo_secret_abc", ids, secret_dir, gid)
    secret = secret_dir / people_auth.UI_CLIENT_SECRET_FILE
    assert secret.read_text() == "hvo_secret_abc"
    assert secret.stat().st_mode & 0o777 == 0o640
    assert secret.stat().st_gid == gid
    assert not (ids / people_auth.UI_CLIENT_SECRET_FILE).exists()
    assert (ids / people_auth.UI_CLIENT_ID_FILE).read_text() == "ui-id"
    assert (ids / people_auth.UI_CLIENT_ID_FILE).stat().st_mode & 0o777 == 0o644
    # Without a group: owner only.
    setup.write_client_files(public, "hvo_secret_abc", ids, tmp_path / "own", None)
    assert (tmp_path / "own" / people_auth.UI_CLIENT_SECRET_FILE).stat().st_mode & 0o777 == 0o600
