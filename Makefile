# Two commands from a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
ORDERS  := $(VENV)/bin/orders
STAMP   := $(VENV)/.installed-stamp
# Offline validation tools (checkov, hadolint, kubernetes-validate, check-jsonschema) live in
# their own virtualenv: their dependency trees would clash with the application's.
TOOLS_VENV  ?= .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-stamp
PYTEST_ARGS ?=
# Bytecode caches are written (this machine's environment sets PYTHONDONTWRITEBYTECODE):
# without them each of the stack's ~15 Python processes compiles every module it imports
# from source at every start, ≈ 1.5 s of CPU each on 2 cores. The image compiles at build.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: venv lock demo test lint fmt unit component integration dev-up dev-down clean browser debs bench chaos \
	tools manifests kind-up kind-demo kind-down compose-secrets histories verify

# Installs come from uv.lock (committed): every package at the version and hash it names, so
# a fresh clone gets exactly what CI tested. Why `uv sync --frozen` rather than a compiled
# requirements file + `pip install --require-hashes`: one lock covers every extra, the
# project is installed editable in the same step, a fresh venv takes ~8 s and with a warm
# cache needs no network but pip's one fetch of uv (`UV_OFFLINE=1`), and the sync is exact
# (a dependency dropped from the lock leaves the venv too). --frozen: never re-resolve; a
# pyproject change without `make lock` fails tests/unit/test_packaging.py instead.
# uv itself is locked (dev extra); the bootstrap installs the version uv.lock names.
UV := $(VENV)/bin/uv
EXTRAS ?= --extra dev --extra stack
UV_SYNC = UV_PROJECT_ENVIRONMENT=$(abspath $(VENV)) $(UV) sync --frozen --quiet
LOCKED_UV = $(shell python3 -c 'import tomllib; print(next(p["version"] for p in \
  tomllib.load(open("uv.lock", "rb"))["package"] if p["name"] == "uv"))')

$(STAMP): pyproject.toml uv.lock
	test -x $(PY) || python3 -m venv $(VENV)
	@# pip and setuptools only bootstrap uv: then the venv holds exactly what uv.lock names.
	test -x $(UV) || { $(PY) -m pip install --quiet 'uv==$(LOCKED_UV)' && \
	  $(UV) pip uninstall --quiet --python $(PY) pip setuptools; }
	$(UV_SYNC) $(EXTRAS)
	touch $(STAMP)

venv: $(STAMP)

## make lock: re-resolve uv.lock after a pyproject change (the image installs from it too),
## and the validation tools' lock (tools/requirements.txt) from tools/requirements.in.
lock: venv
	$(UV) lock
	$(UV) pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	  tools/requirements.in -o tools/requirements.txt
	$(UV_SYNC) $(EXTRAS)

$(TOOLS_STAMP): tools/requirements.txt | $(STAMP)
	python3 -m venv --without-pip $(TOOLS_VENV)
	$(UV) pip sync --quiet --require-hashes --python $(TOOLS_VENV)/bin/python tools/requirements.txt
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

## make demo: install, start the real local stack, run the scenarios, print evidence, stop.
demo: venv debs
	$(ORDERS) dev up || { $(ORDERS) dev down; exit 1; }
	$(ORDERS) demo; rc=$$?; $(ORDERS) dev down || rc=1; exit $$rc

## make debs: the Debian packages the stack and the tests use, with ONE apt-get update, only
## when one is missing: chromium (UI test; Playwright drives it, no browser download), its
## certutil (libnss3-tools: the test browser trusts the Vault root CA through NSS) and
## nginx with its stream module (the TLS fronts of Temporal's frontend and UI, and of
## Postgres: the wheel's Postgres is built without SSL) and Prometheus (scrapes every process).
CHROMIUM  ?= /usr/bin/chromium
NGINX     ?= /usr/sbin/nginx
NGINX_STREAM ?= /usr/lib/nginx/modules/ngx_stream_module.so
CERTUTIL  ?= /usr/bin/certutil
PROMETHEUS ?= /usr/bin/prometheus
DEBS      ?= chromium nginx libnginx-mod-stream libnss3-tools prometheus
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
debs: venv
	@test -x $(CHROMIUM) -a -x $(NGINX) -a -e $(NGINX_STREAM) -a -x $(CERTUTIL) -a -x $(PROMETHEUS) || { $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEBS); }

