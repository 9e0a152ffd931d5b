"""One audience per token kind at the front (:mod:`orders.front.bearers`), without servers.

The real stack covers the persons' port, identities' machine tokens and the codec server
(``tests/integration/front/test_audiences.py``); the UI's forwarded token is covered here,
since the dev stack's UI has no login.
"""

from __future__ import annotations

from typing import Any

import pytest

from orders.codec_server.auth import StaticKeys, TokenVerifier
from orders.contract import identities, keda, pki_names, temporal_access
from orders.front.bearers import UI_PRINCIPAL, Bearers, WrongBearerError
from tests.support.codec_app import jwks, token

PEOPLE_ISSUER = "https://bao.test/v1/identity/oidc/provider/orders"
MACHINE_ISSUER = "https://bao.test/v1/identity/oidc"
CLI, UI, CODEC = "cliClientId", "uiClientId", "codecClientId"
CLIENT = identities.ORDER_CLIENT.name


def _bearers(*, machines: bool = True) -> Bearers:
    keys = StaticKeys(jwks())
    return Bearers(
        people=TokenVerifier(keys, PEOPLE_ISSUER, CLI),
        people_audience=CLI,
        ui_audience=UI,
        machines=TokenVerifier(keys, MACHINE_ISSUER, "unused") if machines else None,
    )


def _person(aud: str) -> str:
    return token(["orders:read"], iss=PEOPLE_ISSUER, aud=aud)


def _machine(principal: str, **claims: Any) -> str:
    aud = temporal_access.temporal_audience(principal)
    return token(["orders:write"], **({"iss": MACHINE_ISSUER, "aud": aud} | claims))


async def test_persons_port_takes_the_temporal_clients_tokens_only() -> None:
    bearers = _bearers()
    assert (await bearers.person(_person(CLI))).username == "ada"
    for wrong in (_person(CODEC), _person(UI), _machine(CLIENT)):
        with pytest.raises(WrongBearerError):
            await bearers.person(wrong)


async def test_no_persons_port_audience_no_person() -> None:
    bearers = Bearers(people=_bearers().people, ui_audience=UI)
    with pytest.raises(WrongBearerError, match="no persons"):
        await bearers.person(_person(CLI))


async def test_an_identity_forwards_its_own_machine_token_only() -> None:
    bearers = _bearers()
    await bearers.check_forwarded(CLIENT, _machine(CLIENT))
    await bearers.check_forwarded(CLIENT, "")  # none: an authorizing server grants nothing
    other = identities.ORDER_VALIDATE.name
    wrong = (_machine(other), _person(CLI), _person(CODEC), _person(UI))
    for bad in (*wrong, _machine(CLIENT, iss=PEOPLE_ISSUER)):
        with pytest.raises(WrongBearerError):
            await bearers.check_forwarded(CLIENT, bad)


async def test_the_admin_step_forwards_the_admin_token() -> None:
    admin = pki_names.TEMPORAL_ADMIN_CERT_NAME
    await _bearers().check_forwarded(admin, _machine(temporal_access.TEMPORAL_ADMIN_TOKEN_ROLE))
    with pytest.raises(WrongBearerError):
        await _bearers().check_forwarded(admin, _machine(CLIENT))


async def test_the_ui_forwards_persons_ui_tokens_only() -> None:
    bearers = _bearers()
    await bearers.check_forwarded(UI_PRINCIPAL, _person(UI))
    for bad in (_person(CLI), _person(CODEC), _machine(CLIENT)):
        with pytest.raises(WrongBearerError):
            await bearers.check_forwarded(UI_PRINCIPAL, bad)
    # A front that knows no UI client lets the UI forward nothing.
    with pytest.raises(WrongBearerError):
        await Bearers(people=bearers.people).check_forwarded(UI_PRINCIPAL, _person(UI))


async def test_principals_without_a_temporal_token_forward_none() -> None:
    for principal in (identities.CODEC_SERVER.name, identities.ORDER_MIGRATE.name):
        await _bearers().check_forwarded(principal, "")
        with pytest.raises(WrongBearerError, match="holds no Temporal token"):
            await _bearers().check_forwarded(principal, _machine(CLIENT))


