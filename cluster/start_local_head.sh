#!/usr/bin/env bash
# Start a one-machine Ray cluster whose every port listens on 127.0.0.1 only, for `ray job submit`.
#
#   bash cluster/start_local_head.sh            # then:
#   RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
#       python studies/gan_collapse.py --budget smoke --storage "$PWD/results"
#   python cluster/local_cluster.py stop --root /tmp/mgen-head-$USER    # this head only, not `ray stop`
#
# Its files live under its own RAY_TMPDIR (default /tmp/mgen-head-<user>), so stopping it ends exactly
# the processes that name that folder and leaves any other Ray on the machine alone. For several nodes
# on one machine, use cluster/local_cluster.py start.
# Ray turns --node-ip-address=127.0.0.1 into the machine's routable address unless
# RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 tells it this is a single-machine cluster; with both, GCS,
# raylet, agents, dashboard and the Jobs API all bind to loopback (check with `ss -ltnp`).
# Token authentication stays on: `ray start` writes the token to ~/.ray/auth_token and clients on
# this machine read it from there when RAY_AUTH_MODE=token is set (or pass RAY_AUTH_TOKEN).
set -euo pipefail
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export RAY_TMPDIR="${RAY_TMPDIR:-/tmp/mgen-head-$(id -un)}"
mkdir -p "$RAY_TMPDIR"
ray start --head --node-ip-address=127.0.0.1 --dashboard-host=127.0.0.1 \
    --port="${RAY_GCS_PORT:-6379}" --dashboard-port="${RAY_DASHBOARD_PORT:-8265}" "$@"
echo "stop this head only: python cluster/local_cluster.py stop --root $RAY_TMPDIR"
