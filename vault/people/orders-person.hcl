# Policy of every person (userpass dev users; later any human login): it may only mint an
# identity token for the codec server's role. What that token allows is decided by the
# token's claims (identity groups -> Temporal permissions), checked by the codec server.

path "identity/oidc/token/codec-server" {
  capabilities = ["read"]
}
