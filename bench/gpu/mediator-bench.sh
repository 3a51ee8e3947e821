#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/gpu/mediator-bench.sh [WORKDIR]
#
# The measurements of issue 6 that go through the mediator, on a machine
# with the GPU, from the repository root (bench/gpu/run-on-device.sh runs
# it after vgpu-cuda-bench, whose numbers the ratios are taken against).
# Starts $O/vgpu-mediator (backend = cuda) on a private tmpfs spool
# (mount -t tmpfs -o nodev,nosuid when root, else /dev/shm), with simulated
# VMs driven by $O/vgpu-submit (throughput) and $O/bench/gpu/vgpu-spool-probe
# (one-at-a-time latencies), one mediator per configuration. Prints, one
# per measurement:
#
#   mediator_noop p50_us= p99_us= ...                      (a) 1 VM, 1 in flight
#   mediator_spin vms= ns= jobs_per_s= pool_jobs_per_s= ... (b) 2 and 4 VMs
#   mediator_cpu vms= ns= main_util= ...                    (b) where the CPU goes
#   mediator_priority mode= hi_wait_p50_us= hi_wait_p99_us= (c)
#   mediator_isolation sms= probe= load= p99_ratio= ...     (d)
#   mediator_datapath ...                                   (e) through the mediator
#   mediator_check op= ok=                                  results vs the CPU reference
#   sess_direct, sess_launch, sess_jobs, sess_fault, sess_hang, sess_xvm,
#   sess_quota, sess_timeslice, sess_copy ...               issue 13's session jobs
#                                                           (bench/gpu/sess_bench.c)
#   sess_exec vm= jobs= run_mean_us= executor_mean_us=     where a session job's run goes
#
# Details (mediator logs, client output, vgpuctl snapshots) go to WORKDIR
# (default build/gpu-mediator). Scale with SECS (default 2); PARTS picks
# the sections (default "main prio iso sess"); ISO_CONFIGS, ISO_ROUNDS and
# ISO_T shape (d), see there; SESS_MODES the modes of sess (default all of
# them), SESS_SPIN_US its clients' polling before they sleep (-S, default
# 0); MED_KEYS adds lines to [mediator] of every mediator started (an
# A/B of one key: MED_KEYS="worker_spin_us = 0"); MAIN_SMS="A B" gives
# the pools of (a)/(b) SM partitions (default "0 0": none, one context).
set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 1
O=${O:-build/gpu}
WORK=${1:-build/gpu-mediator}
SECS=${SECS:-2}
BACKEND=${BACKEND:-cuda}	# cpu: a dry run of this script without a GPU
GEMM=${GEMM:-8192}		# pool B's load in (d): GEMM x GEMM x GEMM SGEMMs
PARTS=${PARTS:-main prio iso sess}	# main: (a) (b) (e) and the checks; prio: (c); iso: (d);
				# sess: issue 13's session jobs; pool: (b) alone
B_NS=${B_NS:-20000 100000 1000000}	# (b)'s job lengths (ns); B_NS=20000 for issue 11 §4
want() { [[ " $PARTS " == *" $1 "* ]]; }
MED=$O/vgpu-mediator
SUB=$O/vgpu-submit
CTL=$O/vgpuctl
PROBE=$O/bench/gpu/vgpu-spool-probe
SESS=$O/bench/gpu/vgpu-sess-bench
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

for b in "$MED" "$SUB" "$CTL" "$PROBE" "$SESS"; do
	[ -x "$b" ] || { echo "mediator_error missing $b"; exit 1; }
done

# ---- the spool: a private tmpfs, nodev (the mediator's fast path) --------
SPOOL=/tmp/vgpu-bench-spool
mkdir -p "$SPOOL"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o nodev,nosuid,size=24g,mode=0755 vgpu-bench "$SPOOL" 2>/dev/null; then
	MOUNTED=1
	echo "mediator_spool $SPOOL tmpfs nodev,nosuid (private mount)"
else
	MOUNTED=0
	SPOOL=/dev/shm/vgpu-bench-spool.$$
	mkdir -p "$SPOOL"
	echo "mediator_spool $SPOOL ($(findmnt -no FSTYPE,OPTIONS -T /dev/shm 2>/dev/null))"
