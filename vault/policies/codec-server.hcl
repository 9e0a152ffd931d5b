# Policy of identity codec-server: decodes payloads for authorised UI users; never touches
# the database. Transit decrypt permissions are added with the payload protection work.

path "database/*" {
  capabilities = ["deny"]
}
