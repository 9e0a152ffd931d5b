#!/usr/bin/env bash
# The kind path: `make kind-up`, `make kind-demo`, `make kind-down` (see k8s/README.md).
#
#   up    create the cluster (k8s/kind-config.yaml), build and load the image, create the
#         password Secrets, apply k8s/overlays/kind, then wait for the unseal Job (which
#         first writes OpenBao's bootstrap TLS certificate), the vault-pki Job (Vault PKI,
#         every server's certificate as a Secret, the root CA as ConfigMap orders-ca), the
#         Postgres pod's db-bootstrap container (database bootstrap over the socket), the
#         vault-configure Job (vault/ with Kubernetes auth at the real apiserver), the
#         temporal-namespace Job (registers `orders` with an admin JWT from OpenBao), the
#         migrate Job (as order-migrate) and every worker Deployment; then `verify`.
#   verify  port-forward the front, OpenBao, Postgres and the codec server, write the
#         target file .orders/kind/verify.yaml (python -m orders.verify.kind_target) and
#         run `orders verify` on it. It logs in as three people whose OpenBao logins the
#         operator made: files viewer, outsider, approver (passwords) and <role>.user
#         (usernames) in $KIND_VERIFY_PEOPLE (default .orders/kind/people).
#   demo  port-forward Temporal, OpenBao and Postgres, then run `orders demo` against the
#         cluster: the same scenarios and evidence as `make demo`.
#   promote  make the loaded image's workflow worker version current once its workers poll
#         (re-runs openbao-unseal for a fresh step token, then the temporal-promote Job;
#         `up` runs it too). A rollout: docs/deploy.md.
#   down  delete the cluster.
#
# It needs docker (with a running engine), kind and kubectl, and says so in one line,
# exiting 3, before doing anything when one is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
CLUSTER="${KIND_CLUSTER:-hardened-orders}"
IMAGE="hardened-orders:0.1.0"
HOME_DIR=".orders/kind"

fail() {
  echo "kind.sh: $*" >&2
  exit 3
}

need() {
  command -v "$1" >/dev/null 2>&1 ||
    fail "'$1' is not installed or not on PATH; it is needed $2. Without a container engine, use 'make demo' (the same identities on a local stack)."
}

preflight() {
  need docker "to build the image and to run kind's node"
  docker info >/dev/null 2>&1 ||
    fail "'docker' is installed but no Docker engine answers ('docker info' failed); start one, or use 'make demo' (no container engine needed)."
  need kind "to create the cluster (https://kind.sigs.k8s.io)"
  need kubectl "to apply the manifests"
}

kc() { kubectl --context "kind-${CLUSTER}" "$@"; }

# Loopback ports of the port-forwards (orders/verify/kind_target.py PORTS; a test compares).
T_PORT=17233
V_PORT=18200
P_PORT=15432
C_PORT=18443
FORWARDS=()
forward() { # namespace service local:remote, until the script exits
  kc -n "$1" port-forward "svc/$2" "$3" >/dev/null &
  FORWARDS+=($!)
}
stop_forwards() {
  for p in "${FORWARDS[@]}"; do kill "$p" 2>/dev/null || true; done
}

random_secret() { # namespace name: create a Secret with a random password once
  if ! kc -n "$1" get secret "$2" >/dev/null 2>&1; then
    local f
    f="$(mktemp)"
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$f")
    kc -n "$1" create secret generic "$2" --from-file=password="$f" >/dev/null
    rm -f "$f"
    echo "created Secret $1/$2"
  fi
}

up() {
  preflight
  if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    kind create cluster --name "$CLUSTER" --config k8s/kind-config.yaml --wait 180s
  fi
  docker build -t "$IMAGE" .
  kind load docker-image "$IMAGE" --name "$CLUSTER"

  kc apply -f k8s/overlays/kind/infra/namespace.yaml
  random_secret orders-infra postgres-superuser
  random_secret orders-infra temporal-db
  random_secret orders-infra vault-dbadmin
  random_secret orders-infra postgres-evidence
  random_secret orders-infra grafana-admin # Grafana's `admin` (kubectl port-forward svc/grafana 3000)
  # The setup Jobs are idempotent: run them again on every `up` (e.g. to unseal OpenBao
  # after a restart). Jobs are immutable, so delete before apply.
  kc -n orders-infra delete job openbao-unseal vault-pki temporal-schema vault-configure \
    temporal-namespace temporal-promote \
    --ignore-not-found
  kc -n orders delete job order-migrate --ignore-not-found
  kc apply -k k8s/overlays/kind

  kc -n orders-infra wait --for=condition=complete job/openbao-unseal --timeout=600s
  kc -n orders-infra wait --for=condition=complete job/vault-pki --timeout=600s
  kc -n orders-infra wait --for=condition=complete job/temporal-schema --timeout=600s
  kc -n orders-infra wait --for=condition=complete job/vault-configure --timeout=900s
  kc -n orders-infra wait --for=condition=complete job/temporal-namespace --timeout=900s
  kc -n orders wait --for=condition=complete job/order-migrate --timeout=900s
  kc -n orders wait --for=condition=Available deployment \
    -l 'app.kubernetes.io/component in (workflow-worker,activity-worker)' --timeout=600s
  # Versioned workflow workers get new runs once their version is current.
  kc -n orders-infra wait --for=condition=complete job/temporal-promote --timeout=900s
  evidence
  verify
}

