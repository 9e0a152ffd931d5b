# Policy of the one-shot `configure` step's token (orders.deploy.setup_tokens), never of an
# identity: it applies vault/ (orders.vault.config.apply), so it manages the policies, the
# auth methods and the engines the project uses. What stays out of reach: sys/generate-root,
# seal/unseal, sys/raw, audit devices, creating tokens (its own or through any token role),
# and every path of a mount the project does not use.

path "sys/policies/acl" {
  capabilities = ["list"]
}
path "sys/policies/acl/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "sys/policy" {
  capabilities = ["read", "list"]
}
path "sys/policy/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "sys/auth" {
  capabilities = ["read"]
}
path "sys/auth/kubernetes" {
  capabilities = ["create", "read", "update", "sudo"]
}
path "sys/auth/userpass" {
  capabilities = ["create", "read", "update", "sudo"]
}
path "sys/mounts" {
  capabilities = ["read"]
}
path "sys/mounts/transit" {
  capabilities = ["create", "read", "update"]
}
path "sys/mounts/database" {
  capabilities = ["create", "read", "update"]
}
path "sys/mounts/pki" {
  capabilities = ["create", "read", "update"]
}
path "sys/mounts/pki_int" {
  capabilities = ["create", "read", "update"]
}
path "sys/mounts/pki_internode" {
  capabilities = ["create", "read", "update"]
}
path "auth/kubernetes/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "auth/userpass/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "auth/token/roles/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "transit/keys/*" {
  capabilities = ["create", "read", "update", "list"]
}
path "transit/*" {
  capabilities = ["create", "read", "update", "list"]
}
path "database/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "pki/*" {
  capabilities = ["create", "read", "update", "list"]
}
path "pki_int/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "pki_internode/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "identity/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
