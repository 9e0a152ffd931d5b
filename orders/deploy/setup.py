"""One-shot setup steps of a deployed stack: ``python -m orders.deploy.setup <step>``.

The local stack's supervisor does these in-process; in docker-compose and Kubernetes they
run as one-shot services / Jobs from the project's image, in this order:

``unseal``
    Initialise OpenBao on first start (one key share: a demo, not a ceremony) and unseal it.
    The unseal key is kept in a directory (compose volume) or a Kubernetes Secret
    (in-cluster, through the pod's own API token). Idempotent. Then it hands each later
    step its own short-lived, policy-scoped token and revokes the root token
    (:mod:`orders.deploy.setup_tokens`): no root token is stored or mounted anywhere.
``tls-bootstrap``
    Before OpenBao first starts: its throwaway listener certificate (see
    :mod:`orders.deploy.tls`), unless it has one already.
``pki``
    Vault PKI (:func:`orders.vault.pki.apply_pki`, and Temporal's internode CA:
    :func:`orders.vault.pki.apply_internode_pki`) and the servers' certificates from it,
    into per-server directories (compose volumes) or Secrets (Kubernetes), plus the root CA
    (a file, or a ConfigMap per namespace) and the internode CA (a file next to it, or a
    ConfigMap in the Job's own namespace). The servers start after it.
``configure``
    Bootstrap the database (group roles, Vault's admin role) as the Postgres superuser (on
    kind the Postgres pod's own :mod:`orders.deploy.db_bootstrap` does, and this waits), then
    apply ``vault/`` (:func:`orders.vault.config.apply`): Kubernetes auth pointed at the
    apiserver (or the local identity endpoint), roles, transit keys, database roles.
``migrate``
    Run the schema migrations as the ``order-migrate`` identity: its own ServiceAccount
    token, Vault login and short-lived Postgres credential, configured by ``ORDERS_*``.
``namespace``, ``promote``
    As ``temporal-admin`` (credentials minted for the step, in memory): register the
    application namespace before any worker; make the workflow workers' Worker Deployment
    version current once they poll (:mod:`orders.deploy.setup_temporal`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Final

import hvac
import structlog

from orders import logging as olog
from orders.contract import identities
from orders.deploy import setup_temporal, setup_tokens
from orders.deploy.setup_stores import (
    ROOT_TOKEN,
    UNSEAL_KEY,
    DirectoryStore,
    K8sObjects,
    KeyStore,
    SecretStore,
    issue_to_k8s,
    k8s_bootstrap,
    publish_codec_client_id,
)
from orders.settings import WorkerSettings

__all__ = [
    "ROOT_TOKEN",
    "UNSEAL_KEY",
    "DirectoryStore",
    "K8sObjects",
    "SecretStore",
    "init_and_unseal",
    "issue_to_k8s",
    "k8s_bootstrap",
    "main",
    "namespace",
    "promote",
    "publish_codec_client_id",
    "wait_for_vault",
]

log = structlog.get_logger(__name__)
namespace = setup_temporal.namespace
promote = setup_temporal.promote


def wait_for_vault(client: hvac.Client, timeout: float) -> None:
    """Wait until OpenBao answers (sealed or not).

    Raises:
        TimeoutError: If it does not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.sys.read_seal_status()
            return
        except Exception as exc:  # not reachable yet: DNS, refused, 5xx while starting
            if time.monotonic() > deadline:
                raise TimeoutError(f"OpenBao at {client.url} did not answer: {exc}") from exc
            time.sleep(0.5)


def init_and_unseal(client: hvac.Client, store: KeyStore) -> tuple[str, str | None]:
    """Initialise (first time only) and unseal OpenBao; safe to repeat.

    Only the unseal key is stored: the root token ``sys/init`` returns is handed back for
    this process to use and revoke (:func:`orders.deploy.setup_tokens.hand_over`).

    Returns:
        What was done (``initialised``, ``unsealed`` or ``already unsealed``) and, when it
        initialised OpenBao, the initial root token (else None).

    Raises:
        RuntimeError: If OpenBao is initialised but the store has no unseal key (it was
            initialised by someone else, or the store was lost: a human must decide).
    """
    done, root_token = "already unsealed", None
    if not client.sys.is_initialized():
        result = client.sys.initialize(secret_shares=1, secret_threshold=1)
        # Saved before anything else: without it the storage can never be unsealed again.
        store.save({UNSEAL_KEY: result["keys_base64"][0]})
        root_token = result["root_token"]
        done = "initialised"
    if client.sys.is_sealed():
        values = store.load()
        if not values or UNSEAL_KEY not in values:
            raise RuntimeError("OpenBao is initialised but the key store has no unseal key")
        client.sys.submit_unseal_key(values[UNSEAL_KEY])
        if done != "initialised":
            done = "unsealed"
    if client.sys.is_sealed():
        raise RuntimeError("OpenBao is still sealed after submitting the unseal key")
    return done, root_token


