# OpenBao for docker-compose: raft storage. The listener serves its internal networks
# (orders/deploy/compose_networks.py: its callers on `vault`, the ingress relay, the JWKS
# relay for Temporal) as openbao.orders.local, its api_addr and people's issuer. TLS only:
# first on a bootstrap certificate, then on one from its own PKI (SIGHUP).
# The certificate paths are the server's own 0600 copy (orders/deploy/tls.py LIVE_TLS_DIR).
storage "raft" {
  path    = "/openbao/data"
  node_id = "compose-0"
}
listener "tcp" {
  address         = "0.0.0.0:8200"
  tls_cert_file   = "/tmp/orders-tls/tls.crt"
  tls_key_file    = "/tmp/orders-tls/tls.key"
  tls_min_version = "tls12"
  # Root generation with the unseal key (`bao operator generate-root`, and every rerun of
  # openbao-init): the root token is revoked after setup. Off by default since 2.5.3
  # because anyone reaching the listener may cancel an attempt (a nuisance, not a key).
  disable_unauthed_generate_root_endpoints = false
}
api_addr      = "https://openbao.orders.local:8200"
cluster_addr  = "https://127.0.0.1:8201"
disable_mlock = true
# The web UI hosts the OIDC provider's login page (people's login).
ui            = true
audit "file" "stdout" {
  options {
    file_path = "stdout"
  }
}