fi
MPID=
cleanup() {
	[ -n "$MPID" ] && kill -TERM "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
	jobs -p | while read -r p; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "$MOUNTED" = 1 ]; then umount "$SPOOL"; else rm -rf "$SPOOL"; fi
}
trap cleanup EXIT

# ---- one mediator per configuration ---------------------------------------
# start_mediator NAME SMS_A SMS_B VM... ; VM = name:pool:prio[:max_payload[:max_queued]]
# MED_KEYS: more [mediator] lines; VM_CONF: a file of [vm] sections to append
start_mediator() {
	local name=$1 sa=$2 sb=$3 id=0
	shift 3
	SCEN=$name
	CONF=$WORK/$name.conf
	rm -rf "${SPOOL:?}/$name" "$WORK/state-$name"
	mkdir -p "$SPOOL/$name" "$WORK/state-$name" "$WORK/none.d"
	{
		echo "[mediator]"
		echo "spool = $SPOOL/$name"
		echo "state_dir = $WORK/state-$name"
		echo "control_socket = $WORK/$name.sock"
		echo "include = $WORK/none.d"
		echo "backend = $BACKEND"
		echo "log_level = info"
		[ -n "${STAGING:-}" ] && echo "staging_bytes = $STAGING"
		[ -n "${MAIN_CPUS:-}" ] && echo "cpus = $MAIN_CPUS"
		[ -n "${MED_KEYS:-}" ] && printf '%s\n' "$MED_KEYS"
		echo "[pool A]"
		echo "sms = $sa"
		[ -n "${A_CPUS:-}" ] && echo "cpus = $A_CPUS"
		[ -n "${IO_THREADS:-}" ] && echo "io_threads = $IO_THREADS"
		echo "[pool B]"
		echo "sms = $sb"
		[ -n "${B_CPUS:-}" ] && echo "cpus = $B_CPUS"
		[ -n "${IO_THREADS:-}" ] && echo "io_threads = $IO_THREADS"
		for v in "$@"; do
			IFS=: read -r vn vp vprio vmax vq <<<"$v"
			id=$((id + 1))
			echo "[vm $vn]"
			echo "id = $id"
			echo "pool = $vp"
			echo "priority = $vprio"
			echo "max_payload_bytes = ${vmax:-256M}"
			echo "max_queued = ${vq:-64}"
		done
		[ -n "${VM_CONF:-}" ] && cat "$VM_CONF"
	} >"$CONF"
	"$MED" -d -c "$CONF" 2>"$WORK/mediator-$name.log" &
	MPID=$!
	for _ in $(seq 300); do
		grep -q 'ready:' "$WORK/mediator-$name.log" 2>/dev/null && break
		kill -0 "$MPID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q 'ready:' "$WORK/mediator-$name.log"; then
		echo "mediator_error $name: the mediator did not start:"
		tail -5 "$WORK/mediator-$name.log"
		stop_mediator
		return 1
	fi
	grep -q "backend $BACKEND" "$WORK/mediator-$name.log" ||
		{ echo "mediator_error $name: not on the CUDA backend"; stop_mediator; return 1; }
	return 0
}

stop_mediator() {
	[ -n "$MPID" ] || return 0
	kill -TERM "$MPID" 2>/dev/null
	wait "$MPID" 2>/dev/null
	MPID=
}

vmdir() { echo "$SPOOL/$SCEN/$1"; }
ctl() { "$CTL" -c "$CONF" status; }

# Per-thread CPU time (ns) of the mediator: "tid ns name" lines.
cpu_snap() {
	local t
	for t in /proc/"$MPID"/task/*; do
		if [ -r "$t/schedstat" ]; then
			echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat") $(cat "$t/comm")"
		else	# utime + stime in clock ticks
			echo "${t##*/} $(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, "");
				printf "%.0f", ($12 + $13) * 1e9 / hz }' "$t/stat") $(cat "$t/comm")"
		fi
	done
}
# cpu_report LABEL BEFORE AFTER WALL_NS JOBS: the main thread, each pool's
# worker (vgpu-pool-A, -B) and publisher (vgpu-pool-A/pub, -B/pub)
cpu_report() {
	awk -v label="$1" -v wall="$4" -v jobs="$5" -v main="$MPID" '
		FNR == NR { b[$1] = $2; next }
		{ d = $2 - b[$1]; tot += d; if ($1 == main) m = d; else u[$3] += d }
		END {
			printf "mediator_cpu %s main_util=%.2f worker1_util=%.2f worker2_util=%.2f " \
			       "publisher1_util=%.2f publisher2_util=%.2f cpu_us_per_job=%.2f\n",
			       label, m / wall, u["vgpu-pool-A"] / wall, u["vgpu-pool-B"] / wall,
			       u["vgpu-pool-A/pub"] / wall, u["vgpu-pool-B/pub"] / wall,
			       tot / 1e3 / jobs
		}' "$2" "$3"
}

