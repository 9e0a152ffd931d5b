"""The target file of a kind cluster, written through port-forwards (``make kind-up``).

``k8s/kind.sh`` port-forwards the authorization front, OpenBao, Postgres and the codec
server to loopback, copies OpenBao's PKI root CA (ConfigMap ``orders-ca``) and the people's
passwords it was given into a private directory, then calls ``python -m
orders.verify.kind_target`` and ``orders verify`` on the result. Identity tokens are
TokenRequests made with the operator's own kubeconfig (``kubectl create token``,
``aud: vault``): the cluster admin plays the kubelet, as the dev stack's tools do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from orders.contract import identities, pki_names
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
    ca = secrets_dir / "ca.pem"

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
        codec_server=CodecTarget(
            url=f"https://{pki_names.CODEC_PUBLIC_HOST}:{codec_port}",
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
    for name in ("temporal", "vault", "postgres", "codec"):
        ap.add_argument(f"--{name}-port", type=int, required=True)
    ap.add_argument("--ui-origin", required=True)
    ap.add_argument("--codec-client-id", required=True)
    args = ap.parse_args(argv)
    target = kind_target(
        context=args.context,
        secrets_dir=args.secrets_dir.resolve(),
        temporal_port=args.temporal_port,
        vault_port=args.vault_port,
        postgres_port=args.postgres_port,
        codec_port=args.codec_port,
        ui_origin=args.ui_origin,
        codec_client_id=args.codec_client_id,
    )
    write(args.out, target)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
