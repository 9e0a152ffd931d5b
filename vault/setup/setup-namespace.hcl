# Policy of the one-shot `namespace` step's token (orders.deploy.setup_tokens), never of an
# identity: one Vault token through the `temporal-admin` token role (whose policy reads the
# namespace-admin JWT), revoked right after, and the minutes-long `temporal-admin` client
# certificate. Nothing else.

path "auth/token/create/temporal-admin" {
  capabilities = ["update"]
}
path "auth/token/revoke" {
  capabilities = ["update"]
}
path "pki_int/issue/temporal-admin" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
