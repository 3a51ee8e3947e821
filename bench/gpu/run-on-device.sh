#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/gpu/run-on-device.sh [OUTDIR]
#
# Issue 6's benchmark, on a machine with the GPU, from the repository
# root, in one go: builds (bench/gpu/device.mk: plain nvcc and cc, no -dev
# packages), runs the correctness test, every backend measurement
# (vgpu-cuda-bench: raw launch, one process, naive processes, MPS,
# isolation, data path), then the end-to-end ones through the mediator
# (bench/gpu/mediator-bench.sh), and ends with one RESULT line whose ratios
# all come from this run, then issue 13's RESULT_SESSIONS line (session
# jobs of user kernels through the mediator and the VMs' executors:
# tests/gpu/sessions_test.c, bench/gpu/sess_bench.c), then issue 14's
# RESULT_CUDART (tests/cudart's programs natively and through the guest
# CUDA runtime: bench/gpu/cudart-run.sh, about 2 minutes more; CUDART=0
# leaves it out). Takes about 8 minutes on an H200 without it.
#
# SESSIONS_ONLY=1: build, the executor and session tests, the raw launch
# (the base of launch_overhead_us) and the session part alone, ending with
# RESULT_SESSIONS (about 2 minutes).
#
# POOL_ONLY=1: build, then POOL_RUNS (default 3) rounds of issue 11 §4's
# measurement alone: one process doing 20 us jobs back to back, then the
# mediator with 2 and 4 VMs doing the same (mediator-bench.sh PARTS=pool),
# one RESULT_POOL line per round and their median (about 1 minute; the
# target is read on the median, the rounds alternating on one machine).
#
# CUDART_ONLY=1: bench/gpu/cudart-run.sh alone (it builds what it needs),
# ending with RESULT_CUDART (about 2 minutes; machine.txt, bench.log,
# cudart.log and cudart-logs.tar.gz).
#
# The mediator needs libinih, which a GPU machine may lack: INIH=DIR names
# a folder with ini.h and libinih.a (copied from Debian's libinih-dev);
# without it, /usr/include/ini.h and libinih.a are used where installed.
#
# OUTDIR ($OUT when set, else build/gpu-results) gets machine.txt,
# build.log, test.log, bench.log (every measurement line) and logs.tar.gz
# (stderr, mediator logs and configs, client output, KTAP results).
set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 1
OUTDIR=${OUT:-${1:-build/gpu-results}}
O=${O:-build/gpu}
SECS=${SECS:-2}
SESSIONS_ONLY=${SESSIONS_ONLY:-0}
CUDART_ONLY=${CUDART_ONLY:-0}
POOL_ONLY=${POOL_ONLY:-0}
POOL_RUNS=${POOL_RUNS:-3}
WORK=${WORK:-/tmp/vgpu-gpu-bench}
rm -rf "$WORK"
mkdir -p "$OUTDIR" "$WORK"
BENCH=$O/bench/gpu/vgpu-cuda-bench
LOG=$OUTDIR/bench.log
: >"$LOG"
if [ -z "${INIH:-}" ] && [ -f /usr/include/ini.h ]; then
	for a in /usr/lib/x86_64-linux-gnu/libinih.a /usr/lib/libinih.a; do
		[ -f "$a" ] || continue
		INIH=$WORK/inih
		mkdir -p "$INIH"
		cp /usr/include/ini.h "$a" "$INIH/"
		break
	done
