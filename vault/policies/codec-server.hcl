# Policy of identity codec-server: decodes payloads for authorised UI users; never touches
# the database and never encrypts: it may only decrypt payloads for the UI.

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
path "transit/decrypt/orders-payload" {
  capabilities = ["update"]
}
# Its cookie key, derived once per process start (orders.codec_server.cookies).
path "transit/hmac/orders-codec-cookie" {
  capabilities = ["update"]
}

# Customers' keys' metadata only (never their material): shows an erased value as erased.
path "transit/keys/orders-customer-*" {
  capabilities = ["read"]
}

# Vault PKI: a short-lived client certificate for this identity only (CN = codec-server).
path "pki_int/issue/codec-server" {
  capabilities = ["update"]
}
