# labtest.sh - the common start of a lab regression test: source it first
# thing.  It re-runs the test under `timeout` (LAB_TEST_SECS, default 120),
# skips (exit 77, with the reason) where the lab cannot run, sources
# netlab.sh, and defines fail MSG [LOG...]: print MSG and the tails of the
# given lab logs (default schedd.log), exit 1.
if [ -z "${LAB_TEST_TIMED:-}" ]; then
	LAB_TEST_TIMED=1 exec timeout -s TERM --kill-after=15 "${LAB_TEST_SECS:-120}" bash "$0" "$@"
fi
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespaces)"; exit 77; }
command -v nft >/dev/null || { echo "skip: needs nft (apt-get install nftables)"; exit 77; }
# shellcheck source=netlab.sh
. "$HERE/netlab.sh"
[ -x "$LAB_BIN/workerd" ] || { echo "FAIL: build first (make)" >&2; exit 1; }
fail() {
	local msg=$1
	shift
	echo "FAIL: $msg" >&2
	if [ -n "${LAB_DIR:-}" ]; then
		[ $# -gt 0 ] || set -- schedd.log
		for f; do tail -n 20 "$LAB_DIR/$f" >&2; done
	fi
	exit 1
}
