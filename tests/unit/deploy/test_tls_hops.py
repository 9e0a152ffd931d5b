"""Every hop of docker-compose and the kind overlay is TLS with verification (offline).

:func:`compose_violations` and :func:`kind_violations` read the committed compose file and
the built kind overlay and list every hop that is not TLS verified against the Vault root
CA: each client of OpenBao, Temporal, Postgres and the codec server names the CA and uses
https / TLS settings, by a name the PKI role of that server may put on its certificate;
Temporal requires client certificates; Postgres' pg_hba rejects non-TLS connections;
OpenBao's listener has TLS; keys are never world-readable and reach only their server.
Mutated copies (TLS removed from one place at a time) must be caught by the same checkers,
so a check cannot silently stop checking. What only a Docker engine or a cluster would show
(the images honouring these settings, the handshakes themselves) is listed in the READMEs.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import shlex
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import pytest

from orders.contract import identities, pki_names
from orders.contract.pki_names import Server
from orders.deploy import common, compose_infra, front, k8s_base, render, temporal_schema, tls
from orders.vault import pki as vault_pki
from tests.support.deploy import COMPOSE, compose_mounts

# --------------------------------------------------------------------------- names


KEY_OWNERS: dict[str, str] = {
    tls.OPENBAO.volume: "openbao",
    tls.POSTGRES.volume: "postgres",
    tls.TEMPORAL.volume: front.NAME,
    tls.TEMPORAL_FRONT.volume: front.NAME,
    tls.TEMPORAL_INTERNODE.volume: "temporal",
    tls.TEMPORAL_UI.volume: "temporal-ui",
    tls.CODEC.volume: identities.CODEC_SERVER.name,
    tls.TEMPORAL_DB.volume: "temporal-db",
}
"""Each server's key volume/Secret and the one service (compose) or pod (kind) that mounts it."""
KEY_DIRS: dict[str, str] = {tls.TEMPORAL_FRONT.volume: front.CLIENT_TLS_DIR}
"""Where a key volume is mounted when not at the TLS directory (the front's client pair)."""


def role_allows(role: dict[str, Any], name: str) -> bool:
    """Whether a PKI role (its body in orders.vault.pki) may put ``name`` on a certificate."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return bool(role["allow_ip_sans"])
    if name == "localhost":
        return bool(role["allow_localhost"])
    return name in role["allowed_domains"] and bool(role["allow_bare_domains"])


ROLES: dict[str, dict[str, Any]] = {
    pki_names.PKI_SERVER_ROLE: vault_pki.server_role(),
    pki_names.PKI_TEMPORAL_ROLE: vault_pki.temporal_server_role(),
    pki_names.PKI_TEMPORAL_UI_ROLE: vault_pki.temporal_ui_role(),
    pki_names.PKI_TEMPORAL_DB_ROLE: vault_pki.single_server_role(pki_names.TEMPORAL_DB_SERVER_NAME),
    pki_names.PKI_CODEC_INGRESS_ROLE: vault_pki.single_server_role(pki_names.CODEC_PUBLIC_HOST),
    pki_names.PKI_INTERNODE_ROLE: vault_pki.internode_role(),
    pki_names.PKI_FRONT_ROLE: vault_pki.front_role(),
}
TEMPORAL_DB = pki_names.TEMPORAL_DB_SERVER_NAME
SPEC_OF: dict[str, tls.CertSpec] = {
    Server.OPENBAO.value: tls.OPENBAO,
    Server.POSTGRES.value: tls.POSTGRES,
    Server.TEMPORAL.value: tls.TEMPORAL,
    Server.CODEC.value: tls.CODEC,
    TEMPORAL_DB: tls.TEMPORAL_DB,
    pki_names.CODEC_PUBLIC_HOST: tls.CODEC_INGRESS,
    front.FRONTEND: tls.TEMPORAL_INTERNODE,
}


def name_ok(server: str, name: str | None) -> bool:
    """``name`` (what a client checks) is one the server's own certificate carries."""
    if not name:
        return False
    spec = SPEC_OF[server]
    on_cert = {spec.common_name} | ({"localhost", "127.0.0.1"} if spec.localhost else set())
    return name in on_cert and role_allows(ROLES[spec.role], name)


def test_every_certificate_is_one_its_role_may_issue() -> None:
    for spec in tls.SPECS:
        role = ROLES[spec.role]
        assert role_allows(role, spec.common_name), spec
        if spec.localhost:
            assert role_allows(role, "localhost")
            assert role_allows(role, "127.0.0.1")
    # Only Temporal's internode certificate has both usages; the front's (temporal.orders.local)
    # is server-only, the UI's client-only.
    assert ROLES[pki_names.PKI_INTERNODE_ROLE]["client_flag"]
    assert ROLES[pki_names.PKI_INTERNODE_ROLE]["server_flag"]
    assert not ROLES[pki_names.PKI_TEMPORAL_ROLE]["client_flag"]
    assert ROLES[pki_names.PKI_TEMPORAL_ROLE]["server_flag"]
    assert ROLES[pki_names.PKI_TEMPORAL_ROLE]["allowed_domains"] == [Server.TEMPORAL.value]
    assert not ROLES[pki_names.PKI_TEMPORAL_ROLE]["allow_localhost"]
    assert not ROLES[pki_names.PKI_TEMPORAL_ROLE]["allow_ip_sans"]
    assert not ROLES[pki_names.PKI_SERVER_ROLE]["client_flag"]
    assert not ROLES[pki_names.PKI_TEMPORAL_UI_ROLE]["server_flag"]
    # temporal-db's and the Ingress's names: each allowed by its own role and no other, and
    # those roles allow nothing else (server usage only).
    for spec in (tls.TEMPORAL_DB, tls.CODEC_INGRESS):
        allowing = [r for r, body in ROLES.items() if role_allows(body, spec.common_name)]
        assert allowing == [spec.role], spec.name
        role = ROLES[spec.role]
        assert role["allowed_domains"] == [spec.common_name]
        assert role["server_flag"]
        for flag in (
            "client_flag",
            "allow_localhost",
            "allow_ip_sans",
            "allow_subdomains",
            "allow_glob_domains",
        ):
            assert not role[flag], (spec.name, flag)
    assert [s.name for s in tls.SPECS if not s.compose] == [tls.CODEC_INGRESS.name]


# --------------------------------------------------------------------------- shared rules


Need = Callable[[bool, str], None]


