# Policy of every person (userpass dev users; later any human login). It may only ask the
# OIDC provider for an authorization code; what the resulting token allows is decided by
# its claims (identity groups -> Temporal permissions), checked by the codec server and
# Temporal. Approvers' signing rights come from their group, not from this policy.
# "{provider}" is filled in by orders.vault.people (the provider's name is named once there).

path "identity/oidc/provider/{provider}/authorize" {
  capabilities = ["read", "update"]
}

# Ending one's own short-lived login token right after use.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