# summary FILE -> "p50 p99 rps" from vgpu-submit's last line
summary() {
	sed -n 's/.*latency p50 \([0-9.]*\) us p99 \([0-9.]*\) us; \([0-9.]*\) requests.*/\1 \2 \3/p' "$1" | tail -1
}
# median_run FILE DIV: median of finished_ns - started_ns over vgpu-submit -v
# lines, divided by DIV (1e3: us, 1e6: ms); NA if none
median_run() {
	awk -v d="$2" '/ started_ns=/ { for (i = 1; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] == "started_ns") s = kv[2]; if (kv[1] == "finished_ns") f = kv[2] }
		printf "%.1f\n", (f - s) / d }' "$1" | sort -n |
		awk '{ v[NR] = $1 } END { print NR ? v[int(NR / 2) + 1] : "NA" }'
}
# val LINE KEY
val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# ---- 1. (a), (b), correctness: shared SMs, two VMs per pool ---------------
read -r -a MAIN_SMS_V <<<"${MAIN_SMS:-0 0}"
want main && echo "== mediator (a) NOOP, (b) small jobs, correctness"
want pool && ! want main && echo "== mediator (b) small jobs alone ($B_NS ns)"
if { want main || want pool; } &&
   start_mediator main "${MAIN_SMS_V[0]}" "${MAIN_SMS_V[1]}" a1:A:medium a2:A:medium b1:B:medium b2:B:medium d1:A:medium:1G; then
	if want main; then
	# correctness through the whole path, CUDA backend vs the CPU reference
	for job in "noop" "spin 20000" "vector_add 100003" "saxpy 65537 0.75" \
		   "reduce_sum 1000003" "checksum 3000017" "sgemm 300 200 100" \
		   "gemm_bf16 257 129 65"; do
		# shellcheck disable=SC2086
		if line=$("$SUB" -d "$(vmdir a1)" -l check -c -q 4 -n 16 $job 2>&1 | tail -1); then
			echo "mediator_check op=${job%% *} ok=1 ($line)"
		else
			echo "mediator_check op=${job%% *} ok=0 ($line)"
		fi
	done

	# (a) one VM, one request in flight
	"$SUB" -d "$(vmdir a1)" -l noop -q 1 -n 2000 noop >/dev/null	# warm-up
	p=$("$PROBE" -d "$(vmdir a1)" -l noop -n 20000 -w 1000 noop)
	echo "$p" >"$WORK/a-noop-probe.txt"
	"$SUB" -d "$(vmdir a1)" -l noop -q 1 -n 20000 noop >"$WORK/a-noop-submit.txt"
	read -r sp50 sp99 srps <<<"$(summary "$WORK/a-noop-submit.txt")"
	echo "mediator_noop p50_us=$(val "$p" e2e_p50_us) p99_us=$(val "$p" e2e_p99_us)" \
	     "med_p50_us=$(val "$p" med_p50_us) med_p99_us=$(val "$p" med_p99_us)" \
	     "run_p50_us=$(val "$p" run_p50_us) n=$(val "$p" n)" \
	     "submit_p50_us=$sp50 submit_p99_us=$sp99 submit_rps=$srps"
	fi	# want main

	# (b) SPIN jobs from 2 VMs (one per pool) and 4 VMs (two per pool),
	# 32 in flight per VM; about SECS seconds each
	for ns in $B_NS; do
		case $ns in
		20000) total=$((50000 * SECS)) ;;
		100000) total=$((18000 * SECS)) ;;
		*) total=$((2000 * SECS)) ;;
		esac
		for vms in 2 4; do
			if [ "$vms" = 2 ]; then list="a1 b1"; else list="a1 a2 b1 b2"; fi
			per=$((total / vms))
			cpu_snap >"$WORK/cpu0"
			t0=$(date +%s%N)
			pids=()
			for v in $list; do
				"$SUB" -d "$(vmdir "$v")" -l "$v" -q 32 -n "$per" spin "$ns" \
					>"$WORK/b-$ns-$vms-$v.txt" 2>&1 &
				pids+=($!)
			done
			fail=0
			for p in "${pids[@]}"; do wait "$p" || fail=1; done
			t1=$(date +%s%N)
			cpu_snap >"$WORK/cpu1"
			# the last trace_jobs jobs run: the gaps between a pool's jobs
			"$CTL" -c "$CONF" trace -o "$WORK/b-$ns-$vms-trace.json" 2>/dev/null
			wall=$((t1 - t0))
			worst50=0 worst99=0 pa=0 pb=0
			for v in $list; do
				read -r a b r <<<"$(summary "$WORK/b-$ns-$vms-$v.txt")"
				worst50=$(awk -v x="$worst50" -v y="${a:-0}" 'BEGIN { print (y > x ? y : x) }')
				worst99=$(awk -v x="$worst99" -v y="${b:-0}" 'BEGIN { print (y > x ? y : x) }')
				# each pool's completions/s: the sum of its VMs' own rates
				case $v in
				a*) pa=$(awk -v x="$pa" -v y="${r:-0}" 'BEGIN { print x + y }') ;;
				*) pb=$(awk -v x="$pb" -v y="${r:-0}" 'BEGIN { print x + y }') ;;
				esac
			done
			# the slower pool: both run the same jobs
			pool=$(awk -v x="$pa" -v y="$pb" 'BEGIN { printf "%.0f", (x < y ? x : y) }')
			if [ "$fail" = 0 ]; then
				echo "mediator_spin vms=$vms ns=$ns jobs_per_s=$(awk -v n=$((per * vms)) -v w=$wall \
					'BEGIN { printf "%.0f", n / (w / 1e9) }') jobs=$((per * vms)) depth=32" \
				     "pool_jobs_per_s=$pool pool_a_jobs_per_s=$pa pool_b_jobs_per_s=$pb" \
				     "vm_p50_us=$worst50 vm_p99_us=$worst99"
			else
				echo "mediator_error spin vms=$vms ns=$ns: a client failed:"
				tail -2 "$WORK"/b-$ns-$vms-*.txt
			fi
			cpu_report "vms=$vms ns=$ns" "$WORK/cpu0" "$WORK/cpu1" "$wall" $((per * vms))
		done
	done

	# (e) through the mediator: 256 MiB SAXPY (256 MiB in, 128 MiB out)
	if want main; then
	p=$("$PROBE" -d "$(vmdir d1)" -l saxpy -n 5 -w 1 saxpy 33554432 0x3fc00000)
	echo "$p" >"$WORK/e-saxpy-probe.txt"
	echo "mediator_datapath payload_mib=256 $(awk -v r="$(val "$p" run_p50_us)" \
		-v m="$(val "$p" med_p50_us)" -v e="$(val "$p" e2e_p50_us)" 'BEGIN {
		b = 402653184; printf "run_ms=%.1f run_gbps=%.2f med_ms=%.1f e2e_ms=%.1f e2e_gbps=%.2f",
		r / 1e3, b / (r * 1e3), m / 1e3, e / 1e3, b / (e * 1e3) }')"
	fi
	ctl >"$WORK/main-vgpuctl.txt" 2>&1
	stop_mediator
