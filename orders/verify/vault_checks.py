"""Vault isolation: every cross-identity move is refused, and so is a re-signed token.

Each identity logs in with its own ServiceAccount token and must get only its own policy,
read only its own database credential, never another identity's nor Vault's database
configuration; no identity's token logs in as another role; a token with genuine claims
re-signed by a key the token issuer never had is refused. Shared by ``orders verify`` and
``tests/integration/security/test_vault_isolation.py``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable

import hvac
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from orders.contract import identities
from orders.contract.identities import Identity
from orders.verify import seat
from orders.verify.report import CheckResult, result
from orders.verify.target import Target

REFUSED = (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)
Login = Callable[[str, str], hvac.Client]
"""(Vault role, ServiceAccount JWT) -> a logged-in client; raises when Vault refuses."""


def _forbidden(call: Callable[[], object]) -> bool:
    try:
        call()
    except hvac.exceptions.Forbidden:
        return True
    return False


def credential_problems(client: hvac.Client, identity: Identity) -> list[str]:
    """What ``identity``'s Vault login may read beyond its own database credential."""
    problems = []
    db = list(identities.db_identities())
    if identity.has_db_role:
        own = client.secrets.database.generate_credentials(identity.db_role)
        if not own["data"]["username"].startswith(f"v-{identity.db_role}-"):
            problems.append(f"{identity.name}: own credential is {own['data']['username']!r}")
        client.adapter.put(f"/v1/sys/leases/revoke/{own['lease_id']}")
    for other in db:
        if other is not identity and not _forbidden(
            functools.partial(client.secrets.database.generate_credentials, other.db_role)
        ):
            problems.append(f"{identity.name} reads {other.name}'s database credential")
    for path in (f"database/config/{identities.VAULT_DB_CONNECTION}", "database/roles"):
        if not _forbidden(functools.partial(client.read, path)):
            problems.append(f"{identity.name} reads {path}")
    return problems


def policy_problems(client: hvac.Client, identity: Identity) -> list[str]:
    """The login's policies must be exactly the identity's own (no ``default``)."""
    policies = client.auth.token.lookup_self()["data"]["policies"]
    if policies != [identity.vault_policy]:
        return [f"{identity.name}: token policies {policies}"]
    return []


def cross_login_problems(login: Login, tokens: dict[str, str]) -> list[str]:
    """Every (ServiceAccount, other role) login Vault accepted: must be none."""
    accepted = []
    for sa, token in tokens.items():
        for role in identities.ALL:
            if role.name == sa:
                continue
            try:
                login(role.vault_role, token).auth.token.revoke_self()
                accepted.append(f"{sa}'s token logs in as {role.name}")
            except REFUSED:
                pass
    return accepted


def resign(token: str) -> str:
    """``token``'s header and claims, signed by a fresh key its issuer never had."""
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, attacker_key, algorithm="RS256", headers={"kid": header["kid"]})


def resigned_problems(login: Login, identity: Identity, genuine: str) -> list[str]:
    """A re-signed copy of ``identity``'s genuine token must be refused."""
    try:
        login(identity.vault_role, resign(genuine)).auth.token.revoke_self()
    except REFUSED:
        return []
    return [f"a re-signed token logs in as {identity.name}"]


def _identity(target: Target, identity: Identity) -> tuple[str, list[str]]:
    token = seat.service_account_token(target, identity)
    client = seat.login(target, identity.vault_role, token)
    try:
        return token, policy_problems(client, identity) + credential_problems(client, identity)
    finally:
        client.auth.token.revoke_self()


async def check(target: Target) -> CheckResult:
    """Vault isolation of every identity of the contract."""
    started = time.monotonic()
    found = await asyncio.gather(*(asyncio.to_thread(_identity, target, i) for i in identities.ALL))
    tokens = {i.name: token for i, (token, _) in zip(identities.ALL, found, strict=True)}
    problems = [p for _, ps in found for p in ps]

    def login(role: str, token: str) -> hvac.Client:
        return seat.login(target, role, token)

    # One thread per ServiceAccount: ~10 refused logins each.
    crossed = await asyncio.gather(
        *(asyncio.to_thread(cross_login_problems, login, {sa: tok}) for sa, tok in tokens.items())
    )
    problems += [p for ps in crossed for p in ps]
    victim = identities.ORDER_VALIDATE
    problems += await asyncio.to_thread(resigned_problems, login, victim, tokens[victim.name])
    n = len(identities.ALL)
    return result(
        "vault-isolation",
        started,
        problems,
        f"{n} identities: own policy and credential only; {n * (n - 1)} cross-role logins "
        "and a re-signed token refused",
    )
