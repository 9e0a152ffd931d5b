# Policy of KEDA's operator (Kubernetes-auth role keda-scaler, ServiceAccount keda/keda-operator),
# rendered from orders/contract/keda.py (orders.vault.policy.render_keda_policy); never an identity's.

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

# The front's keda-scaler client certificate (that CN only, client usage).
path "pki_int/issue/keda-scaler" {
  capabilities = ["update"]
}

# Its Temporal JWT (DescribeTaskQueue at an authorizing server), no other's.
path "identity/oidc/token/keda-scaler" {
  capabilities = ["read"]
}
