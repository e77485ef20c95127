#!/usr/bin/env bash
# EMR bootstrap action: the env's Python and the job's requirements on every node, before any step runs.
#
#   Path: s3://bucket/artifacts/<version>/install-python-deps.sh   (copy it next to the deployed dist/)
#   Args: s3://bucket/artifacts/<version>/requirements.txt         (written by `etl package`)
#         [python3.11 | python3.12 | python3.13]                    (the env's emr.python; default python3.11)
#
# Amazon Linux 2023 (EMR 7 and 8) ships Python 3.9 as python3; the jobs need 3.11 (EMR 7) or 3.12
# (EMR 8), which are in the distribution's own repository. Safe to run again: an installed Python is kept, and pip leaves
# requirements that are already satisfied alone. Never traces commands (no set -x): nothing it runs
# may echo credentials into the bootstrap log; the AWS CLI takes them from the instance profile.
set -euo pipefail

usage="usage: install-python-deps.sh s3://bucket/prefix/requirements.txt [python3.11|python3.12|python3.13]"
if [[ $# -lt 1 || $# -gt 2 || "$1" != s3://?*/?* || ! "${2:-python3.11}" =~ ^python3\.1[123]$ ]]; then
    echo "$usage" >&2
    exit 2
fi
requirements_uri="$1"
python="${2:-python3.11}"

say() { echo "install-python-deps: $*"; }

if command -v "$python" >/dev/null 2>&1; then
    say "$python present: $("$python" --version 2>&1)"
else
    say "installing $python (dnf)"
    sudo dnf install -y -q "$python" "$python-pip"
fi
if ! "$python" -m pip --version >/dev/null 2>&1; then
    say "installing pip for $python (dnf)"
    sudo dnf install -y -q "$python-pip"
fi

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
aws s3 cp --only-show-errors "$requirements_uri" "$workdir/requirements.txt"

# System-wide, so that the YARN containers (other users) import the same packages.
say "installing the requirements of $requirements_uri"
sudo "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location -r "$workdir/requirements.txt"
say "done"
