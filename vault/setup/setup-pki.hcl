# Policy of the one-shot `pki` step's token (orders.deploy.setup_tokens), never of an identity:
# mount and configure the three PKI engines (orders.vault.pki) and issue the servers'
# certificates from them. Nothing else: no policy, auth method, token or other engine.

path "sys/mounts" {
  capabilities = ["read"]
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
path "pki/*" {
  capabilities = ["create", "read", "update", "list"]
}
path "pki_int/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "pki_internode/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
# Ends its own token when the step is done.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