browser: debs

## make test: lint + types, unit tests (no server), component tests (throwaway Postgres,
## OpenBao, Temporal dev server), integration tests against the real stack; chaos last.
test: venv tools lint debs
	ORDERS_TOOLS_BIN=$(abspath $(TOOLS_VENV))/bin ORDERS_REQUIRE_DEPLOY_TOOLS=1 \
	  $(PY) -m pytest -q -p no:cacheprovider tests $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy orders workflows activities workers tests bench

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## make histories: record OrderWorkflow's golden histories (every saga path) with the current
## code into tests/unit/workflows/histories/<release>/ (only that release's set is replaced;
## `make test` replays every set). Needs only the venv. HISTORIES_RELEASE=v2 records a new set.
HISTORIES_RELEASE ?=
histories: venv
	$(PY) -m tests.support.record_histories $(if $(HISTORIES_RELEASE),--release $(HISTORIES_RELEASE))

## make bench: plain vs hardened, same workload, one run (not part of `make test`).
BENCH_ARGS ?=
bench: venv
	$(UV_SYNC) $(EXTRAS) --extra bench
	$(PY) -m bench.run $(BENCH_ARGS)

## make chaos: its own stack (.orders/chaos, credentials TTL 30 s / max 2 min), workers
## killed, OpenBao stopped 30 s, Postgres restarted, leases revoked while orders stream;
## prints the faults and orders tables and fails unless every invariant holds.
CHAOS_ARGS ?=
chaos: venv
	$(PY) -m orders.chaos $(CHAOS_ARGS)

unit: venv
	$(PY) -m pytest -q tests/unit

component: venv
	$(PY) -m pytest -q tests/component

integration: venv
	$(PY) -m pytest -q tests/integration

## make manifests: re-render k8s/base and docker-compose.yml from orders/contract/identities.py.
manifests: venv
	$(PY) -m orders.deploy.render

## make kind-up / kind-demo / kind-down: the same identities on a kind cluster (needs Docker).
kind-up:
	k8s/kind.sh up

kind-demo:
	k8s/kind.sh demo

kind-down:
	k8s/kind.sh down

## make compose-secrets: random passwords for docker-compose.yml, under .orders/ (git-ignored).
# The directory is private; the files are 0644 so the containers' own users can read them.
compose-secrets:
	@mkdir -p .orders/compose/secrets && chmod 700 .orders/compose/secrets
	@cd .orders/compose/secrets && for s in postgres-password temporal-db-password \
	  vault-dbadmin-password grafana-admin-password; do [ -s $$s ] || { head -c 24 /dev/urandom | base64 \
	  | tr -d '/+=\n' > $$s && chmod 644 $$s && echo "created $$s"; }; done
	@# The front's task-token MAC key: 48 random bytes (it copies the file 0600 into its tmpfs).
	@cd .orders/compose/secrets && { s=temporal-front-token-key; [ -s $$s ] || { \
	  head -c 48 /dev/urandom | base64 | tr -d '\n' > $$s && chmod 644 $$s && echo "created $$s"; }; }

dev-up: venv debs
	$(ORDERS) dev up

dev-down: venv
	$(ORDERS) dev down

clean: dev-down
	rm -rf .orders

## make verify: the security claims as a conformance suite against a deployment (docs/verify.md).
## VERIFY_TARGET: a target file (kind, compose, external) or a dev stack's stack.json.
VERIFY_TARGET ?= .orders/dev/stack.json
VERIFY_ARGS   ?=
verify: venv
	$(ORDERS) verify $(VERIFY_TARGET) $(VERIFY_ARGS)