fi

# ---- 2. (c) priority: pool A saturated by low-priority 1 ms jobs ----------
want prio && echo "== mediator (c) priority"
if want prio && start_mediator prio 0 0 lo:A:low hi:A:high bx:B:medium; then
	lo_n=$((1500 + 500 * SECS))
	"$SUB" -d "$(vmdir lo)" -l lo -v -q 48 -n "$lo_n" spin 1000000 >"$WORK/c-lo.txt" 2>&1 &
	lopid=$!
	sleep 0.3
	ctl >"$WORK/c-vgpuctl-before.txt" 2>&1
	# back to back: each arrives ~just after a low job started (the worst phase)
	pb=$("$PROBE" -d "$(vmdir hi)" -l hi-b2b -n 200 -w 5 spin 20000)
	# random gaps of 0..2 ms: arrivals at random phases of the low jobs
	pr=$("$PROBE" -d "$(vmdir hi)" -l hi-random -n 200 -w 5 -g 2000 spin 20000)
	ctl >"$WORK/c-vgpuctl-after.txt" 2>&1
	lo_left=$(sed -n 's/^pool A: .*queued high=[0-9]* medium=[0-9]* low=\([0-9]*\).*/\1/p' \
		"$WORK/c-vgpuctl-after.txt")
	lo_running=$(grep -c '^pool A: running lo/' "$WORK/c-vgpuctl-after.txt")
	wait "$lopid"
	lo_run=$(median_run "$WORK/c-lo.txt" 1e3)
	echo "$pb" >"$WORK/c-hi.txt"
	echo "$pr" >>"$WORK/c-hi.txt"
	for m in b2b random; do
		if [ "$m" = b2b ]; then p=$pb; else p=$pr; fi
		echo "mediator_priority mode=$m hi_wait_p50_us=$(val "$p" wait_p50_us)" \
		     "hi_wait_p99_us=$(val "$p" wait_p99_us) hi_wait_max_us=$(val "$p" wait_max_us)" \
		     "hi_e2e_p50_us=$(val "$p" e2e_p50_us) hi_e2e_p99_us=$(val "$p" e2e_p99_us)" \
		     "n=$(val "$p" n) lo_run_p50_us=$lo_run lo_queued_after=${lo_left:-NA}" \
		     "lo_running_after=$lo_running"
	done
	stop_mediator
