# Policy of identity order-workflow: the workflow worker runs deterministic workflow code
# only and holds no database credential. The explicit deny documents the intent and wins
# over any other policy that might be attached to the token by mistake.

# Its own Vault token only: look up (is a 403 an expired login?), renew, revoke at shutdown.
# The Kubernetes-auth role sets token_no_default_policy: no `default` policy, so these are
# the only auth/token paths, and sys/leases only what is granted below (own DB leases).
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

path "database/*" {
  capabilities = ["deny"]
}

# Vault Transit: payload data keys and need-to-know fields (orders.contract.identities).
path "transit/datakey/plaintext/orders-payload" {
  capabilities = ["update"]
}
path "transit/decrypt/orders-payload" {
  capabilities = ["update"]
}

# Its own short-lived Temporal JWT (orders.vault.tokens), no other identity's.
path "identity/oidc/token/order-workflow" {
  capabilities = ["read"]
}

# Vault PKI: a short-lived client certificate for this identity only (CN = order-workflow).
path "pki_int/issue/order-workflow" {
  capabilities = ["update"]
}
