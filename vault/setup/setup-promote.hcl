# Policy of the one-shot `promote` step's token (orders.deploy.setup_tokens), never of an
# identity: like `setup-namespace`, one Vault token through the `temporal-admin` token role
# (whose policy reads the admin JWT), revoked right after, and the minutes-long
# `temporal-admin` client certificate: the front's one principal that may make a Worker
# Deployment version current. Nothing else.

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
