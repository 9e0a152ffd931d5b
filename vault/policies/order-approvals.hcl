# Policy of identity order-approvals: loads the approver registry for the workflow. It reads
# the approvers' *public* keys (Transit key metadata; the keys are not exportable, so the
# private halves never leave Vault) and holds no database credential.

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

# Approvers' public keys (transit/keys/approver-<name>, read only: no sign, no rotate).
path "transit/keys/approver-*" {
  capabilities = ["read"]
}

# Who may sign approvals when the registry is read: the group whose policy grants signing
# (its id) and each approver's entity (its groups, disabled or not). One path per approver
# in the contract (orders.contract.approval_policy.registry_reads): no other entity is readable.
path "identity/group/name/order-approvers" {
  capabilities = ["read"]
}
path "identity/entity/name/alice" {
  capabilities = ["read"]
}
path "identity/entity/name/bob" {
  capabilities = ["read"]
}
path "identity/entity/name/carol" {
  capabilities = ["read"]
}
path "identity/entity/name/dave" {
  capabilities = ["read"]
}

# Vault Transit: payload data keys and need-to-know fields (orders.contract.identities).
path "transit/datakey/plaintext/orders-payload" {
  capabilities = ["update"]
}
path "transit/decrypt/orders-payload" {
  capabilities = ["update"]
}

# Its own short-lived Temporal JWT (orders.vault.tokens), no other identity's.
path "identity/oidc/token/order-approvals" {
  capabilities = ["read"]
}

# Vault PKI: a short-lived client certificate for this identity only (CN = order-approvals).
path "pki_int/issue/order-approvals" {
  capabilities = ["update"]
}
