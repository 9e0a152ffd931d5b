"""People's login where a full Temporal server runs: one place for issuer, JWKS and clients.

The local dev server has no authorization and its UI no login (the codec server's own OIDC
login covers browsers there). docker-compose runs the real server and UI, so this module
derives, from :mod:`orders.vault.people`, what they need:

* the Temporal **server**: ``global.authorization`` with the JWT key provider reading the
  provider's JWKS, ``permissionsClaimName: permissions``, and the ``default`` claim mapper
  and authorizer — through the ``TEMPORAL_JWT_*``/``TEMPORAL_AUTH_*`` variables of the
  image's ``config_template.yaml``;
* the Temporal **UI**: OIDC login against the provider (client ``temporal-ui``, whose id
  and secret the setup step writes where only the UI reads them), forwarding the *ID token*
  as bearer (the provider's access token is an opaque Vault token; the ID token carries the
  ``permissions`` claim);
* the **setup** step: the issuer base and the clients' redirect URIs it applies.

Issuers differ per environment (what browsers use to reach OpenBao), so every URL is
derived from :class:`Endpoints`; a unit test re-derives them from ``vault/`` and compares
with the rendered compose file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from orders.vault import people as vault_people
from orders.vault import tokens as vault_tokens

OIDC_DIR: Final = "/run/orders-oidc"
"""Where services find the client ids (and the UI its secret) written by the setup step."""
CODEC_CLIENT_ID_FILE: Final = "codec-client-id"
UI_CLIENT_ID_FILE: Final = "ui-client-id"
UI_CLIENT_SECRET_FILE: Final = "ui-client-secret"  # noqa: S105 - a file name
UI_SECRET_DIR: Final = "/run/orders-ui-oidc"  # noqa: S105 - a directory
"""Where the UI (and only the UI) finds its client secret, apart from the public ids."""
UI_CALLBACK_PATH: Final = "/auth/sso/callback"
"""The Temporal UI server's OIDC callback."""


@dataclass(frozen=True)
class Endpoints:
    """How OpenBao, the UI and the codec server are reached in one environment.

    Attributes:
        vault_public: OpenBao as browsers (and the UI server) reach it: the issuer's base.
        vault_internal: OpenBao as the Temporal server reaches it (JWKS fetch).
        ui_public: The Temporal UI as browsers reach it.
        codec_public: The codec server as browsers reach it.
    """

    vault_public: str
    vault_internal: str
    ui_public: str
    codec_public: str

    @property
    def issuer(self) -> str:
        """The provider's issuer (``iss`` of every person's token)."""
        return vault_people.issuer_for(self.vault_public)

    @property
    def jwks_internal(self) -> str:
        """The provider's JWKS as the Temporal server fetches it."""
        return vault_people.jwks_url_for(vault_people.issuer_for(self.vault_internal))

    @property
    def machine_jwks_internal(self) -> str:
        """The identity tokens' JWKS (workers' and the client's JWTs), as the server fetches it."""
        return vault_tokens.jwks_url_for(self.vault_internal)

    @property
    def ui_callback(self) -> str:
        """The UI's registered redirect URI."""
        return self.ui_public + UI_CALLBACK_PATH

    @property
    def codec_callback(self) -> str:
        """The codec server's registered redirect URI."""
        return self.codec_public + vault_people.CODEC_CALLBACK_PATH


def temporal_server_env(ep: Endpoints) -> dict[str, str]:
    """``global.authorization`` of the server, as the image's config template reads it.

    Two key sources: people's tokens (the OIDC provider) and the identities' own tokens
    (OpenBao's identity-token keys, :mod:`orders.vault.tokens`).
    """
    return {
        "TEMPORAL_AUTH_AUTHORIZER": "default",
        "TEMPORAL_AUTH_CLAIM_MAPPER": "default",
        "TEMPORAL_JWT_KEY_SOURCE1": ep.jwks_internal,
        "TEMPORAL_JWT_KEY_SOURCE2": ep.machine_jwks_internal,
        "TEMPORAL_JWT_KEY_REFRESH": "1m",
        "TEMPORAL_JWT_PERMISSIONS_CLAIM": vault_people.PERMISSIONS_CLAIM,
    }


def temporal_ui_env(ep: Endpoints) -> dict[str, str]:
    """The UI's login (client id and secret come from files, see :func:`ui_entrypoint`)."""
    return {
        "TEMPORAL_AUTH_ENABLED": "true",
        "TEMPORAL_AUTH_TYPE": "oidc",
        "TEMPORAL_AUTH_LABEL": "OpenBao",
        "TEMPORAL_AUTH_PROVIDER_URL": ep.issuer,
        "TEMPORAL_AUTH_ISSUER_URL": ep.issuer,
        "TEMPORAL_AUTH_CALLBACK_URL": ep.ui_callback,
        "TEMPORAL_AUTH_SCOPES": ",".join(vault_people.REQUESTED_SCOPES),
        "TEMPORAL_AUTH_USE_ID_TOKEN_AS_BEARER": "true",
    }


def ui_entrypoint() -> list[str]:
    """Reads the UI client's id and secret from the setup step's files, then starts the UI.

    The UI server takes its client secret only from ``TEMPORAL_AUTH_CLIENT_SECRET`` (its
    configuration template has no file option), so the variable is set here, for the UI
    process alone, at exec time: the secret is in no compose file or manifest and in no
    other container's environment; the file is 0640 with the UI's group, in a volume only
    the setup step (writer) and the UI mount.
    """
    return [
        "/bin/sh",
        "-c",
        f'TEMPORAL_AUTH_CLIENT_ID="$$(cat {OIDC_DIR}/{UI_CLIENT_ID_FILE})" '
        f'TEMPORAL_AUTH_CLIENT_SECRET="$$(cat {UI_SECRET_DIR}/{UI_CLIENT_SECRET_FILE})" '
        "exec ./start-ui-server.sh",
    ]


def codec_entrypoint(command: list[str]) -> list[str]:
    """Runs the codec server with its client id (the tokens' audience) from the setup's file."""
    return [
        "/bin/sh",
        "-c",
        f'ORDERS_CODEC_CLIENT_ID="$$(cat {OIDC_DIR}/{CODEC_CLIENT_ID_FILE})" exec '
        + " ".join(command),
    ]


def codec_env(ep: Endpoints) -> dict[str, str]:
    """The codec server: the public issuer (what tokens say) and where browsers return."""
    return {
        "ORDERS_CODEC_ISSUER": ep.issuer,
        "ORDERS_CODEC_PUBLIC_URL": ep.codec_public,
        "ORDERS_CODEC_UI_ORIGIN": ep.ui_public,
    }


def setup_args(ep: Endpoints, out_dir: str) -> list[str]:
    """``orders.deploy.setup configure`` options applying the provider for ``ep``."""
    return [
        "--oidc-issuer-base",
        ep.vault_public,
        "--codec-redirect-uri",
        ep.codec_callback,
        "--ui-redirect-uri",
        ep.ui_callback,
        "--oidc-out-dir",
        out_dir,
    ]
