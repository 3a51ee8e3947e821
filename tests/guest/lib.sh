# SPDX-License-Identifier: MIT
# Shared by tests/guest/vm-*: boot the guest-test initramfs and turn the
# guest's "@@ " lines back into KTAP (renumbered, one plan at the end).
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export QEMU=${QEMU:-$("$top/qemu-patches/build-qemu" --path)}
initrd=$top/build/guest/initrd.gz
work=$(mktemp -d)
n=0

# ok|not ok NAME [# directive]
result() {
	n=$((n + 1))
	echo "$1 $n $2"
}

# guest_ktap CONSOLE PREFIX: the guest programs' results, renumbered.
guest_ktap() {
	local line prefix=$2
	while IFS= read -r line; do
		case $line in
		"@@ @@rc "*)
			set -- ${line#@@ @@rc }
			[ "$2" = 0 ] || echo "# $1 exited with status $2" ;;
		"@@ ok "* | "@@ not ok "*)
			line=${line#@@ }
			local st=${line%% [0-9]*} rest=${line#* [0-9]* }
			[ "$st" = "not" ] && st="not ok"
			[ "$st" = "ok" ] || st="not ok"
			result "$st" "$prefix.$rest" ;;
		"@@ "*) echo "# ${line#@@ }" ;;
		esac
	done <"$1"
}

# boot NAME ARGS...: boot-guest with ARGS; records the console in $work/NAME.
boot() {
	local name=$1
	shift
	"$top/tests/vm/boot-guest" "$@" >"$work/$name.console" 2>&1
	boot_rc=$?
	if [ $boot_rc -eq 0 ]; then
		result ok "$name: guest ran its tests and powered off cleanly"
	else
		grep -vE '^@@ ' "$work/$name.console" | tail -n 40 | sed 's/^/# /'
		result "not ok" "$name: guest boot # boot-guest exit status $boot_rc (1 test failed, 2 BUG/Oops/WARNING, 3 hung)"
	fi
}
