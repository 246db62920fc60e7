#!/usr/bin/env bash
# Start a one-machine Ray cluster whose every port listens on 127.0.0.1 only, for `ray job submit`.
#
#   bash cluster/start_local_head.sh            # then:
#   RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
#       python studies/gan_collapse.py --budget smoke --storage "$PWD/results"
#   ray stop
#
# Ray turns --node-ip-address=127.0.0.1 into the machine's routable address unless
# RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 tells it this is a single-machine cluster; with both, GCS,
# raylet, agents, dashboard and the Jobs API all bind to loopback (check with `ss -ltnp`).
# Token authentication stays on: `ray start` writes the token to ~/.ray/auth_token and clients on
# this machine read it from there when RAY_AUTH_MODE=token is set (or pass RAY_AUTH_TOKEN).
set -euo pipefail
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
ray start --head --node-ip-address=127.0.0.1 --dashboard-host=127.0.0.1 \
    --port="${RAY_GCS_PORT:-6379}" --dashboard-port="${RAY_DASHBOARD_PORT:-8265}" "$@"