fi
[ -n "${INIH:-}" ] && INIH=$(cd "$INIH" && pwd)

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: bench/gpu/run-on-device.sh $*"
	echo "source: $(cat .source 2>/dev/null || git rev-parse HEAD 2>/dev/null || echo unknown)"
	echo "host: $(uname -srm), $(nproc) CPUs"
	nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
	nvidia-smi
	nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version
	df -h /dev/shm
	lscpu
	lscpu -e
	echo "cgroup: $(cat /proc/self/cgroup)"
	for f in memory.max memory.high cpu.max; do
		echo "$f: $(cat "/sys/fs/cgroup/$f" 2>/dev/null || echo n/a)"
	done
	grep -H . /proc/pressure/* 2>/dev/null
	ls /sys/bus/virtio/drivers/ 2>/dev/null | tr '\n' ' '; echo
	cat /proc/sys/vm/page_reporting_order 2>/dev/null
	cat /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null
} >"$OUTDIR/machine.txt" 2>&1
head -3 "$OUTDIR/machine.txt"

cudart() {	# issue 14: the guest CUDA runtime against native runs (builds what it needs)
	echo "== CUDA runtime (issue 14)"
	O=$O WORK=$WORK/cudart INIH=${INIH:-} bash bench/gpu/cudart-run.sh "$OUTDIR" 2>&1 |
		tee -a "$LOG"
}
if [ "$CUDART_ONLY" = 1 ]; then
	cudart
	exit
fi

echo "== build"
make -f bench/gpu/device.mk O="$O" ${INIH:+INIH="$INIH"} -j8 all >"$OUTDIR/build.log" 2>&1 || {
	tail -30 "$OUTDIR/build.log"; echo "RESULT build failed"; exit 1; }
grep -c 'warning:' "$OUTDIR/build.log" | sed 's/^/build warnings: /'

if [ "$POOL_ONLY" != 1 ]; then
echo "== correctness"
tests=("$O/tests/gpu/vgpu-executor-test" "$O/tests/gpu/vgpu-sessions-test")
[ "$SESSIONS_ONLY" = 1 ] || tests=("$O/tests/gpu/vgpu-cuda-test" "${tests[@]}")
tests/ktap-run -s gpu -r "$WORK/results" "${tests[@]}" >"$OUTDIR/test.log" 2>&1
grep -E '^  (not ok|ok)|rel err|seed|SKIP|^gpu:|^  # (v1 |v2|ptx|cubin|4096|.*killed after)' \
	"$OUTDIR/test.log" | grep -vE '^  ok [0-9]+ op\.(mem|file)_'
grep -E '^  not ok' "$OUTDIR/test.log" && echo "FAILED tests above"
fi

bench() { "$BENCH" "$@" 2>>"$WORK/bench.stderr" | tee -a "$LOG"; }

if [ "$POOL_ONLY" = 1 ]; then	# issue 11 §4 alone, POOL_RUNS rounds
	ratios=()
	for r in $(seq "$POOL_RUNS"); do
		echo "== round $r: one process, then the mediator (2 and 4 VMs)"
		d=$(bench spin 20000 "$SECS" | sed -n 's/^spin_direct .*jobs_per_s=\([0-9.]*\).*/\1/p')
		m=$(O=$O SECS=$SECS PARTS=pool B_NS=20000 bench/gpu/mediator-bench.sh \
			"$WORK/mediator-$r" 2>&1 | tee -a "$LOG")
		p2=$(sed -n 's/^mediator_spin vms=2 .*pool_jobs_per_s=\([0-9]*\).*/\1/p' <<<"$m")
		p4=$(sed -n 's/^mediator_spin vms=4 .*pool_jobs_per_s=\([0-9]*\).*/\1/p' <<<"$m")
		mu=$(sed -n 's/^mediator_cpu vms=2 .*main_util=\([0-9.]*\).*/\1/p' <<<"$m")
		ratios+=("$(awk -v a="$p2" -v b="$d" 'BEGIN { if (a == "" || b == "" || b == 0)
			print "NA"; else printf "%.3f", a / b }')")
		echo "RESULT_POOL round=$r direct_jobs_per_s=${d:-NA} pool_jobs_per_s=${p2:-NA}" \
		     "pool_ratio_vs_direct=${ratios[-1]}" \
		     "pool_ratio_4vms=$(awk -v a="$p4" -v b="$d" 'BEGIN { if (a == "" || b == "" ||
			b == 0) print "NA"; else printf "%.3f", a / b }')" \
		     "main_util=${mu:-NA}" | tee -a "$LOG"
	done
	echo "RESULT_POOL median pool_ratio_vs_direct=$(printf '%s\n' "${ratios[@]}" | grep -v NA |
		sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "NA" }')" \
	     "rounds=$POOL_RUNS" | tee -a "$LOG"
	tar -C "$WORK" -czf "$OUTDIR/logs.tar.gz" . 2>/dev/null
	exit 0
fi

if [ "$SESSIONS_ONLY" = 1 ]; then
	echo "== (a) launch"
	bench launch 20000
	echo "== mediator: sessions alone"
	if [ -x "$O/vgpu-mediator" ]; then
		O=$O SECS=$SECS PARTS=sess bench/gpu/mediator-bench.sh "$WORK/mediator" 2>&1 |
			tee -a "$LOG"
	else
		echo "mediator: SKIP, $O/vgpu-mediator not built (no libinih: see INIH)" | tee -a "$LOG"
	fi
else	# the full run: everything below up to "fi # SESSIONS_ONLY"

echo "== (a) launch and NOOP"
bench launch 20000
bench noop 20000

