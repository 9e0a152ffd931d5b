"""Local Kubernetes identity endpoint: the subset of kube-apiserver that identities use.

Without a cluster, something still has to issue ServiceAccount tokens and answer Vault's
TokenReview calls, or Kubernetes auth could only be tested in kind. This module is that
something, kept as close to the real API as the consumers can tell:

* ``POST /api/v1/namespaces/{ns}/serviceaccounts/{sa}/token`` (TokenRequest) issues RS256
  tokens with the claims of a projected ServiceAccount token. Callers authenticate with a
  per-ServiceAccount bootstrap credential (``clients/<sa>.token``), which stands in for the
  kubelet's right to request tokens for pods running under that ServiceAccount.
* ``POST /apis/authentication.k8s.io/v1/tokenreviews`` (TokenReview) is what Vault's
  Kubernetes auth method calls. The caller's bearer must itself be a token of this issuer.
* ``/.well-known/openid-configuration`` and ``/openid/v1/jwks`` (OIDC discovery), so a JWT
  auth method or a test can verify tokens offline.

Differences from a real apiserver, on purpose:

* No RBAC: any valid token of this issuer may call TokenReview (a real cluster needs
  ``system:auth-delegator``), and the bearer's audience is not checked. A real apiserver
  only accepts a bearer whose audiences include its own API audiences, so a token minted
  for ``aud: vault`` alone cannot be the reviewer JWT there; in a cluster use a dedicated
  reviewer ServiceAccount, or add the API audience to the workers' projected tokens.
* ServiceAccounts are the fixed set from :mod:`orders.contract.identities`; their uids are derived
  from their names, so they are stable across restarts and no store is needed.
* TokenRequest does not support ``boundObjectRef`` (there are no pods to bind to).

Run it as ``python -m orders.devstack.identity_endpoint --state-dir DIR --port PORT``.

Modules: :mod:`.state` (keys, certificates, ServiceAccount credentials), :mod:`.tokens`
(minting and verifying), :mod:`.api` (the HTTP routes), :mod:`.errors`, :mod:`.server`
(the command line and the TLS listener).
"""

from orders.devstack.identity_endpoint.api import (
    DEFAULT_API_AUDIENCES,
    DEFAULT_EXPIRATION_SECONDS,
    DEFAULT_MAX_TOKEN_SECONDS,
    DEFAULT_MIN_TOKEN_SECONDS,
    MAX_BODY_BYTES,
    MIN_TOKEN_SECONDS_FLOOR,
    AccessLog,
    build_app,
)
from orders.devstack.identity_endpoint.errors import InvalidTokenError, StateError
from orders.devstack.identity_endpoint.server import issuer_url, main
from orders.devstack.identity_endpoint.state import (
    IdentityState,
    create_service_account,
    rsa_jwk_thumbprint,
    service_account_uid,
)
from orders.devstack.identity_endpoint.tokens import (
    IssuedToken,
    TokenIdentity,
    issue_token,
    mint_token,
    username,
    verify_token,
)

__all__ = [
    "DEFAULT_API_AUDIENCES",
    "DEFAULT_EXPIRATION_SECONDS",
    "DEFAULT_MAX_TOKEN_SECONDS",
    "DEFAULT_MIN_TOKEN_SECONDS",
    "MAX_BODY_BYTES",
    "MIN_TOKEN_SECONDS_FLOOR",
    "AccessLog",
    "IdentityState",
    "InvalidTokenError",
    "IssuedToken",
    "StateError",
    "TokenIdentity",
    "build_app",
    "create_service_account",
    "issue_token",
    "issuer_url",
    "main",
    "mint_token",
    "rsa_jwk_thumbprint",
    "service_account_uid",
    "username",
    "verify_token",
]
