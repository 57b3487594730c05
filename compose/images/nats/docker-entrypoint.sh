#!/bin/sh
# The official nats alpine image's entrypoint logic: with no arguments, or a first
# argument that is a flag (-c, --config, ...), run nats-server with the arguments;
# otherwise run what was asked for (sh, wget, ...).
set -e

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- nats-server "$@"
fi

exec "$@"
