# Policy of identity order-migrate: its own short-lived Postgres role and the Transit operations it
# needs (payload data keys; a need-to-know field key only for its consumer).
# Applied by `orders vault apply`; the Vault-isolation tests prove every other path is denied.

# Obtain a dynamic Postgres credential for this identity's role only.
path "database/creds/order-migrate" {
  capabilities = ["read"]
}

# Renew and revoke only leases of that role (the lease id is the path below).
path "sys/leases/renew/database/creds/order-migrate/*" {
  capabilities = ["update"]
}
path "sys/leases/revoke/database/creds/order-migrate/*" {
  capabilities = ["update"]
}

# No Transit access: this identity never sees a Temporal payload.

# Vault PKI: a short-lived client certificate for this identity only (CN = order-migrate).
path "pki_int/issue/order-migrate" {
  capabilities = ["update"]
}
