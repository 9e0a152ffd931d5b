# One image for every identity of the contract (orders/contract/identities.py):
#   python -m workers <identity>        a worker (the default command prints the identities)
#   python -m orders.deploy.setup ...   unseal / configure / migrate jobs
#   orders codec-server                 the codec server
# Build: docker build -t hardened-orders:0.1.0 .   (k8s/kind.sh does, then loads it into kind)
#
# Hardening: non-root numeric UID/GID 10001; nothing is written outside /tmp (mount an
# emptyDir or tmpfs there and run with a read-only root filesystem); no compilers, package
# caches, pip or setuid binaries in the final stage; no server wheels (the `stack` extra).

# Base: python:3.11.13-slim-bookworm pinned by its multi-platform manifest digest (both
# stages; tests/unit/deploy checks they are the same image).
FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1 AS build
# The packages come from uv.lock, as on every dev machine and in CI: the locked versions,
# hash-checked, base dependencies + the `kube` extra only (no dev tools, no server wheels),
# and the project as a wheel built with the locked build backend. The policies ship inside
# it (package data). uv is the version uv.lock names (tests/unit/deploy/test_image.py).
ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/orders
WORKDIR /src
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
COPY pyproject.toml uv.lock README.md ./
COPY orders ./orders
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
# orders/vault_hcl is a symlink to it: the wheel build follows it.
COPY vault ./vault
# The virtualenv uv creates has no pip: nothing installs anything at run time. Bytecode is
# compiled here, once, instead of by every process at every start.
RUN uv sync --frozen --extra kube --no-editable --compile-bytecode --python /usr/local/bin/python3.11

FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1
# The system Python's pip/setuptools are of no use at run time; setuid/setgid bits would
# be a way back to root for anything that finds a shell.
# /var/lib/orders-pki/*: mount points of the compose `pki` step's per-server volumes, owned
# by the image user so that a fresh named volume starts out writable by it.
RUN groupadd --system --gid 10001 orders \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin orders \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/orders \
 && install -d -o 10001 -g 10001 -m 0755 /var/lib/orders-pki /var/lib/orders-pki/ca \
      /var/lib/orders-pki/openbao /var/lib/orders-pki/postgres /var/lib/orders-pki/temporal \
      /var/lib/orders-pki/temporal-ui /var/lib/orders-pki/codec \
 && python -m pip uninstall --yes pip setuptools wheel \
 && find / -xdev -perm /6000 -type f -exec chmod a-s {} +
COPY --from=build /opt/orders /opt/orders
ENV PATH=/opt/orders/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    ORDERS_HEARTBEAT_FILE=/tmp/orders-heartbeat \
    ORDERS_READY_FILE=/tmp/orders-ready
USER 10001:10001
WORKDIR /tmp
# Workers listen on no port: the probe reads the heartbeat and ready files they keep.
# Non-worker commands (setup jobs, codec server) override it in compose and Kubernetes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-m", "workers.probe", "ready"]
CMD ["python", "-m", "workers"]
