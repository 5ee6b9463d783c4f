#!/bin/sh
# The "app": reports what it was configured with.
echo "${ESPY_GREETING:-hello} from espy (${ESPY_ENV_NAME:-unknown}) as $(id -un), port ${ESPY_PORT:-8080}, home ${ESPY_HOME}"
[ -n "${ESPY_DEBUG:-}" ] && echo "debug: data in ${ESPY_DATA:-?}"
exit 0