verify() {
  preflight
  local people="${KIND_VERIFY_PEOPLE:-$HOME_DIR/people}" role
  for role in viewer outsider approver; do
    [ -f "$people/$role" ] && [ -f "$people/$role.user" ] ||
      fail "no '$role' login in $people ('$role': its password, '$role.user': its username): 'orders verify' logs in as three OpenBao people you create (docs/verify.md), then run 'k8s/kind.sh verify'."
  done
  make venv
  trap stop_forwards EXIT
  forward orders-infra temporal-front "${T_PORT}:7233"
  forward orders-infra openbao "${V_PORT}:8200"
  forward orders-infra postgres "${P_PORT}:5432"
  forward orders codec-server "${C_PORT}:443"
  sleep 3
  local dir="$HOME_DIR/verify" target="$HOME_DIR/verify.yaml"
  mkdir -p "$dir"
  chmod 700 "$dir"
  (umask 077 &&
    kc -n orders-infra get configmap orders-ca -o jsonpath='{.data.ca\.pem}' >"$dir/ca.pem" &&
    kc -n orders get configmap orders-oidc-clients -o jsonpath='{.data.codec-client-id}' \
      >"$dir/codec-client-id" &&
    for role in viewer outsider approver; do cp "$people/$role" "$people/$role.user" "$dir/"; done)
  .venv/bin/python -m orders.verify.kind_target --context "kind-${CLUSTER}" \
    --secrets-dir "$dir" --out "$target" --temporal-port "$T_PORT" --vault-port "$V_PORT" \
    --postgres-port "$P_PORT" --codec-port "$C_PORT"
  .venv/bin/orders verify "$target"
}

evidence() {
  echo
  echo "== Namespaces and their Pod Security level"
  kc get namespace orders orders-infra -L pod-security.kubernetes.io/enforce
  echo "== Worker Deployments: each runs under its own ServiceAccount"
  kc -n orders get deployment \
    -o custom-columns='DEPLOYMENT:.metadata.name,SERVICEACCOUNT:.spec.template.spec.serviceAccountName,AUTOMOUNT:.spec.template.spec.automountServiceAccountToken,READY:.status.readyReplicas'
  echo "== Projected token audience and lifetime per Deployment"
  kc -n orders get deployment \
    -o custom-columns='DEPLOYMENT:.metadata.name,AUDIENCE:.spec.template.spec.volumes[0].projected.sources[0].serviceAccountToken.audience,SECONDS:.spec.template.spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds'
  echo "== NetworkPolicies"
  kc -n orders get networkpolicy
  kc -n orders-infra get networkpolicy
  echo "== Pods"
  kc -n orders get pods -o wide
}

demo() {
  preflight
  make venv
  trap stop_forwards EXIT
  forward orders-infra temporal-front "${T_PORT}:7233"
  forward orders-infra openbao "${V_PORT}:8200"
  forward orders-infra postgres "${P_PORT}:5432"
  sleep 3

  local tmp
  tmp="$(mktemp -d)"
  chmod 700 "$tmp"
  kubectl config view --raw --minify --context "kind-${CLUSTER}" \
    -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$tmp/ca.crt"
  kc -n orders-infra create token demo-token-requester --duration=1h >"$tmp/requester"
  # The demo reads Postgres as the evidence role (column SELECTs): the superuser logs in
  # only over the server's own socket, inside its pod.
  kc -n orders-infra get secret postgres-evidence -o jsonpath='{.data.password}' |
    base64 -d >"$tmp/pg"
  kc -n orders-infra get configmap orders-ca -o jsonpath='{.data.ca\.pem}' >"$tmp/orders-ca.pem"
  .venv/bin/python -m orders.deploy.kind stack --home "$HOME_DIR" \
    --apiserver "$(kubectl config view --minify --context "kind-${CLUSTER}" -o jsonpath='{.clusters[0].cluster.server}')" \
    --ca-file "$tmp/ca.crt" --requester-token-file "$tmp/requester" \
    --evidence-password-file "$tmp/pg" \
    --orders-ca-file "$tmp/orders-ca.pem" \
    --temporal-port "$T_PORT" --vault-port "$V_PORT" --postgres-port "$P_PORT"
  rm -rf "$tmp"
  ORDERS_HOME="$HOME_DIR" .venv/bin/orders demo
}

promote() { # a rollout: the loaded image's workflow version made current once it polls
  preflight
  # The Job's OpenBao token is minted by the unseal Job (one hour): run both again.
  kc -n orders-infra delete job openbao-unseal temporal-promote --ignore-not-found
  kc apply -k k8s/overlays/kind
  kc -n orders-infra wait --for=condition=complete job/openbao-unseal --timeout=600s
  kc -n orders-infra wait --for=condition=complete job/temporal-promote --timeout=900s
  kc -n orders-infra logs job/temporal-promote --tail=5
}

down() {
  preflight
  kind delete cluster --name "$CLUSTER"
  rm -rf "$HOME_DIR"
}

case "${1:-}" in
  up) up ;;
  demo) demo ;;
  down) down ;;
  verify) verify ;;
  promote) promote ;;
  evidence)
    preflight
    evidence
    ;;
  *)
    echo "usage: k8s/kind.sh up|verify|demo|promote|down|evidence" >&2
    exit 2
    ;;
esac