def _verify(ca_files: list[Path] | None) -> str | bool:
    """What hvac verifies OpenBao's certificate with: the given CAs, else the system store."""
    from orders.deploy import tls

    return tls.trust_bundle(ca_files) if ca_files else True


def _step_client(args: argparse.Namespace) -> hvac.Client:
    """OpenBao as this step, with the token the ``unseal`` step minted for it alone."""
    return hvac.Client(
        url=args.vault_addr,
        token=args.token_file.read_text().strip(),
        verify=_verify(args.vault_ca_file),
        timeout=60,
    )


def _pairs(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or ():
        key, _, val = value.partition("=")
        if not key or not val:
            raise SystemExit(f"expected NAME=VALUE, got {value!r}")
        out[key] = val
    return out


def pki(args: argparse.Namespace) -> None:
    """Apply Vault PKI and hand every server its certificate (see the module docstring)."""
    from orders.deploy import tls
    from orders.vault.pki import apply_internode_pki, apply_pki, internode_ca_pem, root_ca_pem

    root = _step_client(args)
    apply_pki(root, args.cert_ttl)
    apply_internode_pki(root)
    ca_pem = root_ca_pem(root)
    specs = [tls.BY_NAME[n] for n in (args.cert or [s.name for s in tls.SPECS])]
    if args.out_dir is not None:
        groups = {k: int(v) for k, v in _pairs(args.group).items()}
        tls.write_ca(args.out_dir / "ca" / tls.CA_FILE, ca_pem)
        tls.write_ca(args.out_dir / "ca" / tls.INTERNODE_CA_FILE, internode_ca_pem(root))
        for spec in specs:
            cert = tls.issue(root, spec)
            tls.write_pair(
                args.out_dir / spec.name, cert.fullchain, cert.private_key, groups.get(spec.name)
            )
            log.info("tls.server_cert.issued", cert=spec.name, serial=cert.serial)
    else:
        objects = K8sObjects.in_cluster()
        issue_to_k8s(
            root,
            objects,
            specs,
            ca_pem,
            namespaces=_pairs(args.k8s_namespace),
            ca_configmaps=args.k8s_ca_configmap or [],
            ca_secrets=args.k8s_ca_secret or [],
            ca_name=args.ca_configmap_name,
        )
        if args.k8s_token_key_secret:
            # Created once and never replaced: every front replica, and every restart, keeps
            # verifying the task tokens the others issued.
            from orders.deploy import front

            body = front.token_key_secret_body()
            body["metadata"]["name"] = args.k8s_token_key_secret
            created = objects.create_secret(objects.namespace, body)
            log.info("front.token_key", secret=args.k8s_token_key_secret, created=created)
        if args.internode_ca_configmap:
            objects.apply_configmap(
                objects.namespace,
                args.internode_ca_configmap,
                {tls.INTERNODE_CA_FILE: internode_ca_pem(root)},
            )


def configure(args: argparse.Namespace) -> None:
    """Bootstrap the database, then apply ``vault/`` (see the module docstring)."""
    from orders.db.bootstrap import bootstrap
    from orders.db.engine import tls_query
    from orders.vault.config import ApplyConfig, apply, db_connection_exists
    from orders.vault.people import OidcConfig

    root = _step_client(args)
    db_admin_password = args.db_admin_password_file.read_text().strip()
    if args.pg_superuser_password_file is None:
        # kind: the Postgres pod's db-bootstrap container did it over the socket; its pod
        # (and so its Service) is ready only once it has.
        from orders.deploy.db_bootstrap import wait_for_service

        wait_for_service(args.pg_host, args.pg_port, args.pg_wait_seconds)
    else:
        superuser = args.pg_superuser_password_file.read_text().strip()
        if args.pg_superuser_socket_dir is not None:
            # The superuser logs in over the server's Unix socket only (pg_hba: no TCP).
            admin_dsn = (
                f"postgresql://postgres:{superuser}@/postgres?host={args.pg_superuser_socket_dir}"
            )
        else:
            admin_dsn = (
                f"postgresql://postgres:{superuser}@{args.pg_host}:{args.pg_port}/postgres"
                f"{tls_query(args.pg_ca_file)}"
            )
        # Once Vault has the connection it has rotated the admin password: keep it that way.
        fresh = not db_connection_exists(root)
        asyncio.run(bootstrap(admin_dsn, db_admin_password if fresh else None))
    reviewer_file: Path | None = args.token_reviewer_jwt_file
    reviewer = reviewer_file.read_text().strip() if reviewer_file else None
    oidc = OidcConfig(
        issuer_base=args.oidc_issuer_base,
        codec_redirect_uris=tuple(args.codec_redirect_uri or ()),
        ui_redirect_uris=tuple(args.ui_redirect_uri or ()),
    )
    written = apply(
        root,
        ApplyConfig(
            kubernetes_host=args.kubernetes_host,
            kubernetes_ca_pem=args.kubernetes_ca_file.read_text(),
            db_connection_url=(
                f"postgresql://{{{{username}}}}:{{{{password}}}}@{args.pg_host}:{args.pg_port}/"
                f"{identities.DB_NAME}{_vault_db_tls(args.vault_pg_ca_file)}"
            ),
            db_admin_username=identities.VAULT_DB_ADMIN_ROLE,
            db_admin_password=db_admin_password,
            token_reviewer_jwt=reviewer,
            oidc=oidc,
        ),
    )
    log.info("vault.applied", paths=len(written), reviewer_jwt=reviewer is not None)
    if args.oidc_out_dir is not None:
        write_oidc_clients(root, args.oidc_out_dir, args.ui_secret_dir, args.ui_secret_group)
    if args.oidc_configmap is not None:
        from kubernetes import client, config

        namespace, _, name = args.oidc_configmap.partition("/")
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        publish_codec_client_id(root, client.CoreV1Api(), namespace, name)


def _vault_db_tls(ca_file: str | None) -> str:
    """Query of Vault's connection URL: verify-full against ``ca_file``.

    ``ca_file`` is a path inside OpenBao's container. Without one the connection is
    plaintext (only for callers that configure no TLS; no deployment here does).
    """
    from orders.db.engine import tls_query

    return tls_query(ca_file) if ca_file else "?sslmode=disable"


def write_oidc_clients(
    root: hvac.Client, out_dir: Path, secret_dir: Path | None = None, secret_gid: int | None = None
) -> None:
    """Read the OIDC clients from OpenBao and write them (:func:`write_client_files`)."""
    from orders.deploy import people_auth
    from orders.vault import people as vault_people

    ui = root.read(f"identity/oidc/client/{vault_people.UI_CLIENT}")["data"]
    ids = {
        people_auth.CODEC_CLIENT_ID_FILE: vault_people.client_id(root, vault_people.CODEC_CLIENT),
        people_auth.UI_CLIENT_ID_FILE: ui["client_id"],
    }
    write_client_files(ids, ui["client_secret"], out_dir, secret_dir or out_dir, secret_gid)


def write_client_files(
    ids: dict[str, str], ui_secret: str, out_dir: Path, secret_dir: Path, secret_gid: int | None
) -> None:
    """Write the client ids (public, 0644) and the UI's client secret (private).

    The ids are read by services running as other users (each mounts only its own file).
    The secret goes to ``secret_dir`` (a volume only this step and the UI mount), 0640 with
    the UI's group ``secret_gid`` (the UI runs as another user than this step), else 0600.

    Args:
        ids: File name -> client id.
        ui_secret: The UI client's secret.
        out_dir: Where the ids go.
        secret_dir: Where the secret goes.
        secret_gid: Group that may read the secret (None: owner only).
    """
    from orders.deploy import people_auth
    from orders.files import write_public, write_secret

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, value in ids.items():
        write_public(out_dir / name, value)
    secret_dir.mkdir(parents=True, exist_ok=True)
    mode = 0o640 if secret_gid is not None else 0o600
    write_secret(secret_dir / people_auth.UI_CLIENT_SECRET_FILE, ui_secret, gid=secret_gid)
    log.info("oidc.clients_written", files=sorted(ids), secret_mode=oct(mode))


def _namespace(args: argparse.Namespace) -> None:
    log.info("temporal.namespace.done", result=setup_temporal.namespace(args))


def _promote(args: argparse.Namespace) -> None:
    log.info("rollout.promote.done", deployments=setup_temporal.promote(args))


async def migrate(settings: WorkerSettings) -> None:
    """Run alembic as ``order-migrate``: its own token, Vault login and credential."""
    from orders.db.migrate import upgrade_as_migrate_identity

    db_user = await upgrade_as_migrate_identity(settings)
    log.info("db.migrated", db_user=db_user)


TOKEN_HELP = "this step's own token (from `unseal --step-token-dir/--k8s-step-secret`)"  # noqa: S105


def _parser() -> argparse.ArgumentParser:
    from orders.vault.config import Ttls

    ap = argparse.ArgumentParser(prog="python -m orders.deploy.setup", description=__doc__)
    steps = ap.add_subparsers(dest="step", required=True)
    unseal = steps.add_parser("unseal", help="initialise (once) and unseal OpenBao")
    unseal.add_argument("--vault-addr", required=True)
    where = unseal.add_mutually_exclusive_group(required=True)
    where.add_argument("--state-dir", type=Path, help="keep the keys in files here")
    where.add_argument("--k8s-secret", help="keep the keys in this Secret (pod's namespace)")
    unseal.add_argument("--wait-seconds", type=float, default=300)
    unseal.add_argument(
        "--vault-ca-file", type=Path, action="append", help="CA(s) OpenBao's cert chains to"
    )
    unseal.add_argument(
        "--step-token-dir", action="append", help="STEP=DIR: write that step's token to DIR/token"
    )
    unseal.add_argument(
        "--k8s-step-secret", action="append", help="STEP=SECRET: that step's token (Secret)"
    )

    boot = steps.add_parser("tls-bootstrap", help="OpenBao's throwaway first certificate")
    dest = boot.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out-dir", type=Path, help="OpenBao's tls.crt|key (compose volume)")
    dest.add_argument("--k8s-secret", help="OpenBao's TLS Secret (pod's namespace)")
    boot.add_argument("--ca-file", type=Path, required=True, help="write the bootstrap CA")
    boot.add_argument("--group", type=int, help="OpenBao's group (key 0640), else 0600")
    boot.add_argument("--k8s-ca-configmap", help="ConfigMap publishing the bootstrap CA")

    pk = steps.add_parser("pki", help="apply Vault PKI, issue the servers' certificates")
    pk.add_argument("--vault-addr", required=True)
    pk.add_argument("--token-file", type=Path, required=True, help=TOKEN_HELP)
    pk.add_argument("--vault-ca-file", type=Path, action="append")
    pk.add_argument(
        "--cert-ttl", type=int, default=Ttls().cert, help="identities' client certs (s)"
    )
    pk.add_argument("--cert", action="append", help="only these (default: every one)")
    out = pk.add_mutually_exclusive_group(required=True)
    out.add_argument("--out-dir", type=Path, help="<dir>/<cert>/tls.crt|key, <dir>/ca/ca.pem")
    out.add_argument("--k8s-secrets", action="store_true", help="Secrets tls-<cert>")
    pk.add_argument("--group", action="append", help="CERT=GID: key 0640 with that group")
    pk.add_argument("--k8s-namespace", action="append", help="CERT=NAMESPACE of its Secret")
    pk.add_argument("--k8s-ca-configmap", action="append", help="namespace for the CA map")
    pk.add_argument("--k8s-ca-secret", action="append", help="namespace for a CA-only Secret")
    pk.add_argument("--ca-configmap-name", default="orders-ca", help="name of CA map/Secret")
    pk.add_argument(
        "--internode-ca-configmap", help="ConfigMap (Job's namespace) for Temporal's internode CA"
    )
    pk.add_argument(
        "--k8s-token-key-secret", help="create this Secret with the front's token key, once"
    )

    conf = steps.add_parser("configure", help="bootstrap the database and apply vault/")
    conf.add_argument("--vault-addr", required=True)
    conf.add_argument("--token-file", type=Path, required=True, help=TOKEN_HELP)
    conf.add_argument("--kubernetes-host", required=True)
    conf.add_argument("--kubernetes-ca-file", type=Path, required=True)
    conf.add_argument("--token-reviewer-jwt-file", type=Path)
    conf.add_argument("--pg-host", required=True)
    conf.add_argument("--pg-port", type=int, default=5432)
    conf.add_argument("--vault-ca-file", type=Path, action="append")
    conf.add_argument("--pg-ca-file", type=Path, help="verify-full against this CA")
    conf.add_argument("--vault-pg-ca-file", help="the same CA as a path in OpenBao's container")
    conf.add_argument(
        "--pg-superuser-password-file", type=Path, help="bootstrap the database (else: wait)"
    )
    conf.add_argument("--pg-wait-seconds", type=float, default=600, help="without it: wait")
    conf.add_argument(
        "--pg-superuser-socket-dir", help="log in as superuser over this Unix socket directory"
    )
    conf.add_argument("--db-admin-password-file", type=Path, required=True)
    conf.add_argument("--oidc-issuer-base", help="OpenBao as browsers reach it (issuer base)")
    conf.add_argument("--codec-redirect-uri", action="append", help="codec server callback")
    conf.add_argument("--ui-redirect-uri", action="append", help="Temporal UI callback")
    conf.add_argument("--oidc-out-dir", type=Path, help="write the OIDC client ids here")
    conf.add_argument("--ui-secret-dir", type=Path, help="write the UI's client secret here")
    conf.add_argument("--ui-secret-group", type=int, help="the UI's group (secret 0640)")
    conf.add_argument(
        "--oidc-configmap", help="NAMESPACE/NAME: publish the codec client id there (in-cluster)"
    )

    steps.add_parser("migrate", help="alembic upgrade as order-migrate (ORDERS_* settings)")

    setup_temporal.add_parsers(steps, TOKEN_HELP)
    return ap


STEPS: Final = {"pki": pki, "configure": configure, "namespace": _namespace, "promote": _promote}
"""The steps that hold a token of their own (revoked when done)."""


def main(argv: list[str] | None = None) -> int:
    """Run one step; exit 0 on success."""
    args = _parser().parse_args(argv)
    olog.configure(identities.ORDER_MIGRATE.name if args.step == "migrate" else "setup")
    if args.step == "unseal":
        # Raft init takes seconds.
        client = hvac.Client(url=args.vault_addr, verify=_verify(args.vault_ca_file), timeout=60)
        wait_for_vault(client, args.wait_seconds)
        store: KeyStore = (
            DirectoryStore(args.state_dir)
            if args.state_dir
            else SecretStore.in_cluster(args.k8s_secret)
        )
        done, root_token = init_and_unseal(client, store)
        log.info("openbao.unseal", result=done)
        sinks = setup_tokens.sinks(_pairs(args.step_token_dir), _pairs(args.k8s_step_secret))
        if sinks:
            values = store.load() or {}
            # A root token stored by an older version is used once more, then revoked.
            setup_tokens.hand_over(
                client,
                root_token=root_token or values.get(ROOT_TOKEN),
                unseal_key=values[UNSEAL_KEY],
                sinks=sinks,
            )
            store.save({UNSEAL_KEY: values[UNSEAL_KEY]})
    elif args.step == "tls-bootstrap":
        from orders.deploy import tls

        if args.out_dir is not None:
            written = tls.bootstrap(args.out_dir, args.ca_file, args.group)
        else:
            written = k8s_bootstrap(
                K8sObjects.in_cluster(), args.k8s_secret, args.k8s_ca_configmap, args.ca_file
            )
        log.info("tls.bootstrap", written=written)
    elif args.step in STEPS:
        STEPS[args.step](args)
        # Done: the step's token ends here (a rerun of `unseal` mints a fresh one).
        setup_tokens.revoke_own(_step_client(args))
    else:
        asyncio.run(migrate(WorkerSettings(identity=identities.ORDER_MIGRATE.name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
