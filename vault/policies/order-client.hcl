# Policy of identity order-client (CLI/API that starts workflows): no database access.
# Payload-encryption and field-sealing keys are added with the payload protection work.

path "database/*" {
  capabilities = ["deny"]
}
