# Policy of Prometheus's OpenBao scrape token (orders.vault.metrics_reader), never of an
# identity: it reads the server's telemetry and nothing else. Only a token created with the
# root token through the token role of the same name carries it.

path "sys/metrics" {
  capabilities = ["read"]
}
