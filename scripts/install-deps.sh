#!/bin/sh
# install-deps.sh - make sure what sched needs to build and test is on this
# Debian 12 machine.  As root it installs what is missing with apt-get;
# otherwise it prints the exact apt-get line and fails.
#
#   build:  gcc, make, libsqlite3-dev, libsodium-dev
#   tests:  libcriterion-dev (unit tests), python3 (JSON checks in the
#           integration tests), util-linux (flock), procps (pgrep/pkill),
#           tzdata (time zone tests), spin (the protocol model),
#           iproute2, nftables, libfaketime (the fault lab, tests/lab)
#
#   install-deps.sh          everything (build and tests)
#   install-deps.sh build    only what building and running needs (demo)
set -eu
mode=${1:-all}
need=""
have_header() { printf '#include <%s>\n' "$1" | cc -E -x c - >/dev/null 2>&1; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }

have_cmd cc || need="$need gcc libc6-dev"
have_cmd make || need="$need make"
if have_cmd cc; then
	have_header sqlite3.h || need="$need libsqlite3-dev"
	have_header sodium.h || need="$need libsodium-dev"
else
	need="$need libsqlite3-dev libsodium-dev"
fi
[ -f /usr/share/zoneinfo/Europe/Berlin ] || need="$need tzdata"
if [ "$mode" != build ]; then
	if have_cmd cc; then
		have_header criterion/criterion.h || need="$need libcriterion-dev"
	else
		need="$need libcriterion-dev"
	fi
	have_cmd python3 || need="$need python3"
	have_cmd flock || need="$need util-linux"
	have_cmd pgrep || need="$need procps"
	have_cmd spin || need="$need spin"
	# the fault lab (tests/lab): namespaces, nftables, a shifted clock
	have_cmd ip || need="$need iproute2"
	have_cmd nft || need="$need nftables"
	ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need="$need libfaketime"
fi

if [ -z "$need" ]; then
	echo "install-deps: everything needed is installed"
	exit 0
fi
line="apt-get install -y --no-install-recommends$need"
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages; run as root:" >&2
	echo "  apt-get update && $line" >&2
	exit 1
fi
echo "install-deps: installing:$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need
