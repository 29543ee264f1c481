#!/bin/sh
# fake_fence_agent.sh - a stand-in for a ClusterLabs fence agent, for the
# tests of fence/fence-agent without the fence-agents package or hardware.
#
# Like a real agent it reads "name=value" lines on stdin when it has no
# command-line argument (else --name=value arguments), ignores "#" lines and
# unknown names, lets a later line win, and answers:
#   action=off     0 "Success: Powered OFF" (or 1 on failure)
#   action=status  0 "Status: ON", 2 "Status: OFF", 1 when it cannot tell
# The power state lives in a file, so consecutive calls see one machine.
#
# Options (stdin, from the hook's configuration):
#   state_file=F     the power state ("on" or "off"; missing means on); required
#   log_file=F       one line appended per call: the action and what it got
#   mode=ok          off works and status tells the truth (default)
#   mode=fail        off fails ("Unable to connect/login to fencing device")
#   mode=lie         off reports success, but the machine stays on
#   mode=hang        off never returns
#   mode=status_fail off works, status cannot be obtained (exit 1)
#   status_lag=N     the first N status queries after off still say ON
#   leak=1           print the password in the output (a chatty agent)
#   password=P       compared with the first line of the file
#                    $FAKE_FENCE_EXPECT_PASSWORD_FILE when that is set: a
#                    wrong or missing password fails like a refused login
set -u

action=reboot state_file='' log_file='' mode=ok lag=0 leak=0 password='' nodename='' plug=''
argc=$#
setopt() {
	case $1 in
	action | option) action=$2 ;;
	state_file | state-file) state_file=$2 ;;
	log_file | log-file) log_file=$2 ;;
	mode) mode=$2 ;;
	status_lag | status-lag) lag=$2 ;;
	leak) leak=$2 ;;
	password | passwd) password=$2 ;;
	nodename) nodename=$2 ;;
	plug | port) plug=$2 ;;
	username | login | ip | ipaddr) ;;
	*) echo "WARNING Parse error: Ignoring unknown option '$1=$2'" >&2 ;;
	esac
}
if [ $# -gt 0 ]; then
	for a; do
		a=${a#--}
		setopt "${a%%=*}" "${a#*=}"
	done
else
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in '' | '#'*) continue ;; esac
		setopt "${line%%=*}" "${line#*=}"
	done
fi

pw_ok=1
if [ -n "${FAKE_FENCE_EXPECT_PASSWORD_FILE:-}" ]; then
	IFS= read -r want <"$FAKE_FENCE_EXPECT_PASSWORD_FILE"
	[ "$password" = "$want" ] || pw_ok=0
fi
# Did the password reach us any other way than stdin?
pw_in_env=0
if [ -n "$password" ] && env | grep -qF -e "$password"; then pw_in_env=1; fi

[ -n "$log_file" ] && echo "action=$action nodename=$nodename plug=$plug argc=$argc password_ok=$pw_ok password_in_env=$pw_in_env" >>"$log_file"
[ "$leak" = 1 ] && echo "DEBUG logging in as admin with password $password"

if [ $pw_ok = 0 ]; then
	echo "ERROR:root:Failed: Unable to connect/login to fencing device" >&2
	exit 1
fi
[ -n "$state_file" ] || {
	echo "ERROR:root:Failed: state_file is required" >&2
	exit 1
}
state=$(cat "$state_file" 2>/dev/null) || state=on

case $action in
off)
	case $mode in
	fail)
		echo "ERROR:root:Failed: Unable to connect/login to fencing device" >&2
		exit 1
		;;
	hang)
		exec sleep 3600
		;;
	lie) ;;
	*) echo "off lag=$lag" >"$state_file" ;;
	esac
	echo "Success: Powered OFF"
	exit 0
	;;
status)
	if [ "$mode" = status_fail ]; then
		echo "ERROR:root:Failed: Unable to obtain correct plug status or plug is not available" >&2
		exit 1
	fi
	case $state in
	"off lag=0" | off)
		echo "Status: OFF"
		exit 2
		;;
	"off lag="*)
		n=${state#off lag=}
		echo "off lag=$((n - 1))" >"$state_file"
		echo "Status: ON"
		exit 0
		;;
	*)
		echo "Status: ON"
		exit 0
		;;
	esac
	;;
on)
	echo on >"$state_file"
	echo "Success: Powered ON"
	exit 0
	;;
*)
	echo "ERROR:root:Failed: Unrecognised action '$action'" >&2
	exit 1
	;;
esac
