# Policy of identity order-workflow: the workflow worker runs deterministic workflow code
# only and holds no database credential. The explicit deny documents the intent and wins
# over any other policy that might be attached to the token by mistake.

path "database/*" {
  capabilities = ["deny"]
}

# Vault Transit: payload data keys and need-to-know fields (orders.identities).
path "transit/datakey/plaintext/orders-payload" {
  capabilities = ["update"]
}
path "transit/decrypt/orders-payload" {
  capabilities = ["update"]
}

# Its own short-lived Temporal JWT (orders.vault_tokens), no other identity's.
path "identity/oidc/token/order-workflow" {
  capabilities = ["read"]
}

# Vault PKI: a short-lived client certificate for this identity only (CN = order-workflow).
path "pki_int/issue/order-workflow" {
  capabilities = ["update"]
}
