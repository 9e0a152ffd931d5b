"""``stack.json`` for a kind cluster, so ``orders demo`` runs against it unchanged.

``k8s/kind.sh demo`` port-forwards Temporal, OpenBao and Postgres to loopback, then calls
``python -m orders.deploy.kind stack ...``. The result points the demo's tools at the
cluster exactly where the local stack's file points at the identity endpoint:

* ``identity_endpoint`` is the kind apiserver and ``identity_ca_file`` the cluster CA, so
  acting as an identity is a real TokenRequest for that ServiceAccount (``aud: vault``);
* the bootstrap credential of each identity the demo acts as (:data:`DEMO_IDENTITIES`) is
  the token of the ``demo-token-requester`` ServiceAccount, whose Role allows exactly that
  TokenRequest for exactly those ServiceAccounts (``resourceNames``); no other identity
  gets a credential file, so acting as another one fails instead of impersonating it;
* Vault reviews the resulting logins against the same apiserver, from inside the cluster;
* Postgres is read as ``identities.DB_EVIDENCE_ROLE`` (in ``postgres_admin_dsn``, the field
  the demo's evidence queries read): SELECT on the key and ``written_by`` columns, no
  superuser, which in kind logs in only over the server's own socket;
* every hop is TLS verified against OpenBao's PKI root CA (``orders-ca``): OpenBao and
  Postgres through the port-forwards by the loopback names on their certificates,
  Temporal with mTLS (the demo's identities issue their own client certificates) checked
  against ``temporal.orders.local``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final
from urllib.parse import quote

from orders.contract import identities, pki_names
from orders.db.engine import tls_query
from orders.devstack.state import StackInfo, StackPaths
from orders.files import write_private

DEMO_IDENTITIES: Final = (
    identities.ORDER_CLIENT,
    identities.ORDER_FULFILL,
    identities.ORDER_NOTIFY,
    identities.ORDER_WORKFLOW,
    identities.CUSTOMER_ERASER,
)
"""The identities ``orders demo`` acts as (places orders; tries and fails to unseal, read
another identity's credential, log in as another role, reach Temporal beyond its rights;
forget a customer as the eraser).
The kind Role ``demo-token-requester`` names exactly their ServiceAccounts."""


def write_stack(
    paths: StackPaths,
    *,
    apiserver: str,
    ca_pem: str,
    requester_token: str,
    evidence_password: str,
    orders_ca_pem: str,
    temporal_port: int,
    vault_port: int,
    postgres_port: int,
) -> StackInfo:
    """Write ``stack.json`` and the credential files it names under ``paths``.

    Args:
        paths: Home of this "stack" (``.orders/kind``).
        apiserver: URL of the kind apiserver, as the host reaches it.
        ca_pem: The cluster CA.
        requester_token: Token of ``demo-token-requester`` (may request identity tokens).
        evidence_password: The evidence role's password (``postgres-evidence`` Secret).
        orders_ca_pem: OpenBao's PKI root CA (ConfigMap ``orders-ca``), the trust anchor.
        temporal_port: Loopback port forwarded to the Temporal frontend.
        vault_port: Loopback port forwarded to OpenBao.
        postgres_port: Loopback port forwarded to Postgres.

    Returns:
        The stack description that was written.
    """
    paths.ensure()
    clients = paths.identity / "clients"
    clients.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_file = paths.identity / "ca.crt"
    ca_file.write_text(ca_pem)
    for ident in DEMO_IDENTITIES:
        write_private(clients / f"{ident.service_account}.token", requester_token)
    # The root token is revoked after setup (docs/deploy.md): the demo gets none. The field
    # names a file that does not exist, so a tool that wants root fails on it, by name.
    root_file = paths.secrets / "openbao-root-token"
    write_private(paths.ca_file, orders_ca_pem)
    host = "127.0.0.1"
    info = StackInfo(
        temporal_address=f"{host}:{temporal_port}",
        namespace=identities.TEMPORAL_NAMESPACE,
        ui_url="(kubectl -n orders-infra port-forward svc/temporal-ui 8080)",
        vault_addr=f"https://{host}:{vault_port}",
        vault_root_token_file=str(root_file),
        postgres_admin_dsn=(
            f"postgresql://{identities.DB_EVIDENCE_ROLE}:{quote(evidence_password, safe='')}"
            f"@{host}:{postgres_port}/{identities.DB_NAME}{tls_query(paths.ca_file)}"
        ),
        identity_endpoint=apiserver,
        identity_ca_file=str(ca_file),
        token_files={i.name: str(paths.token_file(i.name)) for i in identities.ALL},
        postgres_host=host,
        postgres_port=postgres_port,
        database=identities.DB_NAME,
        ca_file=str(paths.ca_file),
        temporal_server_name=pki_names.Server.TEMPORAL.value,
    )
    info.save(paths)
    return info


def main(argv: list[str] | None = None) -> int:
    """``python -m orders.deploy.kind stack --home DIR ...`` (secrets are read from files)."""
    ap = argparse.ArgumentParser(prog="python -m orders.deploy.kind", description=__doc__)
    ap.add_argument("step", choices=["stack"])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--apiserver", required=True)
    ap.add_argument("--ca-file", type=Path, required=True)
    ap.add_argument("--requester-token-file", type=Path, required=True)
    ap.add_argument("--evidence-password-file", type=Path, required=True)
    ap.add_argument("--orders-ca-file", type=Path, required=True, help="ConfigMap orders-ca")
    ap.add_argument("--temporal-port", type=int, required=True)
    ap.add_argument("--vault-port", type=int, required=True)
    ap.add_argument("--postgres-port", type=int, required=True)
    args = ap.parse_args(argv)
    paths = StackPaths(args.home.resolve())
    write_stack(
        paths,
        apiserver=args.apiserver,
        ca_pem=args.ca_file.read_text(),
        requester_token=args.requester_token_file.read_text().strip(),
        evidence_password=args.evidence_password_file.read_text().strip(),
        orders_ca_pem=args.orders_ca_file.read_text(),
        temporal_port=args.temporal_port,
        vault_port=args.vault_port,
        postgres_port=args.postgres_port,
    )
    print(paths.stack_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