fi

# ---- 3. (d) isolation: pool A's probe alone and under pool B's load --------
# Pool B's VM submits 8192^3 SGEMMs (512 MiB in, 256 MiB out each) back to
# back, 2 in flight; as a control, SAXPYs of the same bytes (copies, almost
# no SM time). Probes one at a time in pool A: a 256^3 SGEMM (needs SMs,
# 768 KiB of copies) and a 100 us SPIN (one thread, no data).
#
# "Alone" and "loaded" alternate, ISO_ROUNDS times ISO_T seconds each, and
# the samples of each side are pooled before the percentiles are taken, so
# that a drift of the machine over the run (another tenant, a clock
# change) falls on both sides alike. Alone means pool B idle with its client
# stopped (SIGSTOP): no GPU work and no file traffic from B.
#
# For reference, each config also measures A "fresh": alone before B ever
# ran on it (alone_fresh_p99_us); B's file traffic leaves the memory
# allocator of the host slower for a while after it stops, so the
# interleaved alone side can be slower than fresh (p99_ratio_vs_fresh).
#
# Configs SMS_A/SMS_B/STAGING/PIN[/IO]: shared SMs or a 72/60 split;
# staging 2M (the default: 1 MiB copy chunks) or 16M; PIN "pin": main
# thread, both workers and both clients on five different physical cores
# (the mediator's cpus = keys), "-": left to the scheduler (the default);
# IO: both pools' io_threads (default: the mediator's, 2).
want iso && echo "== mediator (d) isolation"
ISO_T=${ISO_T:-$(awk -v s="$SECS" 'BEGIN { print s * 0.625 }')}
ISO_ROUNDS=${ISO_ROUNDS:-4}
steal() { awk '/^cpu / { print $9 }' /proc/stat; }	# ticks the hypervisor took
# one CPU per physical core, in order; the first is left to the system
mapfile -t CORES < <(lscpu -p=CPU,CORE,SOCKET 2>/dev/null | grep -v '^#' |
	awk -F, '!seen[$3 "," $2]++ { print $1 }')