def check_worker_env(
    need: Need, env: dict[str, str], identity: identities.Identity, mounts: set[str]
) -> None:
    """An identity's ``ORDERS_*``: https Vault, mTLS Temporal, verify-full Postgres."""
    ca = env.get("ORDERS_VAULT_CACERT")
    need(bool(ca) and _under(ca, mounts), "ORDERS_VAULT_CACERT set and mounted")
    vault = urlsplit(env.get("ORDERS_VAULT_ADDR", ""))
    need(vault.scheme == "https", "ORDERS_VAULT_ADDR is https")
    need(name_ok(Server.OPENBAO, vault.hostname), "ORDERS_VAULT_ADDR host on OpenBao's cert")
    if identity.is_worker:
        ca = env.get("ORDERS_TEMPORAL_TLS_CA_FILE")
        need(bool(ca) and _under(ca, mounts), "ORDERS_TEMPORAL_TLS_CA_FILE set and mounted")
        need(
            name_ok(Server.TEMPORAL, env.get("ORDERS_TEMPORAL_TLS_SERVER_NAME")),
            "ORDERS_TEMPORAL_TLS_SERVER_NAME on Temporal's cert",
        )
    if identity.has_db_role:
        ca = env.get("ORDERS_DB_SSL_CA_FILE")
        need(bool(ca) and _under(ca, mounts), "ORDERS_DB_SSL_CA_FILE set and mounted")
        need(name_ok(Server.POSTGRES, env.get("ORDERS_DB_HOST")), "ORDERS_DB_HOST on the cert")
    if identity.kind is identities.Kind.CODEC:
        for key in ("ORDERS_CODEC_TLS_CERT", "ORDERS_CODEC_TLS_KEY"):
            need(_under(env.get(key, ""), mounts), f"{key} set and mounted")


def check_temporal_server_env(need: Need, env: dict[str, str], mounts: set[str]) -> None:
    """Native TLS, frontend and internode, client certificates required and verified against
    Temporal's internode CA only (the front's and its own; no identity's)."""
    need(env.get("TEMPORAL_TLS_REQUIRE_CLIENT_AUTH") == "true", "requireClientAuth")
    for key in (
        "TEMPORAL_TLS_SERVER_CA_CERT",
        "TEMPORAL_TLS_CLIENT1_CA_CERT",
        "TEMPORAL_TLS_CLIENT2_CA_CERT",
        "TEMPORAL_TLS_CA",
    ):
        need(
            env.get(key) == tls.INTERNODE_CA_PATH and _under(tls.INTERNODE_CA_PATH, mounts),
            f"{key} = the internode CA only",
        )
    for key in ("TEMPORAL_TLS_SERVER_CERT", "TEMPORAL_TLS_FRONTEND_CERT", "TEMPORAL_TLS_CERT"):
        need(env.get(key) == tls.SERVER_CERT_PATH, f"{key} = its PKI certificate")
    for key in ("TEMPORAL_TLS_SERVER_KEY", "TEMPORAL_TLS_FRONTEND_KEY", "TEMPORAL_TLS_KEY"):
        need(env.get(key) == tls.SERVER_KEY_PATH, f"{key} = its own 0600 key copy")
    for key in (
        "TEMPORAL_TLS_INTERNODE_SERVER_NAME",
        "TEMPORAL_TLS_FRONTEND_SERVER_NAME",
        "TEMPORAL_TLS_SERVER_NAME",
    ):
        need(name_ok(front.FRONTEND, env.get(key)), f"{key} on its internode certificate")
    for key in (
        "TEMPORAL_TLS_INTERNODE_DISABLE_HOST_VERIFICATION",
        "TEMPORAL_TLS_FRONTEND_DISABLE_HOST_VERIFICATION",
    ):
        need(env.get(key) == "false", f"{key} = false")
    need(env.get("SSL_CERT_FILE") == tls.CA_PATH, "SSL_CERT_FILE = the CA (JWKS over https)")
    refresh = env.get("TEMPORAL_TLS_REFRESH_INTERVAL", "")
    need(bool(re.fullmatch(r"[1-9][0-9]*[smh]", refresh)), "re-reads re-issued certificates")
    # temporal-db: the server's persistence (config template SQL_*: verify-full), by
    # temporal-db's name (the schema step: check_schema_env).
    need(name_ok(TEMPORAL_DB, env.get("POSTGRES_SEEDS")), "POSTGRES_SEEDS on temporal-db's cert")
    need(env.get("SQL_TLS_ENABLED") == "true", "SQL_TLS_ENABLED")
    need(env.get("SQL_HOST_VERIFICATION") == "true", "SQL_HOST_VERIFICATION (verify-full)")
    need(env.get("SQL_CA") == tls.CA_PATH, "SQL_CA = the CA")
    need(name_ok(TEMPORAL_DB, env.get("SQL_HOST_NAME")), "SQL_HOST_NAME on temporal-db's cert")


def check_schema_env(need: Need, env: dict[str, str]) -> None:
    """temporal-sql-tool (the temporal-schema step): TLS, host verification, the CA, the name."""
    need(env.get("SQL_TLS") == "true", "schema tool: SQL_TLS")
    need(env.get("SQL_TLS_DISABLE_HOST_VERIFICATION") == "false", "schema tool: host verification")
    need(env.get("SQL_TLS_CA_FILE") == tls.CA_PATH, "schema tool: the CA")
    need(name_ok(TEMPORAL_DB, env.get("SQL_HOST")), "schema tool dials temporal-db's name")
    need(name_ok(TEMPORAL_DB, env.get("SQL_TLS_SERVER_NAME")), "schema tool: temporal-db's name")


def check_temporal_ui_env(need: Need, env: dict[str, str], mounts: set[str]) -> None:
    """The UI: an mTLS client of the frontend with its own certificate."""
    need(env.get("TEMPORAL_TLS_CA") == tls.CA_PATH and _under(tls.CA_PATH, mounts), "UI CA")
    need(env.get("TEMPORAL_TLS_CERT") == tls.SERVER_CERT_PATH, "UI client certificate")
    need(env.get("TEMPORAL_TLS_KEY") == tls.SERVER_KEY_PATH, "UI client key")
    need(name_ok(Server.TEMPORAL, env.get("TEMPORAL_TLS_SERVER_NAME")), "UI checks the name")
    need(env.get("TEMPORAL_TLS_ENABLE_HOST_VERIFICATION") == "true", "UI host verification")
    codec = urlsplit(env.get("TEMPORAL_CODEC_ENDPOINT", ""))
    need(codec.scheme == "https", "codec endpoint is https")


def check_postgres_args(need: Need, args: str, hba_path: str) -> None:
    """``postgres -c ...``: TLS on with the copied PKI pair and our pg_hba."""
    words = shlex.split(args)
    settings = {words[i + 1] for i, w in enumerate(words[:-1]) if w == "-c"}
    need("ssl=on" in settings, "ssl=on")
    need(f"ssl_cert_file={tls.SERVER_CERT_PATH}" in settings, "ssl_cert_file")
    need(f"ssl_key_file={tls.SERVER_KEY_PATH}" in settings, "ssl_key_file (own 0600 copy)")
    need(f"hba_file={hba_path}" in settings, "hba_file = the TLS-only pg_hba")


