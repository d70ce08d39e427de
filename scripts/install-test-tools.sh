#!/usr/bin/env bash
# What the test suite needs beyond the .NET SDK, from Debian's packages: Chromium (the browser tests drive it
# with Playwright through its executable path; no browser is downloaded) and MPICH (the data-parallel tests run
# mpirun.mpich). Installs only what is missing; needs root or sudo. The README's test command runs it first.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v mpirun.mpich >/dev/null || missing+=(mpich)
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
echo "installing ${missing[*]} with apt-get" >&2
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
