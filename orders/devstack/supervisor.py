"""The dev-stack supervisor: ``python -m orders.devstack.supervisor``.

``orders dev up`` starts this process in the background. It brings the stack up in order —
Postgres, the identity endpoint, OpenBao (init/unseal, then ``vault/`` applied, dev users
created), schema migrations under the ``order-migrate`` identity, the codec server, Temporal
(its UI pointed at the codec server), one worker per identity —
writes ``stack.json``, reports ``ready`` in ``status.json``, then watches its children and
restarts dead ones with backoff (a restarted OpenBao is unsealed again). A control channel
(a Unix socket under ``run/``, owner-only) stops, starts or restarts OpenBao and Postgres on
request, keeping their data: the chaos suite injects outages through it. On SIGTERM
(``orders dev down``) it drains the workers (each revokes its own lease), revokes whatever
leases remain, verifies that no dynamic Postgres role is left, and stops every server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any, Final

import hvac

from orders import logging as olog
from orders.codec_server import server as codec_server
from orders.contract import identities
from orders.contract.pki_names import Server
from orders.db.bootstrap import bootstrap
from orders.db.engine import tls_query
from orders.devstack import identity_procs, rotation, servers, tls
from orders.devstack.lifecycle import (
    leftover_roles,
    make_current,
    migrate,
    revoke_all,
    stack_apply_config,
)
from orders.devstack.people import ensure_dev_users
from orders.devstack.procs import Proc
from orders.devstack.servers.prometheus import config as prometheus_config
from orders.devstack.state import StackInfo, StackPaths, Status
from orders.devstack.users import isolation, separate_users
from orders.files import write_private, write_public
from orders.front.server import TlsFiles
from orders.security import certs
from orders.vault import tokens as vault_tokens
from orders.vault.config import Ttls, apply, db_connection_exists
from orders.vault.metrics_reader import apply_metrics_reader, mint_metrics_token
from orders.vault.people import (
    CODEC_CLIENT,
    TEMPORAL_CLIENT,
    client_id,
    issuer_for,
    jwks_url_for,
)
from orders.vault.pki import apply_internode_pki, apply_pki, internode_ca_pem, root_ca_pem

log = olog.get(__name__)

CONTROLLABLE: Final = ("openbao", "postgres")
"""Servers the control channel may stop, start or restart (their data is kept)."""
CONTROL_ACTIONS: Final = ("stop", "start", "restart")


class Supervisor:
    """Owns every process of one local stack."""

    def __init__(self, paths: StackPaths, ttls: Ttls, min_token_seconds: int) -> None:
        self.paths = paths
        self.ttls = ttls
        self.min_token_seconds = min_token_seconds
        self.procs: dict[str, Proc] = {}
        self.status = Status(supervisor_pid=os.getpid())
        self.info: StackInfo | None = None
        self.stopping = asyncio.Event()
        self._admin_dsn = ""
        self._vault_addr = ""
        self._control_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def save_status(self, state: str | None = None, detail: str | None = None) -> None:
        """Persist state, pids and restart counts."""
        if state is not None:
            self.status.state = state
        if detail is not None:
            self.status.detail = detail
        self.status.processes = {n: p.pid for n, p in self.procs.items() if p.pid is not None}
        self.status.restarts = {n: p.restarts for n, p in self.procs.items()}
        self.status.save(self.paths)

    async def _start(self, proc: Proc, ready: servers.Ready, timeout: float = 60.0) -> None:
        self.procs[proc.name] = proc
        proc.start()
        self.save_status(detail=f"starting {proc.name} (waiting until it answers)")
        await servers.wait_ready(proc.name, ready, proc, timeout)

    async def up(self) -> None:
        """Start everything in dependency order and write stack.json."""
        p = self.paths
        pg_port, id_port, vault_port = (servers.free_port() for _ in range(3))
        # Postgres itself listens on a loopback port behind its TLS front (pg_port).
        pg_backend = servers.free_port()
        t_port, ui_port, people_port = (servers.free_port() for _ in range(3))
        # The dev server itself listens on loopback ports behind the mTLS front.
        t_backend, ui_backend = servers.free_port(), servers.free_port()
        codec_port = servers.free_port()
        health_port, prom_port, t_metrics_port = (servers.free_port() for _ in range(3))
        # Each identity process serves its own /metrics; each worker its SDK's too.
        metrics_ports = {i.name: servers.free_port() for i in identities.workers()}
        metrics_ports[identities.CODEC_SERVER.name] = servers.free_port()
        sdk_ports = {i.name: servers.free_port() for i in identities.workers()}
        # Identities' processes run as users who cannot write the bytecode cache: fill it
        # now, while the servers boot.
        warm = identity_procs.warm_bytecode()

        # The dev server needs nothing from the others (its TLS front does, later): it
        # boots while OpenBao and Postgres are set up.
        codec_url = f"https://{servers.HOST}:{codec_port}"
        temporal = servers.temporal(p, t_backend, ui_backend, codec_url)
        frontend_sock, _ = servers.bridge_sockets(p)
        front_files = TlsFiles(
            *p.server_cert(servers.FRONT_CLIENT_CERT), p.tls / servers.INTERNODE_CA
        )
        temporal_up = asyncio.create_task(
            self._start(temporal, servers.frontend_ready(frontend_sock, front_files), 120)
        )

        pg, backend_dsn = servers.postgres(p, pg_backend)
        self._admin_dsn = backend_dsn
        await self._start(pg, servers.postgres_ready(backend_dsn))

        # OpenBao first, on a throwaway bootstrap certificate; once its PKI exists, on a
        # certificate from it (SIGHUP reloads the listener). From then on every client of
        # every server trusts the Vault root CA alone.
        boot_ca = p.tls / "bootstrap-ca.pem"
        await asyncio.to_thread(tls.bootstrap_server_cert, *p.server_cert("openbao"), boot_ca)
        bao, vault_addr = servers.openbao(p, vault_port)
        self._vault_addr = vault_addr
        await self._start(bao, servers.openbao_ready(vault_addr, str(boot_ca)))
        root_token_file = await asyncio.to_thread(
            servers.openbao_unseal, p, vault_addr, str(boot_ca)
        )
        await servers.wait_ready(
            "openbao-active", servers.openbao_active(vault_addr, str(boot_ca)), bao
        )
        root_token = Path(root_token_file).read_text().strip()
        boot = hvac.Client(url=vault_addr, token=root_token, verify=str(boot_ca), timeout=30)
        await asyncio.to_thread(apply_pki, boot, self.ttls.cert)
        # Public (0644): every identity's process, under its own user, trusts it.
        write_public(p.ca_file, await asyncio.to_thread(root_ca_pem, boot))
        await asyncio.to_thread(self._issue_server_cert, boot, Server.OPENBAO, "openbao")
        assert bao.pid is not None
        os.kill(bao.pid, signal.SIGHUP)
        ca = str(p.ca_file)
        await servers.wait_ready("openbao-tls", servers.openbao_active(vault_addr, ca), bao)
        boot_ca.unlink()
        root = hvac.Client(url=vault_addr, token=root_token, verify=ca, timeout=30)

        await asyncio.to_thread(self._issue_server_cert, root, Server.POSTGRES, "postgres")
        pg_front = servers.postgres_front(p, pg_port, pg_backend)
        # The superuser, too, reaches Postgres only through TLS (verify-full, Vault root CA).
        admin_base = backend_dsn.replace(f":{pg_backend}/", f":{pg_port}/").rsplit("/", 1)[0]
        admin_dsn = f"{admin_base}/postgres{tls_query(p.ca_file)}"
        await self._start(pg_front, servers.postgres_ready(admin_dsn))
        await asyncio.to_thread(self._issue_server_cert, root, Server.IDENTITY, "identity-endpoint")
        ident, id_url = servers.identity_endpoint(p, id_port, self.min_token_seconds)
        await self._start(ident, servers.https_ready(id_url, p.ca_file))

        # The admin password is (re)set only while Vault has no connection: after that,
        # Vault has rotated it and is the only one who knows it.
        fresh = not await asyncio.to_thread(db_connection_exists, root)
        await bootstrap(admin_dsn, p.secret("vault-dbadmin-password") if fresh else None)
        # The codec server's port is known now: its callback is registered before it starts.
        self.save_status(detail="configuring OpenBao from vault/ (policies, roles, keys, PKI)")
        config = stack_apply_config(p, id_url, p.ca_file.read_text(), pg_port, self.ttls, codec_url)
        written = await asyncio.to_thread(apply, root, config)
        log.info("vault.applied", paths=len(written))
        await asyncio.to_thread(apply_metrics_reader, root)
        # People (viewers, approvers, …): generated passwords under secrets/.
        users = await asyncio.to_thread(ensure_dev_users, root, p)
        log.info("vault.dev_users", users=users)
        codec_client_id = await asyncio.to_thread(client_id, root, CODEC_CLIENT)
        temporal_client_id = await asyncio.to_thread(client_id, root, TEMPORAL_CLIENT)
        await asyncio.to_thread(self._issue_server_cert, root, Server.CODEC, "codec-server")
        await asyncio.to_thread(self._issue_server_cert, root, Server.TEMPORAL, "temporal")
        await asyncio.to_thread(self._internode, root)
        servers.temporal_bridge(p, t_backend, ui_backend)

        self.info = StackInfo(
            temporal_address=f"{servers.HOST}:{t_port}",
            temporal_people_address=f"{servers.HOST}:{people_port}",
            namespace=identities.TEMPORAL_NAMESPACE,
            ui_url=f"https://{servers.HOST}:{ui_port}",
            vault_addr=vault_addr,
            vault_root_token_file=root_token_file,
            postgres_admin_dsn=f"{admin_base}/{identities.DB_NAME}{tls_query(p.ca_file)}",
            identity_endpoint=id_url,
            identity_ca_file=ca,
            token_files={i.name: str(p.token_file(i.name)) for i in identities.ALL},
            postgres_host=servers.HOST,
            postgres_port=pg_port,
            database=identities.DB_NAME,
            codec_server_url=codec_url,
            ca_file=ca,
            temporal_server_name=Server.TEMPORAL.value,
            oidc_issuer=issuer_for(vault_addr),
            codec_client_id=codec_client_id,
            temporal_client_id=temporal_client_id,
            prometheus_url=f"http://{servers.HOST}:{prom_port}",
            metrics_ports=metrics_ports,
            sdk_metrics_ports=sdk_ports,
            front_metrics_url=f"http://{servers.HOST}:{health_port}/metrics",
            temporal_metrics_url=f"http://{servers.HOST}:{t_metrics_port}/metrics",
        )
        self.info.save(p)

        self.save_status(detail="migrating the schema (as order-migrate)")
        await migrate(self.info, p)

        # Nothing waits for the codec server but people (the UI links to it): it starts
        # alongside the workers.
        await asyncio.to_thread(warm.wait)
        if separate_users():
            identity_procs.make_python_reachable(p)
        codec = identity_procs.codec_server(self.info, p, codec_port)
        codec_up = asyncio.create_task(self._start(codec, codec_server.ready(codec_url, ca)))
        await temporal_up
        issuer = issuer_for(vault_addr)
        # One audience per token kind: persons' port, the temporal-cli client's tokens only;
        # identities' port, each identity's own machine token (orders.front.bearers).
        people = (jwks_url_for(issuer), issuer, temporal_client_id)
        machines = (vault_tokens.jwks_url_for(vault_addr), vault_tokens.issuer_for(vault_addr))
        front = servers.authz_front(p, t_port, people_port, health_port, people, machines)
        health = f"http://{servers.HOST}:{health_port}/healthz"
        await self._start(front, servers.http_ok(health, p.ca_file))
        await self._start(
            servers.temporal_ui_front(p, ui_port, t_metrics_port),
            servers.tls_ready(f"{servers.HOST}:{ui_port}", p.ca_file, Server.TEMPORAL),
        )

        prom_up = asyncio.create_task(self._prometheus(root, health_port, t_metrics_port))
        workers = [identity_procs.worker(self.info, p, i) for i in identities.workers()]
        for w in workers:
            self.procs[w.name] = w
            w.start()
        self.save_status(detail="waiting for every worker to poll its queue")
        for w in workers:
            marker = p.ready_marker(w.name)
            await servers.wait_ready(w.name, _exists(marker), w, timeout=90)
        self.save_status(detail="making the workflow workers' versions current")
        await make_current(self.info, p, list(identities.workers()))
        await codec_up
        await prom_up
        self.status.isolation = isolation()
        self.save_status("ready", f"all parts healthy; identities: {self.status.isolation}")

    async def _prometheus(self, root: hvac.Client, front_port: int, temporal_port: int) -> None:
        """Start Prometheus scraping every process (its OpenBao token: metrics only)."""
        assert self.info is not None
        info, host = self.info, servers.HOST
        token = await asyncio.to_thread(mint_metrics_token, root)
        scrape = prometheus_config(
            self.paths,
            orders_targets=[f"{host}:{port}" for port in info.metrics_ports.values()],
            sdk_targets=[f"{host}:{port}" for port in info.sdk_metrics_ports.values()],
            front_target=f"{host}:{front_port}",
            temporal_target=f"{host}:{temporal_port}",
            vault_target=info.vault_addr.removeprefix("https://"),
        )
        proc, url = servers.prometheus(self.paths, _port(info.prometheus_url), scrape, token)
        await self._start(proc, servers.http_ok(f"{url}/-/ready", self.paths.ca_file))

    def _internode(self, client: hvac.Client) -> None:
        """Temporal's own CA, the frontend's certificate from it, and the front's client one.

        The bridge accepts only certificates of this CA, which no identity can obtain: the
        authorization front is the one way to the frontend.
        """
        apply_internode_pki(client)
        write_private(self.paths.tls / servers.INTERNODE_CA, internode_ca_pem(client))
        for cert, name in (
            (certs.issue_internode(client), servers.INTERNODE_CERT),
            (certs.issue_front_client(client), servers.FRONT_CLIENT_CERT),
        ):
            certs.write_server_files(cert, *self.paths.server_cert(name))
        key = self.paths.secrets / servers.FRONT_TOKEN_KEY
        if not key.exists():
            write_private(key, secrets.token_urlsafe(48))
        log.info("tls.internode.issued")

    def _issue_server_cert(self, client: hvac.Client, server: Server, name: str) -> None:
        """Issue ``server``'s certificate from Vault PKI into ``tls/<name>.crt|key``."""
        cert = certs.issue_server(client, server)
        certs.write_server_files(cert, *self.paths.server_cert(name))
        log.info("tls.server_cert.issued", server=server.value, serial=cert.serial)

    async def watch(self) -> None:
        """Restart dead children (with backoff) and rotate large files until asked to stop."""
        rotated_at = time.monotonic()
        while not self.stopping.is_set():
            if time.monotonic() - rotated_at >= rotation.CHECK_SECONDS:
                rotated_at = time.monotonic()
                await asyncio.to_thread(rotation.rotate_all, self.paths)
            changed = False
            for proc in self.procs.values():
                if proc.maybe_restart():
                    changed = True
                    if proc.name in CONTROLLABLE:
                        # A crashed OpenBao comes back sealed: unseal it, as at start-up.
                        self._background(self._recover(proc))
            if changed:
                self.save_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=1.0)

    def _background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bring_up(self, proc: Proc) -> None:
        """Wait until a (re)started server serves again; OpenBao is unsealed on the way."""
        if proc.name == "postgres":
            await servers.wait_ready(proc.name, servers.postgres_ready(self._admin_dsn), proc)
            return
        # Restarted, it serves the PKI certificate from disk: the Vault root CA verifies it.
        ca, addr = str(self.paths.ca_file), self._vault_addr
        await servers.wait_ready(proc.name, servers.openbao_ready(addr, ca), proc)
        await asyncio.to_thread(servers.openbao_unseal, self.paths, addr, ca)
        await servers.wait_ready("openbao-active", servers.openbao_active(addr, ca), proc)

    async def _recover(self, proc: Proc) -> None:
        try:
            async with self._control_lock:
                await self._bring_up(proc)
            log.info("server.recovered", proc=proc.name, restarts=proc.restarts)
        except Exception as exc:  # the watch loop restarts it again if it died
            log.warning("server.recover_failed", proc=proc.name, error=type(exc).__name__)

    async def control(self, action: str, name: str) -> dict[str, Any]:
        """Stop, start or restart a controllable server; returns once it is done (and ready).

        Stopping keeps the server down (no automatic restart) until ``start``; its data
        (OpenBao's raft storage, Postgres' data directory) is kept either way.

        Raises:
            ValueError: Unknown action or server.
            RuntimeError: The stack is not ready (still starting or stopping).
        """
        if action not in CONTROL_ACTIONS or name not in CONTROLLABLE or name not in self.procs:
            raise ValueError(f"unsupported: {action} {name}; servers: {', '.join(CONTROLLABLE)}")
        if self.status.state != "ready" or self.stopping.is_set():
            raise RuntimeError(f"the stack is {self.status.state}")
        proc = self.procs[name]
        async with self._control_lock:
            if action in ("stop", "restart"):
                await asyncio.to_thread(proc.stop, 30.0)
                log.warning("server.stopped", proc=name, by="control")
            if action in ("start", "restart"):
                if not proc.alive():
                    proc.next_start = 0.0
                    proc.start()
                    proc.restart = True
                await self._bring_up(proc)
                log.info("server.started", proc=name, by="control")
            self.save_status()
        return {"ok": True, "action": action, "proc": name, "pid": proc.pid}

    async def _on_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One JSON request line, one JSON reply line."""
        try:
            request = json.loads(await asyncio.wait_for(reader.readline(), timeout=10))
            reply = await self.control(str(request.get("action")), str(request.get("proc")))
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        try:
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()

    async def serve_control(self) -> asyncio.AbstractServer:
        """Listen on the owner-only control socket."""
        path = self.paths.control_socket
        path.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self._on_control, path=str(path))
        path.chmod(0o600)
        return server

    async def down(self) -> None:
        """Drain workers, revoke every lease, verify no dynamic role is left, stop servers."""
        self.save_status("stopping", "draining workers")
        # The codec server drains with the workers: it revokes its own Vault token too.
        worker_names = {i.name for i in identities.workers()} | {identities.CODEC_SERVER.name}
        for proc in self.procs.values():
            proc.restart = False
        await asyncio.gather(
            *(
                asyncio.to_thread(proc.stop, 40.0)
                for name, proc in self.procs.items()
                if name in worker_names
            )
        )
        report: dict[str, Any] = {}
        if self.info is not None and self.procs.get("openbao") and self.procs["openbao"].alive():
            report |= await asyncio.to_thread(revoke_all, self.info)
        if self.info is not None and self.procs.get("postgres") and self.procs["postgres"].alive():
            report |= await leftover_roles(self.info)
        self.status.report = report
        log.info("stack.report", **report)
        for name in (
            "prometheus",
            "temporal-front",
            "temporal-ui-front",
            "temporal",
            "identity-endpoint",
            "openbao",
            "postgres-front",
            "postgres",
        ):
            if name in self.procs:
                await asyncio.to_thread(self.procs[name].stop, 30.0)
        self.save_status("stopped", "stack stopped")


def _port(url: str | None) -> int:
    assert url is not None
    return int(url.rsplit(":", 1)[1])


def _exists(path: Any) -> servers.Ready:
    async def check() -> bool:
        return bool(path.exists())

    return check


async def amain(args: argparse.Namespace) -> int:
    """Run the supervisor until SIGTERM."""
    paths = StackPaths(Path(args.home).resolve())
    paths.ensure()
    olog.configure("supervisor")
    sup = Supervisor(
        paths,
        Ttls(
            db_default=args.db_ttl,
            db_max=args.db_max_ttl,
            token=args.token_ttl,
            token_max=args.token_max_ttl,
            cert=args.cert_ttl,
            temporal_token=args.temporal_token_ttl,
        ),
        args.min_token_seconds,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, sup.stopping.set)
    paths.supervisor_pid.write_text(str(os.getpid()))
    code = 0
    try:
        up = asyncio.create_task(sup.up())
        stop = asyncio.create_task(sup.stopping.wait())
        done, _ = await asyncio.wait({up, stop}, return_when=asyncio.FIRST_COMPLETED)
        if up in done:
            up.result()
            control = await sup.serve_control()
            try:
                await sup.watch()
            finally:
                control.close()
                paths.control_socket.unlink(missing_ok=True)
        else:
            up.cancel()
            with contextlib.suppress(BaseException):
                await up
    except Exception as exc:
        log.exception("stack.failed")
        sup.save_status("failed", f"{type(exc).__name__}: {exc}")
        code = 1
    finally:
        failed = sup.status.state == "failed"
        await sup.down()
        if failed:
            sup.save_status("failed")
        paths.supervisor_pid.unlink(missing_ok=True)
    return code


def main() -> None:
    """Parse arguments and run."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--home", required=True)
    ap.add_argument("--db-ttl", type=int, default=60)
    ap.add_argument("--db-max-ttl", type=int, default=300)
    ap.add_argument("--token-ttl", type=int, default=120)
    ap.add_argument("--token-max-ttl", type=int, default=420)
    ap.add_argument("--min-token-seconds", type=int, default=60)
    ap.add_argument("--cert-ttl", type=int, default=3600)
    ap.add_argument("--temporal-token-ttl", type=int, default=300)
    raise SystemExit(asyncio.run(amain(ap.parse_args())))


if __name__ == "__main__":
    main()