echo "mediator_cores physical=${#CORES[@]} first_cpus=${CORES[*]:0:8}"
wait_pool_b() {	# wait_pool_b running|idle
	for _ in $(seq 600); do
		s=$(ctl 2>/dev/null | grep '^pool B:')
		case $1 in
		running) [[ $s == *running* ]] && return 0 ;;
		idle) [[ $s == *idle*low=0* && $s == *high=0\ medium=0* ]] && return 0 ;;
		esac
		sleep 0.02
	done
	echo "mediator_error pool B never became $1"
	return 1
}
# pct FILE COL P: the P-th percentile (us) of column COL (ns) of FILE
pct() {
	cut -d' ' -f"$2" "$1" | sort -n | awk -v p="$3" '{ v[NR] = $1 }
		END { if (!NR) { print "NA"; exit } i = int(NR * p / 100) + 1; if (i > NR) i = NR
		      printf "%.2f\n", v[i] / 1e3 }'
}
want iso || ISO_CONFIGS=" "
for cfg in ${ISO_CONFIGS:-72/56/2M/- 0/0/2M/- 72/56/2M/pin 72/56/2M/-/1}; do
	IFS=/ read -r sa sb STAGING pin IO_THREADS <<<"$cfg"
	MAIN_CPUS= A_CPUS= B_CPUS= probe_pin=() b_pin=()
	if [ "$pin" = pin ]; then
		if [ ${#CORES[@]} -lt 6 ]; then
			echo "mediator_isolation config=$cfg SKIP: ${#CORES[@]} physical cores, pinning needs 6"
			continue
		fi
		MAIN_CPUS=${CORES[1]} A_CPUS=${CORES[2]} B_CPUS=${CORES[3]}
		probe_pin=(taskset -c "${CORES[4]}")
		b_pin=(taskset -c "${CORES[5]}")
	fi
	if ! start_mediator "iso-${cfg//\//-}" "$sa" "$sb" pa:A:medium pb:B:medium:1G:4; then
		continue
	fi
	split=$(sed -n 's/.*pool \([AB]\): \([0-9]*\) of .*/\2/p' "$WORK/mediator-$SCEN.log" | paste -sd/)
	"${probe_pin[@]}" "$SUB" -d "$(vmdir pa)" -q 1 -n 200 sgemm 256 256 256 >/dev/null	# warm-up
	declare -A fresh=()
	for probe in "sgemm 256 256 256" "spin 100000"; do
		key=${probe%% *}
		# shellcheck disable=SC2086
		"${probe_pin[@]}" "$PROBE" -d "$(vmdir pa)" -l fresh -n 1000000 -T "$ISO_T" -w 20 \
			-o "$WORK/d-$SCEN.$key.fresh.raw" $probe >>"$WORK/d-$SCEN-probes.txt"
		fresh[$key]=$(pct "$WORK/d-$SCEN.$key.fresh.raw" 1 99)
	done
	st0=$(steal) t0=$(date +%s%N)
	for load in "sgemm $GEMM $GEMM $GEMM" "saxpy $((GEMM * GEMM)) 1.5"; do
		lkey=${load%% *}
		raw=$WORK/d-$SCEN-$lkey
		rm -f "$raw".*.raw
		# shellcheck disable=SC2086
		"${b_pin[@]}" "$SUB" -d "$(vmdir pb)" -l "pb-$lkey" -v -q 2 -n 100000 $load \
			>"$WORK/d-$SCEN-$lkey-b.txt" 2>&1 &
		bpid=$!
		wait_pool_b running || break
		d0=$(grep -o 'done [0-9]*' <<<"$(ctl | grep '^pool B:')" | cut -d' ' -f2)
		for round in $(seq "$ISO_ROUNDS"); do
			for side in alone loaded; do
				if [ $side = alone ]; then
					kill -STOP "$bpid"; wait_pool_b idle
				else
					kill -CONT "$bpid"; wait_pool_b running
				fi
				for probe in "sgemm 256 256 256" "spin 100000"; do
					key=${probe%% *}
					# shellcheck disable=SC2086
					"${probe_pin[@]}" "$PROBE" -d "$(vmdir pa)" -l "$side-$round" \
						-n 1000000 -T "$ISO_T" -w 20 -o "$raw.$key.$side.raw" \
						$probe >>"$WORK/d-$SCEN-probes.txt"
				done
			done
		done
		d1=$(grep -o 'done [0-9]*' <<<"$(ctl | grep '^pool B:')" | cut -d' ' -f2)
		kill "$bpid" 2>/dev/null
		wait "$bpid" 2>/dev/null
		wait_pool_b idle
		for key in sgemm spin; do
			a=$raw.$key.alone.raw l=$raw.$key.loaded.raw
			case $key in sgemm) pname=sgemm256 ;; *) pname=spin100us ;; esac
			ap99=$(pct "$a" 1 99) lp99=$(pct "$l" 1 99)
			echo "mediator_isolation config=$cfg sms=${split:-?} probe=$pname load=$lkey" \
			     "alone_p50_us=$(pct "$a" 1 50) alone_p99_us=$ap99" \
			     "loaded_p50_us=$(pct "$l" 1 50) loaded_p99_us=$lp99" \
			     "p99_ratio=$(awk -v x="$lp99" -v y="$ap99" 'BEGIN { printf "%.3f", x / y }')" \
			     "alone_fresh_p99_us=${fresh[$key]}" \
			     "p99_ratio_vs_fresh=$(awk -v x="$lp99" -v y="${fresh[$key]}" 'BEGIN { printf "%.3f", x / y }')" \
			     "run_alone_p99_us=$(pct "$a" 3 99) run_loaded_p99_us=$(pct "$l" 3 99)" \
			     "med_alone_p99_us=$(pct "$a" 4 99) med_loaded_p99_us=$(pct "$l" 4 99)" \
			     "n=$(wc -l <"$a")/$(wc -l <"$l") rounds=$ISO_ROUNDS"
		done
		b_run=$(median_run "$WORK/d-$SCEN-$lkey-b.txt" 1e6)
		echo "mediator_isolation_load config=$cfg load=$lkey b_jobs_during_probes=$((d1 - d0))" \
		     "b_run_p50_ms=$b_run sms_a_b=${split:-?}"
	done
	echo "mediator_isolation_steal config=$cfg steal_ticks_per_s=$(awk -v a="$st0" -v b="$(steal)" \
		-v ns=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", (b - a) / (ns / 1e9) }')" \
		"ticks_per_s_per_cpu=$(getconf CLK_TCK)"
	unset fresh
	stop_mediator
	STAGING= MAIN_CPUS= A_CPUS= B_CPUS= IO_THREADS=