echo "== (b) small jobs: direct, naive processes, backend threads"
for ns in 20000 100000 1000000; do
	bench spin $ns "$SECS"
	for p in 2 4; do bench procs $p $ns "$SECS"; done
	bench backend 2 $ns "$SECS"
done

echo "== (d) isolation in the backend: shared SMs, then green contexts 72/60"
for load in sgemm saxpy; do
	for probe in spin sgemm; do
		bench isolation 0 0 3 $probe $load
		bench isolation 72 60 3 $probe $load
	done
done
echo "== (d) the same with other copy chunks: staging 16 MiB and 512 KiB (8 MiB, 256 KiB chunks)"
for kib in 16384 512; do
	for load in sgemm saxpy; do bench isolation 72 60 3 sgemm $load $kib; done
done

echo "== (e) data path: the default (2 MiB staging, 2 I/O threads), then the worker alone, 4 threads, 16 MiB"
bench datapath 256
bench datapath 256 2048 1
bench datapath 256 2048 4
bench datapath 256 16384

echo "== (b) under MPS"
if command -v nvidia-cuda-mps-control >/dev/null; then
	export CUDA_MPS_PIPE_DIRECTORY=/tmp/vgpu-mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/vgpu-mps-log
	mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
	if nvidia-cuda-mps-control -d; then
		sleep 1
		for ns in 20000 100000 1000000; do
			for p in 2 4; do
				"$BENCH" procs $p $ns "$SECS" 2>>"$WORK/bench.stderr" |
					sed 's/^spin_procs/spin_mps/' | tee -a "$LOG"
			done
		done
		echo quit | nvidia-cuda-mps-control
		sleep 1
	else
		echo "mps: nvidia-cuda-mps-control -d failed" | tee -a "$LOG"
	fi
	unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
else
	echo "mps: nvidia-cuda-mps-control not installed" | tee -a "$LOG"
fi

echo "== mediator"
if [ -x "$O/vgpu-mediator" ]; then
	O=$O SECS=$SECS bench/gpu/mediator-bench.sh "$WORK/mediator" 2>&1 | tee -a "$LOG"
else
	echo "mediator: SKIP, $O/vgpu-mediator not built (no libinih: see INIH)" | tee -a "$LOG"
fi
fi	# SESSIONS_ONLY

# Issue 13's timeslice again with the VMs' executors MPS clients
# (isolation = mps), for timeslice_mps_p50_us beside the process-mode
# value: its sess_* lines go to the log as sess_mps_*.
if [ -x "$O/vgpu-mediator" ] && command -v nvidia-cuda-mps-control >/dev/null; then
	echo "== mediator: sessions' timeslice under MPS"
	O=$O SECS=$SECS PARTS=sess SESS_MODES=timeslice MED_KEYS="isolation = mps" \
		bench/gpu/mediator-bench.sh "$WORK/mediator-mps" 2>&1 |
		sed 's/^sess_/sess_mps_/' | tee -a "$LOG"
fi
tar -czf "$OUTDIR/logs.tar.gz" -C "$WORK" --exclude=inih . 2>/dev/null

# ---- the RESULT line ------------------------------------------------------
val() {	# val LINE-PREFIX KEY [MATCH]: KEY's value on the first matching line
	grep -E "^$1" "$LOG" | grep -E -- "${3:-.}" | head -1 | tr ' ' '\n' |
		sed -n "s/^$2=//p"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "NA";
	else printf "%.3f\n", a / b }'; }
diff_() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "NA";
	else printf "%.2f\n", a - b }'; }
na() { grep . || echo NA; }

launch=$(val launch p50_us)
launch99=$(val launch p99_us)
if [ "$SESSIONS_ONLY" != 1 ]; then
direct=$(val spin_direct jobs_per_s 'ns=20000 ')
naive=$(val spin_procs jobs_per_s 'procs=2 ns=20000 ')
backend=$(val spin_backend jobs_per_s 'ns=20000 ')
echo "RESULT_BACKEND noop_overhead_us=$(diff_ "$(val noop_backend p50_us)" "$launch")" \
     "small_job_ratio_vs_direct=$(ratio "$backend" "$direct")" \
     "small_job_ratio_vs_naive=$(ratio "$backend" "$naive")" | tee -a "$LOG"