def check_pg_hba(need: Need, text: str) -> None:
    """The superuser never over TCP; every other TCP rule ``hostssl`` with SCRAM.

    First TCP rule: ``host all postgres all reject`` (the superuser: socket only); then a
    catch-all ``hostnossl ... reject``; then ``hostssl`` rules with ``scram-sha-256`` only.
    """
    rules = [line.split() for line in text.splitlines() if line.strip() and line[0] != "#"]
    tcp = [r for r in rules if r[0] != "local"]
    superuser_rejected = bool(tcp) and tcp[0] == ["host", "all", "postgres", "all", "reject"]
    need(superuser_rejected, "the superuser rejected on every TCP line, first")
    rest = tcp[1:] if superuser_rejected else tcp
    need(bool(rest) and rest[0][0] == "hostnossl" and rest[0][-1] == "reject", "hostnossl reject")
    need(rest[0][1:4] == ["all", "all", "all"] if rest else False, "reject covers everything")
    need(all(r[0] in ("hostssl", "hostnossl") for r in rest), "no plain `host` rules")
    need(all(r[-1] == "reject" for r in rest if r[0] == "hostnossl"), "hostnossl only rejects")
    need(all(r[-1] == "scram-sha-256" for r in rest if r[0] == "hostssl"), "hostssl: SCRAM")
    need(all(r[-1] not in ("trust", "password", "md5") for r in rules), "no trust/clear passwords")


def check_openbao_config(need: Need, hcl: str) -> None:
    """The listener serves TLS with the copied PKI pair (no ``tls_disable``)."""
    need("tls_disable" not in hcl, "no tls_disable")
    need(f'tls_cert_file   = "{tls.SERVER_CERT_PATH}"' in hcl, "listener tls_cert_file")
    need(f'tls_key_file    = "{tls.SERVER_KEY_PATH}"' in hcl, "listener tls_key_file")
    need('tls_min_version = "tls12"' in hcl, "TLS 1.2 at least")
    need(not re.search(r"http://", hcl), "no http:// address")


def _under(path: str | None, mounts: Iterable[str]) -> bool:
    return bool(path) and any(str(path).startswith(m.rstrip("/") + "/") for m in mounts)


def _script_copies_key(script: str) -> bool:
    """The entrypoint copies the handed-over key 0600 (umask 077) into its own tmpfs."""
    return tls.copy_script().replace("$$", "$") in script.replace("$$", "$")


def reload_script_ok(script: str) -> bool:
    """The reload script copies the key 0600, watches, re-copies and tells the server."""
    copies = "umask 077" in script and 'cat "$src/tls.key" > "$live/tls.key"' in script
    watches = 'while kill -0 "$pid"' in script and 'cmp -s "$src/tls.crt"' in script
    tells = 'hup) kill -HUP "$pid"' in script and "pg) pg_ctl reload" in script
    return copies and watches and tells


def runs_reload_script(argv: list[str], mode: str, script: str) -> bool:
    """``argv`` runs the server under the reload script (``script``) in ``mode``."""
    return argv[:3] == ["/bin/sh", tls.RELOAD_SCRIPT_PATH, mode] and reload_script_ok(script)


# --------------------------------------------------------------------------- compose


def _aliases(service: dict[str, Any], network: str | None = None) -> list[str]:
    """The service's names on ``network`` (default: every network; none for a plain list)."""
    networks = service.get("networks", {})
    if not isinstance(networks, dict):
        return []
    return [
        a
        for net, conf in networks.items()
        if network in (None, net)
        for a in (conf or {}).get("aliases", [])
    ]


def _option(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]


def config_text(compose: dict[str, Any], name: str) -> str:
    """The text of a top-level compose config (inline ``content`` or a ``file``)."""
    conf = compose.get("configs", {}).get(name, {})
    if "content" in conf:
        return str(conf["content"])
    return (common.ROOT / conf["file"]).read_text() if "file" in conf else ""


def _mounted_config(compose: dict[str, Any], service: dict[str, Any], target: str) -> str:
    """The text of the config ``service`` mounts at ``target`` ("" if none)."""
    sources = {c["target"]: c["source"] for c in service.get("configs", [])}
    return config_text(compose, sources.get(target, ""))


