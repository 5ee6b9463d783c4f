#!/bin/sh
# Environment-specific values (ESPY_GREETING, ESPY_PORT, ...) come from /env.sh, baked in at build time.
set -e
. /env.sh
exec "$@"
