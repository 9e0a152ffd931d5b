"""orders.deploy.kind: the stack.json that points `orders demo` at a kind cluster."""

from __future__ import annotations

from pathlib import Path

from orders.contract import identities, pki_names
from orders.deploy import kind
from orders.devstack.identity_env import worker_env
from orders.devstack.state import StackInfo, StackPaths


def test_stack_file_points_the_demo_tools_at_the_cluster(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path / "kind")
    files = (("ca", "PEM"), ("req", "req-token"), ("pg", "pw"), ("oca", "OCA"))
    for name, value in files:
        (tmp_path / name).write_text(value + "\n")
    argv = ["stack", "--home", str(paths.home), "--apiserver", "https://127.0.0.1:6443"]
    for flag, name in (
        ("--ca-file", "ca"),
        ("--requester-token-file", "req"),
        ("--evidence-password-file", "pg"),
        ("--orders-ca-file", "oca"),
    ):
        argv += [flag, str(tmp_path / name)]
    argv += ["--temporal-port", "17233", "--vault-port", "18200", "--postgres-port", "15432"]
    assert kind.main(argv) == 0
    info = StackInfo.load(paths)
    assert info.temporal_address == "127.0.0.1:17233"
    # The root token is revoked after setup: the demo holds none.
    assert not Path(info.vault_root_token_file).exists()
    # Every hop verified against OpenBao's PKI root CA (ConfigMap orders-ca).
    assert info.ca_file is not None
    assert Path(info.ca_file).read_text() == "OCA\n"
    assert Path(info.ca_file).stat().st_mode & 0o777 == 0o600
    assert info.vault_addr == "https://127.0.0.1:18200"
    assert info.temporal_server_name == pki_names.Server.TEMPORAL.value
    # Postgres as the evidence role (column SELECTs), never the superuser (socket only).
    role = identities.DB_EVIDENCE_ROLE
    assert info.postgres_admin_dsn.startswith(f"postgresql://{role}:pw@127.0.0.1:15432/orders?")
    assert "sslmode=verify-full" in info.postgres_admin_dsn
    # Acting as an identity = TokenRequest at the apiserver with the requester's token.
    env = worker_env(info, paths, identities.ORDER_NOTIFY)
    assert env["ORDERS_K8S_HOST"] == "https://127.0.0.1:6443"
    assert env["ORDERS_VAULT_CACERT"] == env["ORDERS_DB_SSL_CA_FILE"] == info.ca_file
    assert env["ORDERS_TEMPORAL_TLS_CA_FILE"] == info.ca_file
    assert env["ORDERS_TEMPORAL_TLS_SERVER_NAME"] == pki_names.Server.TEMPORAL.value
    assert Path(env["ORDERS_K8S_CA_FILE"]).read_text() == "PEM\n"
    client_token = Path(env["ORDERS_K8S_CLIENT_TOKEN_FILE"])
    assert client_token.read_text() == "req-token"
    assert client_token.stat().st_mode & 0o777 == 0o600
    assert paths.stack_json.stat().st_mode & 0o777 == 0o600