def compose_violations(compose: dict[str, Any]) -> list[str]:
    """Every hop of ``compose`` that is not TLS verified against the Vault root CA."""
    out: list[str] = []
    services: dict[str, Any] = compose["services"]

    def reloads(service: dict[str, Any], mode: str) -> bool:
        script = _mounted_config(compose, service, tls.RELOAD_SCRIPT_PATH)
        return runs_reload_script(service.get("entrypoint", []), mode, script)

    def check(name: str) -> Need:
        def need(ok: bool, what: str) -> None:
            if not ok:
                out.append(f"{name}: {what}")

        return need

    # Identities: workers, codec server, migrations.
    for ident in common.workloads():
        svc = services[ident.name]
        mounts = compose_mounts(svc)
        need = check(ident.name)
        need(mounts.get(tls.CA_DIR) == "tls-ca", "the CA volume")
        check_worker_env(need, svc["environment"], ident, set(mounts))
        if ident.kind is identities.Kind.CODEC:
            need(mounts.get(tls.TLS_DIR) == tls.CODEC.volume, "its own certificate volume")
            need(svc["healthcheck"]["test"][-1].count("ssl.create_default_context") == 1, "hc")

    # The setup steps: OpenBao by name over https, CA files; Postgres verify-full.
    for step in ("openbao-init", "pki", "setup"):
        args = services[step]["command"]
        need = check(step)
        [vault] = _option(args, "--vault-addr") or [""]
        need(urlsplit(vault).scheme == "https", "--vault-addr https")
        need(name_ok(Server.OPENBAO, urlsplit(vault).hostname), "--vault-addr host on its cert")
        cas = _option(args, "--vault-ca-file")
        mounts = compose_mounts(services[step])
        need(
            any(
                c.rsplit("/", 1) == [d, tls.CA_FILE] and mounts.get(d) == "tls-ca"
                for c in cas
                for d in mounts
            ),
            "--vault-ca-file the Vault root CA (in the CA volume)",
        )
        need(all(_under(c, mounts) for c in cas), "CA files mounted")
    args = services["setup"]["command"]
    need = check("setup")
    need(name_ok(Server.POSTGRES, (_option(args, "--pg-host") or [""])[0]), "--pg-host name")
    need(_option(args, "--pg-ca-file") == [tls.CA_PATH], "--pg-ca-file (verify-full)")
    need(_option(args, "--vault-pg-ca-file") == [tls.CA_PATH], "Vault's DB plugin verify-full")
    need(compose_mounts(services["openbao"]).get(tls.CA_DIR) == "tls-ca", "OpenBao has the CA")

    # Temporal and its UI.
    temporal = services["temporal"]
    need = check("temporal")
    mounts = compose_mounts(temporal)
    check_temporal_server_env(need, temporal["environment"], set(mounts))
    need(mounts.get(tls.TLS_DIR) == tls.TEMPORAL_INTERNODE.volume, "its internode certificate")
    need(reloads(temporal, tls.NO_RELOAD), "key copied 0600, re-copied when re-issued")
    db_aliases = _aliases(services["temporal-db"])
    need(temporal["environment"].get("POSTGRES_SEEDS") in db_aliases, "temporal-db by its name")
    hc = temporal["healthcheck"]["test"]
    need(_option(hc, "--tls-ca-path") == [tls.INTERNODE_CA_PATH], "healthcheck --tls-ca-path")
    need(_option(hc, "--tls-cert-path") == [tls.SERVER_CERT_PATH], "healthcheck client cert")
    need(_option(hc, "--tls-key-path") == [tls.SERVER_KEY_PATH], "healthcheck client key")
    need(name_ok(front.FRONTEND, (_option(hc, "--tls-server-name") or [""])[0]), "healthcheck")
    need(front.FRONTEND in _aliases(temporal), "reachable by its certificate's name")
    schema = services[temporal_schema.NAME]
    need = check(temporal_schema.NAME)
    check_schema_env(need, schema["environment"])
    need(compose_mounts(schema).get(tls.CA_DIR) == "tls-ca", "the CA")
    need(schema["environment"].get("SQL_HOST") in db_aliases, "temporal-db by its name")
    # Every caller dials the name the front serves (checked in test_front.py).
    aliases = _aliases(services[front.NAME])
    ui = services["temporal-ui"]
    need = check("temporal-ui")
    mounts = compose_mounts(ui)
    check_temporal_ui_env(need, ui["environment"], set(mounts))
    need(mounts.get(tls.TLS_DIR) == tls.TEMPORAL_UI.volume, "its own client certificate")
    need(_script_copies_key(ui["entrypoint"][-1]), "key copied 0600 before start")
    need(ui["environment"]["TEMPORAL_ADDRESS"].split(":")[0] in aliases, "dials by name")

    # The application's Postgres and Temporal's own.
    for name, spec in (("postgres", tls.POSTGRES), ("temporal-db", tls.TEMPORAL_DB)):
        pg = services[name]
        need = check(name)
        argv = pg.get("entrypoint", [])
        need(reloads(pg, tls.PG_RELOAD), "key copied 0600, reloaded when re-issued")
        need(argv[3:5] == ["docker-entrypoint.sh", "postgres"], "runs postgres")
        check_postgres_args(need, shlex.join(argv[5:]), compose_infra.PG_HBA_PATH)
        check_pg_hba(need, _mounted_config(compose, pg, compose_infra.PG_HBA_PATH))
        need(compose_mounts(pg).get(tls.TLS_DIR) == spec.volume, "its own certificate")
        pg_aliases = _aliases(pg)
        need(spec.common_name in pg_aliases, "reachable by its certificate's name")

    # OpenBao.
    bao = services["openbao"]
    need = check("openbao")
    check_openbao_config(need, config_text(compose, "openbao-config"))
    need(reloads(bao, tls.HUP), "key copied 0600, reloaded when re-issued")
    need(compose_mounts(bao).get(tls.TLS_DIR) == tls.OPENBAO.volume, "its own certificate")
    need(any(a.startswith("-address=https://") for a in bao["healthcheck"]["test"]), "https hc")
    need(Server.OPENBAO.value in _aliases(bao, "vault"), "reachable by its certificate's name")

    # Keys: each server's volume reaches only that server and the writers; the writer
    # gives a key group read only for the group its server runs as.
    writers = {"tls-bootstrap", "pki"}
    owner = KEY_OWNERS
    for name, svc in services.items():
        for target, source in compose_mounts(svc).items():
            if source in owner and name not in writers:
                check(name)(owner[source] == name, f"mounts another server's key ({source})")
                where = KEY_DIRS.get(source, tls.TLS_DIR)
                check(name)(target == where, "keys only at the TLS directory")
    groups = dict(g.split("=") for g in _option(services["pki"]["command"], "--group"))
    for cert, gid in groups.items():
        server = services[owner[f"tls-{cert}"]]
        check("pki")(str(server["user"]).split(":")[1] == gid, f"{cert}: group of its server")
    check("pki")(
        set(services["pki"].get("group_add", [])) <= set(groups.values()), "only server groups"
    )
    return out


def test_compose_is_tls_on_every_hop() -> None:
    assert compose_violations(COMPOSE) == []


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        if value is None:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return mutate


def _edit_command(service: str, flag: str, value: str | None) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        args = doc["services"][service]["command"]
        i = args.index(flag)
        if value is None:
            del args[i : i + 2]
        else:
            args[i + 1] = value

    return mutate


