#!/bin/sh
# Like the official image: a redis-server started without a config file listens on every interface
# of the container's network with protected mode off (it is reachable only on the compose network).
set -eu
if [ "${1:-}" = "redis-server" ]; then
    case " $* " in
        *" --protected-mode "*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
exec "$@"
