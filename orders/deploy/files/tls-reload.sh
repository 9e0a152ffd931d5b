#!/bin/sh
# Run a server on its own 0600 copy of its certificate; copy again when it is re-issued.
#
#   sh tls-reload.sh RELOAD SERVER [ARG...]
#
# RELOAD says how the running server learns of a new copy: `hup` (SIGHUP: OpenBao reloads
# its listener), `pg` (`pg_ctl reload`: the postmaster re-reads ssl_cert_file/ssl_key_file)
# or `none` (Temporal re-reads the files itself, TEMPORAL_TLS_REFRESH_INTERVAL).
# Environment: ORDERS_TLS_SOURCES (directories holding tls.crt/tls.key as handed over, the
# first that has one wins; default /run/orders-tls), ORDERS_TLS_LIVE (the copy the server
# reads, in its own tmpfs; default /tmp/orders-tls), ORDERS_TLS_RELOAD_SECONDS (default 10).
# SIGTERM and SIGINT are passed on as they came (Postgres' image stops with SIGINT, a fast
# shutdown), so the container stops as the server would. See orders/deploy/tls.py.
reload=$1
shift
sources=${ORDERS_TLS_SOURCES:-/run/orders-tls}
live=${ORDERS_TLS_LIVE:-/tmp/orders-tls}
interval=${ORDERS_TLS_RELOAD_SECONDS:-10}

pick() {
  src=
  for d in $sources; do
    [ -s "$d/tls.crt" ] && src=$d && return 0
  done
  return 1
}

copy() {
  (umask 077 && mkdir -p "$live" && cat "$src/tls.crt" > "$live/tls.crt" \
    && cat "$src/tls.key" > "$live/tls.key")
}

pick && copy || { echo "tls-reload: no certificate in $sources" >&2; exit 1; }
"$@" &
pid=$!
trap 'kill -TERM $pid' TERM
trap 'kill -INT $pid' INT
while kill -0 "$pid" 2>/dev/null; do
  sleep "$interval" & wait $!
  if pick && ! cmp -s "$src/tls.crt" "$live/tls.crt"; then
    copy && case $reload in
      hup) kill -HUP "$pid" ;;
      pg) pg_ctl reload ;;
    esac
  fi
done
wait "$pid"