async def test_machine_audiences_are_distinct_and_cannot_be_a_client_id() -> None:
    audiences = Bearers().audiences
    assert len(set(audiences.values())) == len(audiences)
    assert set(audiences) == {
        *(i.name for i in temporal_access.temporal_token_identities()),
        pki_names.TEMPORAL_ADMIN_CERT_NAME,
        keda.PRINCIPAL,
    }
    # OpenBao's generated client ids are alphanumeric: no person's token has this aud.
    assert all(":" in a for a in audiences.values())


async def test_an_identity_added_after_the_front_started_forwards_its_own_token() -> None:
    # `orders new activity` + `orders dev apply`: the front's contract predates the identity;
    # the audience rule still binds the token to the certificate's name.
    new = "return-receive"
    assert new not in identities.BY_NAME
    await _bearers().check_forwarded(new, _machine(new))
    for bad in (_machine(CLIENT), _person(CLI)):
        with pytest.raises(WrongBearerError):
            await _bearers().check_forwarded(new, bad)


async def test_kedas_scaler_must_present_its_own_token() -> None:
    """Its one call reaches an authorizing server only with its token: none is refused here."""
    await _bearers().check_forwarded(keda.PRINCIPAL, _machine(keda.PRINCIPAL))
    with pytest.raises(WrongBearerError, match="must present its own Temporal token"):
        await _bearers().check_forwarded(keda.PRINCIPAL, "")
    # Even a front that verifies no machine token wants one from it.
    with pytest.raises(WrongBearerError, match="must present"):
        await _bearers(machines=False).check_forwarded(keda.PRINCIPAL, "")
    for bad in (_machine(CLIENT), _machine(identities.ORDER_WORKFLOW.name), _person(CLI)):
        with pytest.raises(WrongBearerError):
            await _bearers().check_forwarded(keda.PRINCIPAL, bad)
    # Nor may anyone else forward the scaler's token.
    with pytest.raises(WrongBearerError):
        await _bearers().check_forwarded(CLIENT, _machine(keda.PRINCIPAL))


class CountingKeys(StaticKeys):
    """The test key set, counting full verifications (each looks its key up)."""

    lookups = 0

    async def key(self, kid: str) -> Any:
        self.lookups += 1
        return await super().key(kid)


async def test_a_verified_bearer_is_taken_on_its_hash_until_it_expires() -> None:
    import time

    from orders.codec_server.auth import VERIFIED_CACHE_SECONDS, InvalidTokenError

    now = [time.time()]
    keys = CountingKeys(jwks())
    verifier = TokenVerifier(keys, MACHINE_ISSUER, "unused", leeway_seconds=0, clock=lambda: now[0])
    aud = temporal_access.temporal_audience(CLIENT)
    exp = int(now[0]) + 100
    bearer = _machine(CLIENT, exp=exp)
    await verifier.verify(bearer, aud)
    await verifier.verify(bearer, aud)
    assert keys.lookups == 1  # the second call: the cache
    # Another audience, or the same claims under another signature, is verified in full.
    with pytest.raises(InvalidTokenError):
        await verifier.verify(bearer, temporal_access.temporal_audience("order-validate"))
    head, body, signature = bearer.split(".")
    with pytest.raises(InvalidTokenError):
        await verifier.verify(f"{head}.{body}.{signature[::-1]}", aud)
    # The cache keeps it no longer than VERIFIED_CACHE_SECONDS (a withdrawn key's window) ...
    now[0] += VERIFIED_CACHE_SECONDS + 1
    lookups = keys.lookups
    await verifier.verify(bearer, aud)
    assert keys.lookups == lookups + 1
    # ... and never past its expiry (``exp`` + leeway): then the full check runs again,
    # and refuses it once the real clock is there too.
    now[0] = exp - 1
    await verifier.verify(bearer, aud)
    assert keys.lookups == lookups + 1  # cached
    now[0] = exp + 0.5
    await verifier.verify(bearer, aud)
    assert keys.lookups == lookups + 2  # not from the cache
