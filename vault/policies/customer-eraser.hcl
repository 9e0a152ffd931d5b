# Policy of identity customer-eraser (`orders customer forget`, an operator action):
# destroys one customer's key material (crypto-shredding) and records the erasure.

# Its own Vault token only: look up, renew, revoke (no `default` policy).
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
path "database/creds/customer-eraser" {
  capabilities = ["read"]
}

# Renew and revoke only leases of that role (the lease id is the path below).
path "sys/leases/renew/database/creds/customer-eraser/*" {
  capabilities = ["update"]
}
path "sys/leases/revoke/database/creds/customer-eraser/*" {
  capabilities = ["update"]
}

# Vault Transit: name a customer's key (HMAC of the id) and destroy it: allow deletion
# (`<key>/config`, matched by the glob) and delete. No data key, no payload, no unwrap.
path "transit/hmac/customer-key-names" {
  capabilities = ["update"]
}
path "transit/keys/orders-customer-*" {
  capabilities = ["update", "delete"]
}

# Its own short-lived Temporal JWT (orders.vault.tokens), no other identity's.
path "identity/oidc/token/customer-eraser" {
  capabilities = ["read"]
}

# Vault PKI: a short-lived client certificate for this identity only (CN = customer-eraser).
path "pki_int/issue/customer-eraser" {
  capabilities = ["update"]
}