done

# ---- 4. sessions (issue 13): session jobs of user kernels ------------------
# vgpu-sess-bench (bench/gpu/sess_bench.c, whose head says what each mode
# measures) against one mediator with the [vm] sections it prints: the
# same PTX directly (before the mediator starts), then through the
# mediator and the VMs' executors. With BACKEND=cpu the test commands
# stand in for the kernels that fault and hang (kind=plumbing).
want sess && echo "== mediator sessions (issue 13)"
if want sess; then
	timeout 120 "$SESS" -T "$SECS" direct 2>>"$WORK/sess-bench.stderr" ||
		echo "sess_error direct: exit status $?"
	"$SESS" vms >"$WORK/sess-vms.conf"
	med_keys=${MED_KEYS:-}
	[ "$BACKEND" = cpu ] && med_keys+=$'\nsession_test_commands = yes'
	if MED_KEYS=$med_keys VM_CONF=$WORK/sess-vms.conf start_mediator sess 0 0; then
		for m in ${SESS_MODES:-launch jobs fault hang xvm quota timeslice copy}; do
			timeout 180 "$SESS" -s "$SPOOL/$SCEN" -T "$SECS" -S "${SESS_SPIN_US:-0}" "$m" \
				2>>"$WORK/sess-bench.stderr" || echo "sess_error $m: exit status $?"
		done
		ctl >"$WORK/sess-vgpuctl.txt" 2>&1
		# per VM: its session jobs' mean run (worker's clock) and the
		# part of it inside the executor (the executor's clock)
		awk '/^vm .*session_jobs=/ {
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			if (v["session_jobs"] > 0)
				printf "sess_exec vm=%s jobs=%d run_mean_us=%.2f executor_mean_us=%.2f\n",
					substr($2, 1, length($2) - 1), v["session_jobs"],
					v["run_ns"] / v["session_jobs"] / 1000,
					v["executor_ns"] / v["session_jobs"] / 1000
		}' "$WORK/sess-vgpuctl.txt"
		stop_mediator
	fi
fi
exit 0
