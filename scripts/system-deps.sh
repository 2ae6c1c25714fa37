#!/usr/bin/env bash
# The Debian packages the backend test suites drive, installed when missing (as root, or
# through sudo), so that `npm test` needs nothing by hand on a Debian machine:
# - the slurm execenv's tests start a real Slurm cluster (Slurm 22.05 and munge);
# - the SIERRA pipeline tests: SIERRA's hpc.local runs GNU parallel, and sierra-research
#   needs pygraphviz, which builds against graphviz's headers;
# - the testkit's test hosts (network namespaces on a bridge) run iproute2's ip and
#   util-linux's unshare.
set -euo pipefail
need=()
for program in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/bin/sbatch; do
  [ -x "$program" ] || { need+=(slurmctld slurmd slurm-client munge); break; }
done
command -v parallel >/dev/null || need+=(parallel)
dpkg -s libgraphviz-dev >/dev/null 2>&1 || need+=(graphviz libgraphviz-dev)
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
((${#need[@]})) || exit 0
if ! command -v apt-get >/dev/null; then
  echo "npm test: the backend suites need ${need[*]} (Debian's names): install them, then run it again" >&2
  exit 2
fi
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
echo "npm test: installing Debian's ${need[*]} for the backend suites"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
