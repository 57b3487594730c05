#!/bin/sh
# The official image's entrypoint (artemis-docker/docker-run.sh), in POSIX sh for
# busybox: create the broker instance in the working directory on the first start,
# copy etc-override/ over etc/ right after creating it, then run bin/artemis "$@".
set -e

case "$ANONYMOUS_LOGIN" in
    [Tt][Rr][Uu][Ee]) LOGIN_OPTION="--allow-anonymous" ;;
    *) LOGIN_OPTION="--require-login" ;;
esac

if ! [ -f ./etc/broker.xml ]; then
    # Unquoted on purpose: EXTRA_ARGS holds several arguments.
    CREATE_ARGUMENTS="--user ${ARTEMIS_USER} --password ${ARTEMIS_PASSWORD} --silent ${LOGIN_OPTION} ${EXTRA_ARGS}"
    /opt/activemq-artemis/bin/artemis create ${CREATE_ARGUMENTS} .
    if [ -d ./etc-override ]; then
        for file in $(ls ./etc-override); do
            echo "copying file to etc folder: $file"
            cp ./etc-override/"$file" ./etc || :
        done
    fi
else
    echo "skipping broker instance creation; instance already exists"
fi

exec ./bin/artemis "$@"
