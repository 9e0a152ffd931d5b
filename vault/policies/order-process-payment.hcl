# Policy of identity order-process-payment: its own short-lived Postgres role and the Transit operations it
# needs (payload data keys; a need-to-know field key only for its consumer).
# Applied by `orders vault apply`; the Vault-isolation tests prove every other path is denied.

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

# Obtain a dynamic Postgres credential for this identity's role only.
path "database/creds/order-process-payment" {
  capabilities = ["read"]
}

# Renew and revoke only leases of that role (the lease id is the path below).
path "sys/leases/renew/database/creds/order-process-payment/*" {
  capabilities = ["update"]
}
path "sys/leases/revoke/database/creds/order-process-payment/*" {
  capabilities = ["update"]
}

# Vault Transit: payload data keys and need-to-know fields (orders.contract.identities).
path "transit/decrypt/field-payment" {
  capabilities = ["update"]
}
# Its customer's key as well: a sealed field opens only while the customer is not erased.
path "transit/decrypt/orders-customer-*" {
  capabilities = ["update"]
}
path "transit/datakey/plaintext/orders-payload" {
  capabilities = ["update"]
}
path "transit/decrypt/orders-payload" {
  capabilities = ["update"]
}

# Its own short-lived Temporal JWT (orders.vault.tokens), no other identity's.
path "identity/oidc/token/order-process-payment" {
  capabilities = ["read"]
}

# Vault PKI: a short-lived client certificate for this identity only (CN = order-process-payment).
path "pki_int/issue/order-process-payment" {
  capabilities = ["update"]
}
