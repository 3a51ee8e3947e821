# SPDX-License-Identifier: MIT
# Shared by tests/system/sys-* and tools/vgpu-demo: a private nfs-ganesha
# (NFSv4 only, 127.0.0.1, one export per VM directory), the host's
# vgpu-mediator, and VMs that mount their export through QEMU user
# networking (restrict=on, a guestfwd to ganesha through socat). Nothing
# listens on, or connects to, anything but 127.0.0.1.
#
# The caller sets $sys_work (a scratch directory) and calls sys_cleanup
# from its EXIT trap.
sys_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${O:=build}"
sys_bin=$sys_top/$O
sys_initrd=$sys_top/build/guest/system-initrd.gz
ganesha_pid= ganesha_port= med_pid=
sys_vm_pids=() sys_vm_names=()

# A free TCP port on 127.0.0.1 in 20000..59999.
sys_free_port() {
	local p i
	for i in $(seq 100); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

# ganesha_conf NAME...: the config exporting $sys_work/spool/NAME as /NAME,
# to $GANESHA_CLIENTS only (default 127.0.0.1).
ganesha_conf() {
	local id=1 name
	cat <<CONF
NFS_CORE_PARAM {
	Protocols = 4;
	Bind_addr = 127.0.0.1;
	NFS_Port = $ganesha_port;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Enable_UDP = false;
	Plugins_Dir = /usr/lib/x86_64-linux-gnu/ganesha;
}
NFS_KRB5 { Active_krb5 = false; }
NFSv4 {
	RecoveryBackend = fs;
	RecoveryRoot = "$sys_work/ganesha/recov";
	Grace_Period = 5;
	Lease_Lifetime = 5;
	Allow_Numeric_Owners = true;
	Only_Numeric_Owners = true;
}
# The mediator changes the directories behind ganesha's back: cache
# neither attributes nor directory entries (else a response shows up in
# the guest only after the default 60 s).
MDCACHE { Dir_Chunk = 0; }
LOG { Default_Log_Level = EVENT; }
CONF
	for name in "$@"; do
		cat <<CONF
EXPORT {
	Export_Id = $id;
	Path = "$sys_work/spool/$name";
	Pseudo = "/$name";
	Protocols = 4;
	Transports = TCP;
	Access_Type = None;
	Squash = No_Root_Squash;
	SecType = sys;
	Attr_Expiration_Time = 0;
	FSAL { Name = VFS; }
	CLIENT { Clients = ${GANESHA_CLIENTS:-127.0.0.1}; Access_Type = RW; }
}
CONF
		id=$((id + 1))
	done
}

# ganesha_start NAME...: starts the private ganesha exporting each VM's
# directory (which the mediator has created); sets $ganesha_port.
ganesha_start() {
	local i
	mkdir -p "$sys_work/ganesha/recov"
	[ -n "$ganesha_port" ] || ganesha_port=$(sys_free_port)
	ganesha_conf "$@" >"$sys_work/ganesha/ganesha.conf"
	ganesha.nfsd -F -f "$sys_work/ganesha/ganesha.conf" -L "$sys_work/ganesha/ganesha.log" \
		-p "$sys_work/ganesha/ganesha.pid" -N NIV_EVENT </dev/null >/dev/null 2>&1 &
	ganesha_pid=$!
	for i in $(seq 200); do
		kill -0 "$ganesha_pid" 2>/dev/null || break
		ss -Htln "sport = :$ganesha_port" | grep -q . && return 0
		sleep 0.1
	done
	echo "ganesha did not start; its log:" >&2
	tail -n 30 "$sys_work/ganesha/ganesha.log" >&2
	return 1
}

# ganesha_listens_elsewhere: what ganesha listens on beyond 127.0.0.1 (empty: nothing).
ganesha_listens_elsewhere() {
	ss -Htlnup | grep "pid=$ganesha_pid," | awk '{print $5}' | grep -vE '^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):' || true
}

ganesha_stop() {
	local sig=${1:-TERM}
	[ -n "$ganesha_pid" ] || return 0
	kill "-$sig" "$ganesha_pid" 2>/dev/null || true
	timeout 20 tail --pid="$ganesha_pid" -f /dev/null 2>/dev/null ||
		kill -KILL "$ganesha_pid" 2>/dev/null || true
	wait "$ganesha_pid" 2>/dev/null || true
	ganesha_pid=
}

# mediator_conf VM:ID:POOL:PRIO...
mediator_conf() {
	local spec name id pool prio
	cat <<CONF
[mediator]
spool = $sys_work/spool
state_dir = $sys_work/state
control_socket = $sys_work/ctl.sock
backend = ${VGPU_BACKEND:-auto}
log_level = debug
rescan_interval_s = 1
CONF
	for spec in "$@"; do
		IFS=: read -r name id pool prio <<<"$spec"
		printf '\n[vm %s]\nid = %s\npool = %s\npriority = %s\nmax_queued = 64\n' \
			"$name" "$id" "$pool" "$prio"
	done
}

# mediator_start: starts vgpu-mediator with $sys_work/mediator.conf; its
# log goes (appended) to $sys_work/mediator.log.
mediator_start() {
	local i
	"$sys_bin/vgpu-mediator" -d -c "$sys_work/mediator.conf" >>"$sys_work/mediator.log" 2>&1 &
	med_pid=$!
	for i in $(seq 200); do
		"$sys_bin/vgpuctl" -s "$sys_work/ctl.sock" status >/dev/null 2>&1 && return 0
		kill -0 "$med_pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "the mediator did not start; its log:" >&2
	tail -n 30 "$sys_work/mediator.log" >&2
	return 1
}

mediator_stop() {
	local sig=${1:-TERM}
	[ -n "$med_pid" ] || return 0
	kill "-$sig" "$med_pid" 2>/dev/null || true
	wait "$med_pid" 2>/dev/null || true
	med_pid=
}

mediator_status() {
	"$sys_bin/vgpuctl" -s "$sys_work/ctl.sock" status
}

# vm_start NAME ID POOL PRIO JOBS THREADS SPIN_NS [EXTRA_APPEND]: boots the
# VM in the background; its console goes to $sys_work/NAME.console, the
# status of boot-guest to $sys_work/NAME.rc.
vm_start() {
	local name=$1 id=$2 pool=$3 prio=$4 jobs=$5 threads=$6 spin=$7 extra=${8:-}
	# Its own process group, so that cleanup can end boot-guest and QEMU.
	setsid "$sys_top/tests/vm/boot-guest" -t "${SYS_VM_TIMEOUT:-400}" \
		-a "sys.vm=$name sys.export=/$name sys.jobs=$jobs sys.threads=$threads sys.spin=$spin $extra" \
		-d "vgpu-stub,addr=4.0,pool_id=$pool,priority=$prio,vm_id=$id" "$sys_initrd" -- \
		-nic "user,model=virtio-net-pci,restrict=on,guestfwd=tcp:10.0.2.100:2049-cmd:socat STDIO TCP:127.0.0.1:$ganesha_port" \
		>"$sys_work/$name.console" 2>&1 </dev/null &
	sys_vm_pids+=($!)
	sys_vm_names+=("$name")
}

# vm_wait: waits for every VM started and writes boot-guest's status to
# $sys_work/NAME.rc; 0 if all powered off cleanly.
vm_wait() {
	local i rc=0 st
	for i in "${!sys_vm_pids[@]}"; do
		st=0
		wait "${sys_vm_pids[$i]}" || st=$?
		echo "$st" >"$sys_work/${sys_vm_names[$i]}.rc"
		[ "$st" -eq 0 ] || rc=1
	done
	sys_vm_pids=() sys_vm_names=()
	return $rc
}

# vm_jobs NAME: the VM's "job ..." lines.
vm_jobs() {
	sed -n 's/^@@ \(job vm=.*\)$/\1/p' "$sys_work/$1.console"
}

sys_cleanup() {
	local p
	# boot-guest leads its own group, but the timeout(1) that runs QEMU
	# makes one of its own: end that first, then boot-guest's.
	for p in "${sys_vm_pids[@]}"; do
		for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do
			kill -TERM -- "-$c" 2>/dev/null || kill -TERM "$c" 2>/dev/null || true
		done
		kill -TERM -- "-$p" 2>/dev/null || true
	done
	for p in "${sys_vm_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	sys_vm_pids=() sys_vm_names=()
	ganesha_stop
	mediator_stop
}

# ---- what the VMs saw ---------------------------------------------------
# sys_jobs NAME...: "VM QUEUED STARTED FINISHED OP RESULT" per job of the VMs.
sys_jobs() {
	local name
	for name in "$@"; do
		vm_jobs "$name"
	done | sed -n 's/^job vm=\([^ ]*\) .* op=\([^ ]*\) id=[0-9]* queued_ns=\([0-9]*\) started_ns=\([0-9]*\) finished_ns=\([0-9]*\) \(.*\)$/\1 \3 \4 \5 \2 \6/p'
}

# sys_violations HIGH LOW: jobs of LOW started while a job of HIGH (same
# pool, higher priority) had been queued for over 1 ms and waited.
sys_violations() {
	sys_jobs "$1" "$2" | awk -v hi="$1" -v lo="$2" '
		$1 == hi { n++; q[n] = $2; s[n] = $3 }
		$1 == lo { m++; ls[m] = $3 }
		END {
			v = 0
			for (j = 1; j <= m; j++)
				for (i = 1; i <= n; i++)
					if (q[i] + 1000000 < ls[j] && ls[j] < s[i]) { v++; break }
			print v
		}'
}

# sys_overtakes HIGH LOW: jobs of HIGH that started before a job of LOW
# queued earlier.
sys_overtakes() {
	sys_jobs "$1" "$2" | awk -v hi="$1" -v lo="$2" '
		$1 == hi { n++; q[n] = $2; s[n] = $3 }
		$1 == lo { m++; lq[m] = $2; ls[m] = $3 }
		END {
			c = 0
			for (i = 1; i <= n; i++)
				for (j = 1; j <= m; j++)
					if (lq[j] < q[i] && s[i] < ls[j]) { c++; break }
			print c
		}'
}

# sys_alongside VM OTHER...: jobs of VM that ran while a job of OTHER ran.
sys_alongside() {
	local vm=$1
	shift
	sys_jobs "$vm" "$@" | awk -v vm="$vm" '
		$1 == vm { n++; s[n] = $3; f[n] = $4; next }
		{ m++; os[m] = $3; of[m] = $4 }
		END {
			c = 0
			for (i = 1; i <= n; i++)
				for (j = 1; j <= m; j++)
					if (s[i] < of[j] && os[j] < f[i]) { c++; break }
			print c
		}'
}

# sys_timeline T0 LABEL VM:PRIO...: the jobs of the VMs in the order they
# ran, in ms since T0 (ns); a job of a higher priority that started before
# jobs queued earlier is marked.
sys_timeline() {
	local t0=$1 label=$2 spec names=() prios=""
	shift 2
	for spec in "$@"; do
		names+=("${spec%%:*}")
		prios+="${spec} "
	done
	echo "-- $label (ms since the first request; one job at a time) --"
	printf "   %8s %8s  %-5s %-7s %-11s %8s %8s  %s\n" start end vm prio op "waited" ran result
	sys_jobs "${names[@]}" | sort -k3,3n | awk -v t0="$t0" -v prios="$prios" '
		BEGIN {
			n = split(prios, a, " ")
			for (i = 1; i <= n; i++) { split(a[i], kv, ":"); p[kv[1]] = kv[2] }
			rank["low"] = 0; rank["medium"] = 1; rank["high"] = 2
		}
		{ k++; vm[k] = $1; q[k] = $2; s[k] = $3; f[k] = $4; op[k] = $5
		  res[k] = $6; for (i = 7; i <= NF; i++) res[k] = res[k] " " $i }
		END {
			for (i = 1; i <= k; i++) {
				over = 0
				for (j = 1; j <= k; j++)
					if (vm[j] != vm[i] && q[j] < q[i] && s[j] > s[i] &&
					    rank[p[vm[i]]] > rank[p[vm[j]]]) over++
				printf "   %8.1f %8.1f  %-5s %-7s %-11s %6.1fms %6.1fms  %s%s\n",
					(s[i] - t0) / 1e6, (f[i] - t0) / 1e6, vm[i], p[vm[i]], op[i],
					(s[i] - q[i]) / 1e6, (f[i] - s[i]) / 1e6, res[i],
					over ? sprintf("   <- ahead of %d queued earlier", over) : ""
			}
		}'
}

# sys_t0 NAME...: the first request's queued_ns.
sys_t0() {
	sys_jobs "$@" | awk 'NR == 1 || $2 < m { m = $2 } END { printf "%.0f\n", m }'
}

# pool_queued POOL PRIO: the mediator's queue depth.
pool_queued() {
	{ mediator_status 2>/dev/null || true; } | sed -n "s/^pool $1:.* $2=\([0-9]*\).*/\1/p"
}