def _edit_config(name: str, old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        content = config_text(doc, name)
        assert old in content
        doc["configs"][name] = {"content": content.replace(old, new)}

    return mutate


def _edit_entrypoint(service: str, old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        argv = doc["services"][service]["entrypoint"]
        assert old in argv
        doc["services"][service]["entrypoint"] = [new if a == old else a for a in argv]

    return mutate


def _mount_other_key(doc: dict[str, Any]) -> None:
    doc["services"][identities.ORDER_NOTIFY.name]["volumes"].append(
        {"type": "volume", "source": tls.POSTGRES.volume, "target": tls.TLS_DIR}
    )


WORKER = identities.ORDER_NOTIFY.name
COMPOSE_MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "worker without Vault CA": _set(
        ["services", WORKER, "environment", "ORDERS_VAULT_CACERT"], None
    ),
    "worker Vault over http": _set(
        ["services", WORKER, "environment", "ORDERS_VAULT_ADDR"], "http://openbao.orders.local:8200"
    ),
    "worker Vault by another name": _set(
        ["services", WORKER, "environment", "ORDERS_VAULT_ADDR"], "https://identity:8200"
    ),
    "worker without Temporal TLS": _set(
        ["services", WORKER, "environment", "ORDERS_TEMPORAL_TLS_CA_FILE"], None
    ),
    "worker checks a wrong Temporal name": _set(
        ["services", WORKER, "environment", "ORDERS_TEMPORAL_TLS_SERVER_NAME"], "temporal"
    ),
    "worker without Postgres CA": _set(
        ["services", WORKER, "environment", "ORDERS_DB_SSL_CA_FILE"], None
    ),
    "worker Postgres by service name": _set(
        ["services", WORKER, "environment", "ORDERS_DB_HOST"], "postgres"
    ),
    "codec server over http": _set(
        ["services", identities.CODEC_SERVER.name, "environment", "ORDERS_CODEC_TLS_CERT"], None
    ),
    "Temporal without client auth": _set(
        ["services", "temporal", "environment", "TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"], "false"
    ),
    "Temporal internode without host verification": _set(
        [
            "services",
            "temporal",
            "environment",
            "TEMPORAL_TLS_INTERNODE_DISABLE_HOST_VERIFICATION",
        ],
        "true",
    ),
    "Temporal healthcheck without client cert": lambda doc: doc["services"]["temporal"][
        "healthcheck"
    ].update(test=doc["services"]["temporal"]["healthcheck"]["test"][:9]),
    "UI without client cert": _set(
        ["services", "temporal-ui", "environment", "TEMPORAL_TLS_CERT"], None
    ),
    "setup Vault over http": _edit_command("setup", "--vault-addr", "http://127.0.0.1:8200"),
    "setup Postgres without verify-full": _edit_command("setup", "--pg-ca-file", None),
    "Vault's DB plugin without TLS": _edit_command("setup", "--vault-pg-ca-file", None),
    "unseal without the CA": lambda doc: doc["services"]["openbao-init"].update(
        command=[a for a in doc["services"]["openbao-init"]["command"] if a != tls.CA_PATH]
    ),
    "pg_hba allows plain TCP": _edit_config(
        "postgres-hba", "hostnossl  all       all       all      reject", "host all all all trust"
    ),
    "pg_hba with a plain host rule": _edit_config("postgres-hba", "hostssl ", "host    "),
    "pg_hba lets the superuser in over TCP": _edit_config(
        "postgres-hba", "host       all       postgres  all      reject\n", ""
    ),
    "pg_hba with md5 over TLS": _edit_config(
        "postgres-hba", "all      scram-sha-256\n", "all md5\n"
    ),
    "Postgres ssl off": _edit_entrypoint("postgres", "ssl=on", "ssl=off"),
    "key not copied 0600": _edit_config("tls-reload", "umask 077 && ", ""),
    "the reload script never signals": _edit_config(
        "tls-reload", 'hup) kill -HUP "$pid"', "hup) :"
    ),
    "OpenBao tls_disable": _edit_config(
        "openbao-config", 'tls_min_version = "tls12"', "tls_disable = true"
    ),
    "OpenBao never reloads": _edit_entrypoint("openbao", tls.HUP, tls.NO_RELOAD),
    "a worker mounts Postgres' key": _mount_other_key,
    "a worker mounts temporal-db's key": lambda doc: doc["services"][WORKER]["volumes"].append(
        {"type": "volume", "source": tls.TEMPORAL_DB.volume, "target": tls.TLS_DIR}
    ),
    "Temporal persistence without TLS": _set(
        ["services", "temporal", "environment", "SQL_TLS_ENABLED"], "false"
    ),
    "Temporal persistence without host verification": _set(
        ["services", "temporal", "environment", "SQL_HOST_VERIFICATION"], "false"
    ),
    "Temporal persistence without the CA": _set(
        ["services", "temporal", "environment", "SQL_CA"], None
    ),
    "schema tool without TLS": _set(
        ["services", temporal_schema.NAME, "environment", "SQL_TLS"], None
    ),
    "schema tool without host verification": _set(
        ["services", temporal_schema.NAME, "environment", "SQL_TLS_DISABLE_HOST_VERIFICATION"],
        "true",
    ),
    "Temporal dials temporal-db by service name": _set(
        ["services", "temporal", "environment", "POSTGRES_SEEDS"], "temporal-db"
    ),
    "temporal-db ssl off": _edit_entrypoint("temporal-db", "ssl=on", "ssl=off"),
    "temporal-db without the reload script": lambda doc: doc["services"]["temporal-db"].update(
        entrypoint=doc["services"]["temporal-db"]["entrypoint"][3:]
    ),
    "temporal-db without the TLS-only pg_hba": _set(["services", "temporal-db", "configs"], []),
    "temporal-db not reachable by its name": _set(
        ["services", "temporal-db", "networks"], ["temporal-db", "temporal-schema"]
    ),
    "Postgres never reloads": _edit_entrypoint("postgres", tls.PG_RELOAD, tls.NO_RELOAD),
    "temporal-db never reloads": _edit_entrypoint("temporal-db", tls.PG_RELOAD, tls.NO_RELOAD),
    "Temporal never re-reads its certificate": _set(
        ["services", "temporal", "environment", "TEMPORAL_TLS_REFRESH_INTERVAL"], "0s"
    ),
    "Temporal never re-copies its certificate": lambda doc: doc["services"]["temporal"].update(
        entrypoint=[
            "/bin/sh",
            "-c",
            tls.copy_then(
                'POSTGRES_PWD="$$(cat /run/secrets/temporal-db-password)" '
                "exec /etc/temporal/entrypoint.sh"
            ),
        ]
    ),
    "key group of another service": lambda doc: doc["services"]["pki"].update(
        command=[
            "postgres=1000" if a == "postgres=999" else a for a in doc["services"]["pki"]["command"]
        ]
    ),
}


@pytest.mark.parametrize("mutation", sorted(COMPOSE_MUTATIONS))
def test_compose_checker_catches(mutation: str) -> None:
    doc = copy.deepcopy(COMPOSE)
    COMPOSE_MUTATIONS[mutation](doc)
    assert compose_violations(doc), mutation


# --------------------------------------------------------------------------- kind


def _objects_of(objects: list[dict[str, Any]], kind: str) -> dict[tuple[str, str], Any]:
    return {
        (o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in objects
        if o["kind"] == kind
    }


def _env(
    container: dict[str, Any], configmaps: dict[tuple[str, str], Any], ns: str
) -> dict[str, str]:
    env: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        env |= configmaps[(ns, ref["configMapRef"]["name"])]["data"]
    env |= {e["name"]: e.get("value", "") for e in container.get("env", []) if "value" in e}
    return env


def _pod_mounts(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """mountPath -> volume of one container."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    return {m["mountPath"]: volumes.get(m["name"], {}) for m in container.get("volumeMounts", [])}


def _host_aliases(pod: dict[str, Any]) -> dict[str, str]:
    return {h: a["ip"] for a in pod.get("hostAliases", []) for h in a["hostnames"]}


def kind_violations(objects: list[dict[str, Any]]) -> list[str]:
    """Every hop of the built kind overlay that is not TLS verified against the root CA."""
    out: list[str] = []
    configmaps = _objects_of(objects, "ConfigMap")
    services = _objects_of(objects, "Service")
    infra = common.INFRA_NAMESPACE
    ip_of = {
        Server.OPENBAO.value: services[(infra, "openbao")]["spec"].get("clusterIP"),
        Server.POSTGRES.value: services[(infra, "postgres")]["spec"].get("clusterIP"),
        TEMPORAL_DB: services[(infra, "temporal-db")]["spec"].get("clusterIP"),
    }
    setup_ip = services[(infra, "openbao-setup")]["spec"].get("clusterIP")

    def check(name: str) -> Need:
        def need(ok: bool, what: str) -> None:
            if not ok:
                out.append(f"{name}: {what}")

        return need

    def ca_mounted(pod: dict[str, Any], c: dict[str, Any]) -> bool:
        vol = _pod_mounts(pod, c).get(tls.CA_DIR, {})
        cm = vol.get("configMap", {})
        return cm.get("name") == k8s_base.CA_CONFIGMAP and [i["key"] for i in cm["items"]] == [
            tls.CA_FILE
        ]

    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]
    by_name = {o["metadata"]["name"]: o for o in workloads}
    # The application's pods.
    for ident in common.workloads():
        obj = by_name[ident.name]
        pod = obj["spec"]["template"]["spec"]
        [c] = pod["containers"]
        need = check(ident.name)
        need(ca_mounted(pod, c), "the CA ConfigMap (ca.pem only) at the CA directory")
        env = _env(c, configmaps, identities.K8S_NAMESPACE)
        check_worker_env(need, env, ident, set(_pod_mounts(pod, c)))
        aliases = _host_aliases(pod)
        for server in (Server.OPENBAO.value, Server.POSTGRES.value):
            if server in (urlsplit(env["ORDERS_VAULT_ADDR"]).hostname, env["ORDERS_DB_HOST"]):
                need(aliases.get(server) == ip_of[server], f"{server} -> its Service")
        if ident.kind is identities.Kind.CODEC:
            vol = _pod_mounts(pod, c).get(tls.TLS_DIR, {})
            need(vol.get("secret", {}).get("secretName") == tls.CODEC.volume, "its own Secret")

    # The setup Jobs reach OpenBao (sealed or not) by name, verified.
    for job in ("openbao-unseal", "vault-pki", "vault-configure"):
        pod = by_name[job]["spec"]["template"]["spec"]
        c = pod["containers"][0]
        args = c["command"]
        need = check(job)
        [vault] = _option(args, "--vault-addr") or [""]
        need(urlsplit(vault).scheme == "https", "--vault-addr https")
        need(name_ok(Server.OPENBAO, urlsplit(vault).hostname), "--vault-addr on the cert")
        need(_host_aliases(pod).get(Server.OPENBAO.value) == setup_ip, "OpenBao -> setup Service")
        need(tls.CA_PATH in _option(args, "--vault-ca-file"), "--vault-ca-file the root CA")
        need(ca_mounted(pod, c), "the CA ConfigMap")
    args = by_name["vault-configure"]["spec"]["template"]["spec"]["containers"][0]["command"]
    need = check("vault-configure")
    need(name_ok(Server.POSTGRES, (_option(args, "--pg-host") or [""])[0]), "--pg-host name")
    need(_option(args, "--pg-ca-file") == [tls.CA_PATH], "--pg-ca-file (verify-full)")
    need(_option(args, "--vault-pg-ca-file") == [tls.CA_PATH], "Vault's DB plugin verify-full")

    # Servers.
    def kind_reloads(pod: dict[str, Any], c: dict[str, Any], mode: str) -> bool:
        vol = _pod_mounts(pod, c).get(tls.RELOAD_DIR, {})
        cm = configmaps.get((infra, vol.get("configMap", {}).get("name", "")), {})
        script = cm.get("data", {}).get(tls.RELOAD_SCRIPT, "")
        return runs_reload_script(c.get("command", []), mode, script)

    def server_pod(name: str, container: str) -> tuple[dict[str, Any], dict[str, Any]]:
        pod = by_name[name]["spec"]["template"]["spec"]
        return pod, next(c for c in pod["containers"] if c["name"] == container)

    pod, c = server_pod("temporal", "temporal")
    need = check("temporal")
    env = _env(c, configmaps, infra)
    check_temporal_server_env(need, env, set(_pod_mounts(pod, c)))
    need(kind_reloads(pod, c, tls.NO_RELOAD), "key copied 0600, re-copied when re-issued")
    seeds = env.get("POSTGRES_SEEDS", "")
    need(_host_aliases(pod).get(seeds) == ip_of[TEMPORAL_DB], "temporal-db -> its Service")
    job = _objects_of(objects, "Job")[(infra, temporal_schema.NAME)]
    pod = job["spec"]["template"]["spec"]
    [c] = pod["containers"]
    need = check(temporal_schema.NAME)
    check_schema_env(need, _env(c, configmaps, infra))
    need(ca_mounted(pod, c), "the CA")
    host = _env(c, configmaps, infra).get("SQL_HOST", "")
    need(_host_aliases(pod).get(host) == ip_of[TEMPORAL_DB], "temporal-db -> its Service")
    pod, c = server_pod("temporal-ui", "temporal-ui")
    need = check("temporal-ui")
    check_temporal_ui_env(need, _env(c, configmaps, infra), set(_pod_mounts(pod, c)))
    need(_script_copies_key(c["command"][-1]), "key copied 0600 before start")
    for name in ("postgres", "temporal-db"):
        pod, c = server_pod(name, "postgres")
        need = check(name)
        need(kind_reloads(pod, c, tls.PG_RELOAD), "key copied 0600, reloaded when re-issued")
        need(c["command"][3:5] == ["docker-entrypoint.sh", "postgres"], "runs postgres")
        hba_vol = _pod_mounts(pod, c).get(compose_infra.PG_HBA_PATH.rsplit("/", 1)[0], {})
        check_postgres_args(need, shlex.join(c["command"][5:]), compose_infra.PG_HBA_PATH)
        hba = configmaps.get((infra, hba_vol.get("configMap", {}).get("name", "")), {})
        check_pg_hba(need, hba.get("data", {}).get("pg_hba.conf", ""))
    pod, c = server_pod("openbao", "openbao")
    need = check("openbao")
    check_openbao_config(need, configmaps[(infra, "openbao-config")]["data"]["config.hcl"])
    need(kind_reloads(pod, c, tls.HUP), "key copied 0600, reloaded when re-issued")
    for probe in ("readinessProbe", "livenessProbe"):
        need(c[probe]["httpGet"].get("scheme") == "HTTPS", f"{probe} over HTTPS")
    need(_host_aliases(pod).get(Server.POSTGRES.value) == ip_of[Server.POSTGRES.value], "pg")

    # Keys: each TLS Secret is mounted owner-read-only, and by its one server only.
    # The Ingress certificate is read by the ingress controller, mounted by no pod.
    owner = KEY_OWNERS | {tls.CODEC_INGRESS.volume: ""}
    for obj in workloads:
        for vol in obj["spec"]["template"]["spec"].get("volumes", []):
            secret = vol.get("secret", {}).get("secretName")
            if secret in owner:
                need = check(obj["metadata"]["name"])
                need(owner[secret] == obj["metadata"]["name"], f"mounts {secret}")
                need(vol["secret"].get("defaultMode") == 0o400, f"{secret} mode 0400")

    # The ingress speaks HTTPS to the codec server and verifies it.
    ingress = _objects_of(objects, "Ingress")[(identities.K8S_NAMESPACE, "codec-server")]
    notes = ingress["metadata"].get("annotations", {})
    need = check("codec ingress")
    need(notes.get("nginx.ingress.kubernetes.io/backend-protocol") == "HTTPS", "HTTPS upstream")
    need(notes.get("nginx.ingress.kubernetes.io/proxy-ssl-verify") == "on", "verified")
    need(
        name_ok(Server.CODEC, notes.get("nginx.ingress.kubernetes.io/proxy-ssl-name")),
        "by the codec server's certificate name",
    )
    # Browsers -> the ingress: HTTPS for every host it serves, with the certificate of role
    # codec-ingress (that host only).
    hosts = {r.get("host") for r in ingress["spec"].get("rules", [])}
    served = {
        h: t.get("secretName") for t in ingress["spec"].get("tls", []) for h in t.get("hosts", [])
    }
    need(bool(hosts) and hosts <= set(served), "HTTPS for every host")
    for host, secret in served.items():
        need(name_ok(pki_names.CODEC_PUBLIC_HOST, host), f"{host} on its certificate")
        need(secret == tls.CODEC_INGRESS.volume, f"{host}: the codec-ingress certificate")

    # The vault-pki Job issues every certificate into its server's namespace, and its Role
    # there may update exactly that Secret.
    pki_job: dict[str, Any] = by_name["vault-pki"]
    pki_args: list[str] = pki_job["spec"]["template"]["spec"]["containers"][0]["command"]
    need = check("vault-pki")
    where = dict(pair.split("=", 1) for pair in _option(pki_args, "--k8s-namespace"))
    certs = _option(pki_args, "--cert") or [spec.name for spec in tls.SPECS]
    roles = _objects_of(objects, "Role")
    for spec in tls.SPECS:
        ns = where.get(spec.name, pki_job["metadata"]["namespace"])
        need(spec.name in certs, f"issues {spec.name}")
        rules = roles.get((ns, "vault-pki"), {}).get("rules", [])
        may = {
            n
            for r in rules
            if "secrets" in r["resources"] and "update" in r["verbs"]
            for n in r.get("resourceNames", [])
        }
        need(spec.volume in may, f"may update {ns}/{spec.volume}")
        users = [o for o in workloads if owner.get(spec.volume) == o["metadata"]["name"]]
        need(all(o["metadata"]["namespace"] == ns for o in users), f"{spec.volume} beside its pod")
    return out


def test_kind_overlay_is_tls_on_every_hop(kind_objects: list[dict[str, Any]]) -> None:
    assert kind_violations(kind_objects) == []


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def _container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    obj = next(
        o
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet", "Job") and o["metadata"]["name"] == name
    )
    c: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return c


def _kind_env(name: str, key: str, value: str | None) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        c = _container(objects, name)
        c["env"] = [e for e in c["env"] if e["name"] != key]
        if value is not None:
            c["env"].append({"name": key, "value": value})

    return mutate


def _worker_env(key: str, value: str | None) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        data = _find(objects, "ConfigMap", k8s_base.ENV_CONFIGMAP)["data"]
        if value is None:
            del data[key]
        else:
            data[key] = value

    return mutate


def _kind_arg(name: str, flag: str, value: str | None) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        args = _container(objects, name)["command"]
        i = args.index(flag)
        if value is None:
            del args[i : i + 2]
        else:
            args[i + 1] = value

    return mutate


def _kind_script(name: str, old: str, new: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        c = _container(objects, name)
        assert old in c["command"]
        c["command"] = [new if a == old else a for a in c["command"]]

    return mutate


def _kind_config(name: str, key: str, old: str, new: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        data = _find(objects, "ConfigMap", name)["data"]
        assert old in data[key]
        data[key] = data[key].replace(old, new)

    return mutate


def _secret_mode(objects: list[dict[str, Any]]) -> None:
    obj = _find(objects, "StatefulSet", "postgres")
    for vol in obj["spec"]["template"]["spec"]["volumes"]:
        if vol.get("secret", {}).get("secretName") == tls.POSTGRES.volume:
            vol["secret"]["defaultMode"] = 0o444


def _worker_mounts_key(objects: list[dict[str, Any]]) -> None:
    obj = _find(objects, "Deployment", WORKER)
    obj["spec"]["template"]["spec"]["volumes"].append(
        {"name": "stolen", "secret": {"secretName": tls.TEMPORAL.volume, "defaultMode": 0o400}}
    )


def _no_alias(objects: list[dict[str, Any]]) -> None:
    del _find(objects, "Deployment", WORKER)["spec"]["template"]["spec"]["hostAliases"]


def _ingress_plain(objects: list[dict[str, Any]]) -> None:
    notes = _find(objects, "Ingress", "codec-server")["metadata"]["annotations"]
    del notes["nginx.ingress.kubernetes.io/proxy-ssl-verify"]


def _secret_mode_of(kind: str, name: str, secret: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        for vol in _find(objects, kind, name)["spec"]["template"]["spec"]["volumes"]:
            if vol.get("secret", {}).get("secretName") == secret:
                vol["secret"]["defaultMode"] = 0o444

    return mutate


def _no_temporal_db_alias(objects: list[dict[str, Any]]) -> None:
    del _find(objects, "Deployment", "temporal")["spec"]["template"]["spec"]["hostAliases"]


def _ingress_tls(value: list[dict[str, Any]] | None) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        spec = _find(objects, "Ingress", "codec-server")["spec"]
        if value is None:
            del spec["tls"]
        else:
            spec["tls"] = value

    return mutate


def _pki_may_not_update(secret: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            if obj["kind"] == "Role" and obj["metadata"]["name"] == "vault-pki":
                for rule in obj["rules"]:
                    names = rule.get("resourceNames", [])
                    rule["resourceNames"] = [n for n in names if n != secret] if names else names

    return mutate


def _unmount(name: str, volume: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        c = _container(objects, name)
        c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] != volume]

    return mutate


KIND_MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "workers' Vault over http": _worker_env(
        "ORDERS_VAULT_ADDR", "http://openbao.orders-infra.svc:8200"
    ),
    "workers' Vault by Service name": _worker_env(
        "ORDERS_VAULT_ADDR", "https://openbao.orders-infra.svc:8200"
    ),
    "workers without Vault CA": _worker_env("ORDERS_VAULT_CACERT", None),
    "workers without Temporal TLS": _worker_env("ORDERS_TEMPORAL_TLS_CA_FILE", None),
    "workers without Postgres TLS": _worker_env("ORDERS_DB_SSL_CA_FILE", None),
    "a worker without the name mapping": _no_alias,
    "Temporal without client auth": _kind_env(
        "temporal", "TEMPORAL_TLS_REQUIRE_CLIENT_AUTH", "false"
    ),
    "Temporal frontend without a name check": _kind_env(
        "temporal", "TEMPORAL_TLS_FRONTEND_SERVER_NAME", None
    ),
    "UI without its client certificate": _kind_env("temporal-ui", "TEMPORAL_TLS_CERT", None),
    "UI codec endpoint over http": _kind_env(
        "temporal-ui", "TEMPORAL_CODEC_ENDPOINT", "http://codec.orders.localhost"
    ),
    "unseal over http": _kind_arg(
        "openbao-unseal", "--vault-addr", "http://openbao-0.openbao-internal.orders-infra.svc:8200"
    ),
    "configure Postgres without verify-full": _kind_arg("vault-configure", "--pg-ca-file", None),
    "Vault's DB plugin without TLS": _kind_arg("vault-configure", "--vault-pg-ca-file", None),
    "Postgres ssl off": _kind_script("postgres", "ssl=on", "ssl=off"),
    "pg_hba allows plain TCP": _kind_config(
        "postgres-hba",
        "pg_hba.conf",
        "hostnossl  all       all       all      reject",
        "host all all all scram-sha-256",
    ),
    "kind pg_hba lets the superuser in over TCP": _kind_config(
        "postgres-hba",
        "pg_hba.conf",
        "host       all       postgres  all      reject\n",
        "",
    ),
    "the reload script never re-copies": _kind_config(
        "tls-reload", "tls-reload.sh", 'cmp -s "$src/tls.crt"', "true"
    ),
    "OpenBao tls_disable": _kind_config(
        "openbao-config", "config.hcl", 'tls_min_version = "tls12"', "tls_disable = true"
    ),
    "Postgres key Secret world-readable": _secret_mode,
    "a worker mounts Temporal's key": _worker_mounts_key,
    "ingress does not verify the codec server": _ingress_plain,
    "Temporal persistence without TLS": _kind_env("temporal", "SQL_TLS_ENABLED", "false"),
    "schema tool without host verification": _kind_env(
        temporal_schema.NAME, "SQL_TLS_DISABLE_HOST_VERIFICATION", "true"
    ),
    "schema tool without the CA": _kind_env(temporal_schema.NAME, "SQL_TLS_CA_FILE", None),
    "Temporal dials temporal-db by Service": _kind_env(
        "temporal", "POSTGRES_SEEDS", "temporal-db.orders-infra.svc"
    ),
    "Temporal without the temporal-db name mapping": _no_temporal_db_alias,
    "temporal-db ssl off": _kind_script("temporal-db", "ssl=on", "ssl=off"),
    "temporal-db without the TLS-only pg_hba": _unmount("temporal-db", "hba"),
    "temporal-db key Secret world-readable": _secret_mode_of(
        "StatefulSet", "temporal-db", tls.TEMPORAL_DB.volume
    ),
    "Postgres never reloads": _kind_script("postgres", tls.PG_RELOAD, tls.NO_RELOAD),
    "temporal-db never reloads": _kind_script("temporal-db", tls.PG_RELOAD, tls.NO_RELOAD),
    "OpenBao without the reload script": _unmount("openbao", "tls-reload"),
    "Temporal never re-reads its certificate": _kind_env(
        "temporal", "TEMPORAL_TLS_REFRESH_INTERVAL", None
    ),
    "ingress without a browser certificate": _ingress_tls(None),
    "ingress certificate for another host": _ingress_tls(
        [{"hosts": ["codec.example.com"], "secretName": tls.CODEC_INGRESS.volume}]
    ),
    "ingress with a certificate of another role": _ingress_tls(
        [{"hosts": [pki_names.CODEC_PUBLIC_HOST], "secretName": tls.CODEC.volume}]
    ),
    "vault-pki may not update the ingress certificate": _pki_may_not_update(
        tls.CODEC_INGRESS.volume
    ),
    "vault-pki may not update temporal-db's certificate": _pki_may_not_update(
        tls.TEMPORAL_DB.volume
    ),
    "ingress certificate mounted by a pod": lambda objects: _find(objects, "Deployment", WORKER)[
        "spec"
    ]["template"]["spec"]["volumes"].append(
        {"name": "x", "secret": {"secretName": tls.CODEC_INGRESS.volume, "defaultMode": 0o400}}
    ),
}


@pytest.mark.parametrize("mutation", sorted(KIND_MUTATIONS))
def test_kind_checker_catches(mutation: str, kind_objects: list[dict[str, Any]]) -> None:
    objects = copy.deepcopy(kind_objects)
    KIND_MUTATIONS[mutation](objects)
    assert kind_violations(objects), mutation


# --------------------------------------------------------------------------- drift


def test_kind_servers_run_the_same_commands_and_files_as_compose(
    kind_objects: list[dict[str, Any]],
) -> None:
    """The hand-written overlay's commands are orders.deploy's; its files are the package's."""
    expected = {
        "openbao": tls.reloading_command(
            ["bao", "server", "-config=/openbao/config/config.hcl"], tls.HUP
        ),
        "postgres": compose_infra.postgres_command(),
        "temporal-db": compose_infra.postgres_command(),
        "temporal": compose_infra.temporal_command("/run/secrets/db/password", k8s=True),
        "temporal-ui": ["/bin/sh", "-c", tls.copy_then("exec ./start-ui-server.sh", k8s=True)],
    }
    for name, command in expected.items():
        c = next(
            c
            for o in kind_objects
            if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"] == name
            for c in o["spec"]["template"]["spec"]["containers"]
        )
        assert c["command"] == command, name
    hba = _find(kind_objects, "ConfigMap", "postgres-hba")["data"][compose_infra.PG_HBA_FILE]
    assert hba == common.package_file(render.KIND_PG_HBA)
    script = _find(kind_objects, "ConfigMap", "tls-reload")["data"][tls.RELOAD_SCRIPT]
    assert script == common.package_file(tls.RELOAD_SCRIPT)


def test_pinned_service_ips_are_in_the_kind_service_subnet(
    kind_objects: list[dict[str, Any]],
) -> None:
    import yaml

    config = yaml.safe_load((render.ROOT / "k8s" / "kind-config.yaml").read_text())
    subnet = ipaddress.ip_network(config["networking"]["serviceSubnet"])
    ips = [
        o["spec"]["clusterIP"]
        for o in kind_objects
        if o["kind"] == "Service" and o["spec"].get("clusterIP") not in (None, "None")
    ]
    assert len(ips) == len(set(ips)) == 4
    assert all(ipaddress.ip_address(ip) in subnet for ip in ips)
