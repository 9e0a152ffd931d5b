"""Which bearer token each caller of the front may present: one audience per token kind.

Four kinds of token reach the places around Temporal, each with its own ``aud``, and each
is accepted at exactly one place (issue #16: before, a person's codec-server token was
accepted at Temporal, and any token rode along with any certificate):

=====================================  =====================================================
token (``aud``)                        accepted by
=====================================  =====================================================
person, OIDC client ``temporal-cli``   the front's persons' port (:meth:`Bearers.person`)
person, OIDC client ``temporal-ui``    the front's identities' port, forwarded by the
                                       ``temporal-ui`` principal (the UI server's certificate)
machine, ``temporal:<identity>``       the front's identities' port, forwarded by that
                                       identity (its certificate's CN)
person, OIDC client ``codec-server``   the codec server only; never the front
=====================================  =====================================================

On the identities' port the certificate authenticates the caller; the bearer is what the
Temporal server behind the front authorizes with (compose, kind), and that server cannot
check an audience (its ``default`` claim mapper takes it only from a Go server option). So
the front checks it: a bearer must be the caller's own kind and audience, or the call is
``UNAUTHENTICATED``. A call without a bearer passes (an authorizing server then grants it
nothing; the dev server reads no token).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from orders.codec_server.auth import InvalidTokenError, Principal, TokenVerifier
from orders.contract import identities, pki_names, temporal_access


class WrongBearerError(Exception):
    """The bearer is not the caller's own kind of token (the message says why)."""


def machine_audiences() -> dict[str, str]:
    """Certificate CN -> the ``aud`` of the machine token that principal may forward."""
    found = {
        i.name: temporal_access.temporal_audience(i.temporal_token_role)
        for i in temporal_access.temporal_token_identities()
    }
    found[pki_names.TEMPORAL_ADMIN_CERT_NAME] = temporal_access.temporal_audience(
        temporal_access.TEMPORAL_ADMIN_TOKEN_ROLE
    )
    return found


def tokenless_principals() -> frozenset[str]:
    """Principals that hold no Temporal token (they forward none).

    The contract's identities without one, and KEDA's scaler (its certificate alone).
    """
    with_tokens = {i.name for i in temporal_access.temporal_token_identities()}
    names = {i.name for i in identities.ALL if i.name not in with_tokens}
    return frozenset({*names, pki_names.KEDA_CERT_NAME})


UI_PRINCIPAL: Final = pki_names.TEMPORAL_UI_CERT_NAME
"""The principal (the UI server's certificate) that forwards persons' UI tokens."""


@dataclass(frozen=True)
class Bearers:
    """The front's token checks, per port and principal.

    Attributes:
        people: Verifies persons' tokens (the OIDC provider's key set and issuer); None:
            no person's token is accepted anywhere.
        people_audience: The ``temporal-cli`` client id: the ``aud`` the persons' port
            requires; None: that port accepts nobody.
        ui_audience: The UI client's id: the ``aud`` of tokens the ``temporal-ui``
            principal forwards (verified with ``people``'s keys); None: it forwards none.
        machines: Verifies identities' own tokens (the identity-token key set and issuer);
            None: identities' bearers are not checked (a front without that key set).
        audiences: Certificate CN -> the machine-token ``aud`` it may forward.
        tokenless: Identities that hold no Temporal token.
    """

    people: TokenVerifier | None = None
    people_audience: str | None = None
    ui_audience: str | None = None
    machines: TokenVerifier | None = None
    audiences: Mapping[str, str] = field(default_factory=machine_audiences)
    tokenless: frozenset[str] = field(default_factory=tokenless_principals)

    async def person(self, token: str) -> Principal:
        """The person named by a token meant for the persons' port.

        Raises:
            WrongBearerError: No persons here, or not a token for this port.
            KeysUnavailableError: The provider's keys cannot be fetched.
        """
        if self.people is None or self.people_audience is None:
            raise WrongBearerError("this front accepts no persons")
        return await _verified(self.people, token, self.people_audience)

    async def check_forwarded(self, principal: str, token: str) -> None:
        """Accept ``token`` only if it is ``principal``'s own kind, with its own audience.

        Raises:
            WrongBearerError: Another kind of token, another principal's, or none is allowed.
            KeysUnavailableError: The key set cannot be fetched.
        """
        if not token:
            return
        if principal == UI_PRINCIPAL:
            if self.people is None or self.ui_audience is None:
                raise WrongBearerError(f"{principal} forwards no person's token here")
            await _verified(self.people, token, self.ui_audience)
            return
        audience = self.audiences.get(principal)
        if audience is None:
            if principal in self.tokenless:
                raise WrongBearerError(f"{principal} holds no Temporal token")
            # An identity added to the contract after this front started (`orders new`,
            # then `orders dev apply`, which re-installs the rules the front re-reads): its
            # token's audience follows the same rule, and only Vault can mint it for it.
            audience = temporal_access.temporal_audience(principal)
        if self.machines is not None:
            await _verified(self.machines, token, audience)


async def _verified(verifier: TokenVerifier, token: str, audience: str) -> Principal:
    try:
        return await verifier.verify(token, audience)
    except InvalidTokenError as exc:
        raise WrongBearerError(str(exc)) from None
