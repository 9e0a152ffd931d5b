"""ServiceAccount tokens: minted like a real apiserver's projected tokens, verified like it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt

from orders.devstack.identity_endpoint.errors import InvalidTokenError
from orders.devstack.identity_endpoint.state import IdentityState, service_account_uid

SERVICE_ACCOUNT_GROUPS: Final = "system:serviceaccounts"
_USERNAME_PREFIX: Final = "system:serviceaccount:"


def username(namespace: str, name: str) -> str:
    """Kubernetes user name of a ServiceAccount (``system:serviceaccount:<ns>:<sa>``)."""
    return f"{_USERNAME_PREFIX}{namespace}:{name}"


@dataclass(frozen=True)
class IssuedToken:
    """A freshly minted token and when it stops being valid."""

    token: str = field(repr=False)
    expires_at: datetime
    audiences: tuple[str, ...]
    expiration_seconds: int


@dataclass(frozen=True)
class TokenIdentity:
    """Who a verified token says it is.

    Attributes:
        namespace: ServiceAccount namespace.
        service_account: ServiceAccount name.
        uid: ServiceAccount uid.
        audiences: The token's audiences.
        expires_at: Token expiry.
    """

    namespace: str
    service_account: str
    uid: str
    audiences: tuple[str, ...]
    expires_at: datetime

    @property
    def username(self) -> str:
        """Kubernetes user name (``system:serviceaccount:<ns>:<sa>``)."""
        return username(self.namespace, self.service_account)

    @property
    def groups(self) -> list[str]:
        """Groups a ServiceAccount belongs to, as the apiserver reports them."""
        return [
            SERVICE_ACCOUNT_GROUPS,
            f"{SERVICE_ACCOUNT_GROUPS}:{self.namespace}",
            "system:authenticated",
        ]


def issue_token(
    state: IdentityState,
    service_account: str,
    audiences: Sequence[str],
    seconds: int,
    *,
    now: datetime | None = None,
) -> IssuedToken:
    """Mint a ServiceAccount token shaped like a projected token from a real apiserver.

    Args:
        state: Endpoint state holding the signing key and issuer.
        service_account: ServiceAccount name; must be one ``state`` knows.
        audiences: ``aud`` claim (non-empty).
        seconds: Lifetime in seconds (not clamped here; the HTTP layer applies limits).
        now: Issue time; tests pass a past time to make expired tokens.

    Returns:
        The token with its expiry.

    Raises:
        ValueError: Unknown ServiceAccount, no audience, or a non-positive lifetime.
    """
    if service_account not in state.bootstrap:
        raise ValueError(f"unknown ServiceAccount {service_account!r}")
    if not audiences:
        raise ValueError("a token needs at least one audience")
    if seconds <= 0:
        raise ValueError("token lifetime must be positive")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = issued + timedelta(seconds=seconds)
    claims = {
        "aud": list(audiences),
        "exp": int(expires.timestamp()),
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "iss": state.issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": state.namespace,
            "serviceaccount": {
                "name": service_account,
                "uid": service_account_uid(service_account, state.namespace),
            },
        },
        "sub": username(state.namespace, service_account),
    }
    # Real ServiceAccount tokens carry no "typ" header; None makes PyJWT drop it.
    token = jwt.encode(
        claims, state.signing_key, algorithm="RS256", headers={"kid": state.kid, "typ": None}
    )
    return IssuedToken(
        token=token, expires_at=expires, audiences=tuple(audiences), expiration_seconds=seconds
    )


def mint_token(
    state: IdentityState,
    service_account: str,
    audiences: Sequence[str],
    seconds: int,
    *,
    now: datetime | None = None,
) -> str:
    """Mint a ServiceAccount token and return only the JWT (see :func:`issue_token`)."""
    return issue_token(state, service_account, audiences, seconds, now=now).token


def verify_token(
    state: IdentityState,
    token: str,
    audiences: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
) -> TokenIdentity:
    """Verify a ServiceAccount token the way the apiserver's authenticator does.

    Checks the signature (RS256 with this issuer's key only), issuer, ``exp``/``nbf``,
    that ``sub`` and the ``kubernetes.io`` claims name the same known ServiceAccount with
    its current uid, and, when ``audiences`` is given, that the token is meant for at
    least one of them.

    Args:
        state: Endpoint state.
        token: The compact JWT.
        audiences: Acceptable audiences; None skips the audience check.
        now: Verification time (defaults to the current time).

    Returns:
        The identity the token proves.

    Raises:
        InvalidTokenError: With a reason that never includes the token itself.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(f"malformed token: {exc}") from None
    if header.get("alg") != "RS256":
        raise InvalidTokenError("token is not signed with RS256")
    if header.get("kid") != state.kid:
        raise InvalidTokenError("token is signed by an unknown key")

    try:
        # Time claims are checked below against ``now``, which PyJWT cannot take.
        claims: dict[str, Any] = jwt.decode(
            token,
            state.public_key,
            algorithms=["RS256"],
            issuer=state.issuer,
            audience=list(audiences) if audiences is not None else None,
            options={
                "require": ["exp", "iat", "nbf", "iss", "sub", "aud"],
                "verify_aud": audiences is not None,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise InvalidTokenError(
            f"token audiences are invalid for the target audiences {list(audiences or [])}"
        ) from None
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(f"invalid token: {exc}") from None

    exp, nbf = claims["exp"], claims["nbf"]
    if not isinstance(exp, int) or not isinstance(nbf, int):
        raise InvalidTokenError("exp and nbf must be integers")
    moment = (now or datetime.now(UTC)).timestamp()
    if moment >= exp:
        raise InvalidTokenError("token has expired")
    if moment < nbf:
        raise InvalidTokenError("token is not yet valid")

    aud = claims["aud"]
    token_auds = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud)

    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.startswith(_USERNAME_PREFIX):
        raise InvalidTokenError("sub is not a ServiceAccount")
    ns, _, name = sub.removeprefix(_USERNAME_PREFIX).partition(":")
    kube = claims.get("kubernetes.io")
    if not isinstance(kube, dict):
        raise InvalidTokenError("token has no kubernetes.io claim")
    sa_claim = kube.get("serviceaccount")
    if (
        kube.get("namespace") != ns
        or not isinstance(sa_claim, dict)
        or sa_claim.get("name") != name
    ):
        raise InvalidTokenError("kubernetes.io claims do not match sub")
    if name not in state.bootstrap:
        state.discover_service_accounts()
    if ns != state.namespace or name not in state.bootstrap:
        raise InvalidTokenError(f"ServiceAccount {ns}/{name} does not exist")
    uid = service_account_uid(name, ns)
    if sa_claim.get("uid") != uid:
        # The apiserver rejects tokens of a deleted-and-recreated ServiceAccount this way.
        raise InvalidTokenError(f"ServiceAccount {ns}/{name} uid does not match")

    return TokenIdentity(
        namespace=ns,
        service_account=name,
        uid=uid,
        audiences=token_auds,
        expires_at=datetime.fromtimestamp(exp, UTC),
    )
