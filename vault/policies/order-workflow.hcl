# Policy of identity order-workflow: the workflow worker runs deterministic workflow code
# only and holds no database credential. The explicit deny documents the intent and wins
# over any other policy that might be attached to the token by mistake.

path "database/*" {
  capabilities = ["deny"]
}
