# Policy of the one-shot namespace-registration step (orders.deploy.setup namespace), never of
# an identity: one Temporal JWT carrying `<namespace>:admin` (orders.vault.tokens). Only a
# minutes-long token created with the root token through the token role of the same name
# carries it; no Kubernetes-auth role and no person's group attaches it.

path "identity/oidc/token/temporal-admin" {
  capabilities = ["read"]
}
