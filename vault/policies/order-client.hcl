# Policy of identity order-client (CLI/API that starts workflows): no database access.
# It encrypts and decrypts payloads and seals need-to-know fields, which it cannot unseal.

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
path "transit/datakey/plaintext/field-address" {
  capabilities = ["update"]
}
path "transit/datakey/plaintext/field-contact" {
  capabilities = ["update"]
}
path "transit/datakey/plaintext/field-payment" {
  capabilities = ["update"]
}
path "transit/datakey/plaintext/orders-payload" {
  capabilities = ["update"]
}
path "transit/decrypt/orders-payload" {
  capabilities = ["update"]
}

# Customers' keys (crypto-shredding): name one by the HMAC of the customer id, wrap the
# customer's data keys with it (the first wrap creates it: `create`), and read a key's
# metadata (never its material) to show a value as erased. It cannot unwrap them.
path "transit/hmac/customer-key-names" {
  capabilities = ["update"]
}
path "transit/encrypt/orders-customer-*" {
  capabilities = ["create", "update"]
}
path "transit/keys/orders-customer-*" {
  capabilities = ["read"]
}

# Its own short-lived Temporal JWT (orders.vault.tokens), no other identity's.
path "identity/oidc/token/order-client" {
  capabilities = ["read"]
}

# Vault PKI: a short-lived client certificate for this identity only (CN = order-client).
path "pki_int/issue/order-client" {
  capabilities = ["update"]
}
