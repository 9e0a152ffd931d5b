# Policy of identity codec-server: decodes payloads for authorised UI users; never touches
# the database and never encrypts: it may only decrypt payloads for the UI.

path "database/*" {
  capabilities = ["deny"]
}

# Vault Transit: payload data keys and need-to-know fields (orders.identities).
path "transit/decrypt/orders-payload" {
  capabilities = ["update"]
}

# Vault PKI: a short-lived client certificate for this identity only (CN = codec-server).
path "pki_int/issue/codec-server" {
  capabilities = ["update"]
}
