"""kind's ``db-bootstrap`` container, run for real against a Postgres Unix socket.

It bootstraps over the socket as the superuser, sets Vault's admin password only when that
role is new (a rerun must not undo Vault's rotation), makes the evidence role a login with
its own password, marks itself ready and idles until SIGTERM.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg

from orders.contract import identities
from tests.support.postgres import OrdersDb
from tests.support.wait import wait_for


def _secret(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


async def test_sidecar_bootstraps_over_the_socket_then_idles(
    orders_db: OrdersDb, tmp_path: Path
) -> None:
    cluster = orders_db.cluster
    evidence_password = secrets.token_urlsafe(18)
    ready = tmp_path / "ready" / "done"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orders.deploy.db_bootstrap",
        "--socket-dir", str(cluster.root), "--port", str(cluster.port),
        "--superuser-password-file", str(_secret(tmp_path / "su", cluster.superuser_password)),
        # The admin role exists already: this password must not replace its own.
        "--vault-admin-password-file", str(_secret(tmp_path / "va", "not-the-one-in-use")),
        "--evidence-password-file", str(_secret(tmp_path / "ev", evidence_password)),
        "--ready-file", str(ready),
        "--timeout", "30",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    try:

        async def is_ready() -> bool:
            assert proc.returncode is None, await proc.stdout.read()  # type: ignore[union-attr]
            return ready.exists()

        await wait_for(is_ready, timeout=30)
        conn = await asyncpg.connect(orders_db.vault_admin_dsn)  # still Vault's password
        await conn.close()
        conn = await asyncpg.connect(cluster.dsn(identities.DB_EVIDENCE_ROLE, evidence_password))
        await conn.close()
        assert proc.returncode is None  # idles: the container stays up, ready
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output = (await proc.stdout.read()).decode()
    for secret in (cluster.superuser_password, evidence_password, "not-the-one-in-use"):
        assert secret not in output


def test_sidecar_names_a_missing_password_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "orders.deploy.db_bootstrap", "--socket-dir", str(tmp_path),
            "--superuser-password-file", str(tmp_path / "missing"),
            "--vault-admin-password-file", str(tmp_path / "missing"),
            "--ready-file", str(tmp_path / "ready"),
        ],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--superuser-password-file" in done.stderr
    assert "Traceback" not in done.stderr
