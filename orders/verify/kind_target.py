"""The target file of a kind cluster, written through port-forwards (``make kind-up``).

``k8s/kind.sh verify`` (the last step of ``up``) port-forwards the authorization front,
OpenBao, Postgres and the codec server to the loopback ports of :data:`PORTS`, copies
OpenBao's PKI root CA (ConfigMap ``orders-ca``), the codec server's OIDC client id
(ConfigMap ``orders-oidc-clients``) and the people's passwords it was given into a private
directory, then calls ``python -m orders.verify.kind_target`` and ``orders verify`` on the
result. Identity tokens are TokenRequests made with the operator's own kubeconfig
(``kubectl create token``, ``aud: vault``): the cluster admin plays the kubelet, as the dev
stack's tools do.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Final

import yaml

from orders.contract import identities, pki_names
from orders.deploy import k8s_base, people_auth
from orders.files import write_private
from orders.verify.target import (
    CodecTarget,
    KubectlTokens,
    People,
    Person,
    PostgresTarget,
    Target,
    TemporalTarget,
    VaultTarget,
)

HOST = "127.0.0.1"
PORTS: Final = {
    "temporal": 17233,
    # People's tokens name OpenBao at this port (the issuer kind's OpenBao was given).
    "vault": k8s_base.KIND_VAULT_PORT,
    "postgres": 15432,
    "codec": 18443,
}
"""Loopback port ``k8s/kind.sh`` forwards to each server (a unit test reads the script)."""
CA_FILE: Final = "ca.pem"
CODEC_CLIENT_ID_FILE: Final = people_auth.CODEC_CLIENT_ID_FILE
ROLES: Final = ("viewer", "outsider", "approver")


def kind_target(
    *,
    context: str,
    secrets_dir: Path,
    temporal_port: int,
    vault_port: int,
    postgres_port: int,
    codec_port: int,
    ui_origin: str,
    codec_client_id: str,
) -> Target:
    """The target of the kind cluster ``context`` as seen through the port-forwards.

    Args:
        context: kubectl context (``kind-<cluster>``).
        secrets_dir: Private directory holding ``ca.pem`` (``orders-ca``) and one password
            file per person (``viewer``, ``outsider``, ``approver``, first line the username).
        temporal_port: Loopback port forwarded to ``svc/temporal-front``.
        vault_port: Loopback port forwarded to ``svc/openbao``.
        postgres_port: Loopback port forwarded to ``svc/postgres``.
        codec_port: Loopback port forwarded to ``svc/codec-server``.
        ui_origin: The Temporal UI's origin (the one the codec server trusts).
        codec_client_id: The codec server's OIDC client id.
    """
    ca = secrets_dir / CA_FILE

    def person(role: str) -> Person:
        username, _, _ = (secrets_dir / f"{role}.user").read_text().partition("\n")
        return Person(username=username.strip(), password_file=secrets_dir / role)

    return Target(
        name=f"kind cluster {context}",
        temporal=TemporalTarget(
            address=f"{HOST}:{temporal_port}",
            namespace=identities.TEMPORAL_NAMESPACE,
            ca_file=ca,
            server_name=pki_names.Server.TEMPORAL.value,
        ),
        vault=VaultTarget(address=f"https://{HOST}:{vault_port}", ca_file=ca),
        postgres=PostgresTarget(
            host=HOST, port=postgres_port, database=identities.DB_NAME, ca_file=ca
        ),
        # svc/codec-server, forwarded: its own certificate names 127.0.0.1 (the Ingress's
        # host needs an ingress controller, which the kind overlay does not install).
        codec_server=CodecTarget(
            url=f"https://{HOST}:{codec_port}",
            ui_origin=ui_origin,
            client_id=codec_client_id,
        ),
        identity_tokens=KubectlTokens(context=context, namespace="orders"),
        people=People(
            viewer=person("viewer"), outsider=person("outsider"), approver=person("approver")
        ),
    )


def write(path: Path, target: Target) -> None:
    """Write ``target`` as YAML (0600: it names secret files, holds none)."""
    write_private(path, yaml.safe_dump(target.model_dump(mode="json"), sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    """``python -m orders.verify.kind_target --context C --secrets-dir D --out F ...``."""
    ap = argparse.ArgumentParser(prog="python -m orders.verify.kind_target", description=__doc__)
    ap.add_argument("--context", required=True)
    ap.add_argument("--secrets-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    for name, port in PORTS.items():
        ap.add_argument(f"--{name}-port", type=int, default=port)
    ap.add_argument("--ui-origin", default=k8s_base.KIND_PEOPLE.ui_public)
    ap.add_argument(
        "--codec-client-id", help=f"default: the secrets directory's {CODEC_CLIENT_ID_FILE}"
    )
    args = ap.parse_args(argv)
    secrets_dir = args.secrets_dir.resolve()
    missing = [
        name
        for name in (CA_FILE, *ROLES, *(f"{r}.user" for r in ROLES))
        if not (secrets_dir / name).is_file()
    ]
    if args.codec_client_id is None and not (secrets_dir / CODEC_CLIENT_ID_FILE).is_file():
        missing.append(CODEC_CLIENT_ID_FILE)
    if missing:
        ap.error(f"{secrets_dir} lacks {', '.join(missing)}")
    client_id = args.codec_client_id or (secrets_dir / CODEC_CLIENT_ID_FILE).read_text().strip()
    target = kind_target(
        context=args.context,
        secrets_dir=secrets_dir,
        temporal_port=args.temporal_port,
        vault_port=args.vault_port,
        postgres_port=args.postgres_port,
        codec_port=args.codec_port,
        ui_origin=args.ui_origin,
        codec_client_id=client_id,
    )
    write(args.out, target)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