m_jobs=$(val mediator_spin jobs_per_s 'vms=2 ns=20000 ')
# (b) per pool: each pool's completions/s of 20 us jobs against one process
# alone doing the same jobs (issue 11: >= 0.9)
m_pool=$(val mediator_spin pool_jobs_per_s 'vms=2 ns=20000 ')
m_jobs4=$(val mediator_spin jobs_per_s 'vms=4 ns=20000 ')
# (c): the worse of back-to-back and random arrivals
hi=$(grep -E '^mediator_priority' "$LOG" | tr ' ' '\n' | sed -n 's/^hi_wait_p99_us=//p' |
	sort -g | tail -1)
# (d): partitions, the default config otherwise (staging 2M, threads not pinned)
iso() { val mediator_isolation "${3:-p99_ratio}" "config=$1 .*probe=sgemm256 load=$2 " | na; }
iso_main=$(iso 72/56/2M/- sgemm)
echo "RESULT_DETAIL noop_overhead_p99_us=$(diff_ "$(val "mediator_noop " p99_us)" "$launch99")" \
     "small_job_ratio_vs_direct_4vms=$(ratio "$m_jobs4" "$direct")" \
     "small_job_ratio_vs_naive_4vms=$(ratio "$m_jobs4" "$(val spin_procs jobs_per_s 'procs=4 ns=20000 ')")" \
     "small_job_ratio_vs_mps_2=$(ratio "$m_jobs" "$(val spin_mps jobs_per_s 'procs=2 ns=20000 ')")" \
     "isolation_ratio_vs_fresh=$(iso 72/56/2M/- sgemm p99_ratio_vs_fresh)" \
     "isolation_ratio_pinned=$(iso 72/56/2M/pin sgemm)" \
     "isolation_ratio_shared_sms=$(iso 0/0/2M/- sgemm)" \
     "isolation_ratio_io_threads_1=$(iso 72/56/2M/-/1 sgemm)" \
     "isolation_ratio_copies_only=$(iso 72/56/2M/- saxpy)" \
     "isolation_ratio_backend=$(val isolation p99_ratio 'probe=sgemm load=sgemm staging_kib=2048 .*green=1/1' | na)" \
     "datapath_gbps_io_threads_1=$(val datapath e2e_gbps 'staging_kib=2048 io_threads=1 ' | na)" \
     "mediator_datapath_gbps=$(val mediator_datapath run_gbps | na)" | tee -a "$LOG"
echo "RESULT noop_overhead_us=$(diff_ "$(val "mediator_noop " p50_us)" "$launch")" \
     "small_job_ratio_vs_direct=$(ratio "$m_jobs" "$direct")" \
     "small_job_ratio_vs_naive=$(ratio "$m_jobs" "$naive")" \
     "pool_ratio_vs_direct=$(ratio "$m_pool" "$direct")" \
     "hi_wait_p99_us=$(echo "$hi" | na)" \
     "isolation_ratio=$iso_main" \
     "datapath_gbps=$(val datapath e2e_gbps 'staging_kib=2048 io_threads=2 ' | na)" | tee -a "$LOG"
fi

# Issue 13: session jobs (sess_* lines; Documentation/cuda-backend.rst,
# "Sessions"). GPU values come from kind=kernel lines only: without a GPU
# they are "na" (the plumbing lines measure nothing of the GPU).
sna() { grep . || echo na; }
sval() { val "$1 " "$2" "kind=kernel" | sna; }
s_launch=$(val "sess_launch " e2e_p50_us 'kind=kernel')
s_direct=$(val "sess_direct " jobs_per_s 'kind=spin')
s_jobs=$(val "sess_jobs " jobs_per_s 'kind=kernel')
echo "RESULT_SESSIONS launch_overhead_us=$(diff_ "$s_launch" "$launch" | sed 's/^NA$/na/')" \
     "user_job_ratio_vs_direct=$(ratio "$s_jobs" "$s_direct" | sed 's/^NA$/na/')" \
     "fault_bystander_errors=$(sval sess_fault bystander_errors)" \
     "hang_recovery_ms=$(sval sess_hang recovery_ms_max)" \
     "cross_vm_read_blocked=$(sval sess_xvm blocked)" \
     "quota_enforced=$(val "sess_quota " enforced | sna)" \
     "timeslice_p50_us=$(sval sess_timeslice loaded_p50_us)" \
     "copy_gbps=$(val "sess_copy " gbps | sna)" \
     "timeslice_mps_p50_us=$(val "sess_mps_timeslice " loaded_p50_us 'kind=kernel' | sna)" |
	tee -a "$LOG"
[ "$SESSIONS_ONLY" = 1 ] || [ "${CUDART:-1}" = 0 ] || cudart
