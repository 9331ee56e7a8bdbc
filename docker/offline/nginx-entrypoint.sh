#!/bin/sh
# Fill in the proxy's nginx.conf from the environment (the upload limits, the timeouts, the upstream),
# check it, then run the given command with it (nginx, by default).
set -eu

number() {  # NAME VALUE: VALUE must be a whole number
    case "$2" in
        '' | *[!0-9]*) echo "nginx-entrypoint: $1 must be a whole number, not '$2'" >&2; exit 1 ;;
    esac
}

submission="${PENTATHLON_SUBMISSION_MAX_BYTES:-2147483648}"
ground_truth="${PENTATHLON_GROUND_TRUTH_MAX_BYTES:-2147483648}"
chunk="${PENTATHLON_UPLOAD_CHUNK_BYTES:-33554432}"
number PENTATHLON_SUBMISSION_MAX_BYTES "$submission"
number PENTATHLON_GROUND_TRUTH_MAX_BYTES "$ground_truth"
number PENTATHLON_UPLOAD_CHUNK_BYTES "$chunk"
largest="$submission"
[ "$ground_truth" -gt "$largest" ] && largest="$ground_truth"
[ "$chunk" -gt "$largest" ] && largest="$chunk"
# 1 MiB more than the largest file: a multipart body also carries its boundaries and form fields.
PROXY_MAX_BODY_BYTES=$((largest + 1048576))
PROXY_CLIENT_TIMEOUT="${PENTATHLON_PROXY_CLIENT_TIMEOUT:-60}"
PROXY_READ_TIMEOUT="${GUNICORN_TIMEOUT:-300}"
number PENTATHLON_PROXY_CLIENT_TIMEOUT "$PROXY_CLIENT_TIMEOUT"
number GUNICORN_TIMEOUT "$PROXY_READ_TIMEOUT"
PROXY_UPSTREAM="${PENTATHLON_PROXY_UPSTREAM:-web:8000}"
PROXY_RESOLVER="$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null || true)"
PROXY_RESOLVER="${PENTATHLON_PROXY_RESOLVER:-${PROXY_RESOLVER:-127.0.0.11}}"
export PROXY_MAX_BODY_BYTES PROXY_CLIENT_TIMEOUT PROXY_READ_TIMEOUT PROXY_UPSTREAM PROXY_RESOLVER

# Other paths only for tests/docker/test_compose.py, which renders the template outside the image.
template="${PENTATHLON_PROXY_TEMPLATE:-/etc/pentathlon-proxy/nginx.conf.template}"
conf="${PENTATHLON_PROXY_CONF:-/tmp/nginx.conf}"
envsubst '${PROXY_MAX_BODY_BYTES} ${PROXY_CLIENT_TIMEOUT} ${PROXY_READ_TIMEOUT} ${PROXY_UPSTREAM} ${PROXY_RESOLVER}' \
    < "$template" > "$conf"
if [ "${1:-}" = "nginx" ]; then
    shift
    nginx -e stderr -c "$conf" -t -q
    exec nginx -c "$conf" "$@"
fi
exec "$@"
