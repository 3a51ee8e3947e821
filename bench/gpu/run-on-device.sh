#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/gpu/run-on-device.sh [OUTDIR]
#
# On a machine with the GPU, from the repository root: builds the CUDA
# backend, its test and its bench (bench/gpu/device.mk: plain nvcc and cc,
# no -dev packages), runs the correctness test, then every measurement that
# needs no mediator, and ends with one RESULT line. Logs go to OUTDIR
# ($OUT when set, else build/gpu-results): machine.txt, build.log,
# test.log, bench.log. Takes about 4 minutes on an H100.
#
# What needs the mediator (build/vgpu-mediator, build/vgpu-submit) is run
# by bench/gpu/mediator-bench.sh when those exist; until then the RESULT
# fields that only it can give read NA, and a RESULT_BACKEND line gives the
# same ratios measured through the backend's run() from one thread per pool
# (no spool files, no mediator queues).
set -u -o pipefail
cd "$(dirname "$0")/../.."
OUTDIR=${OUT:-${1:-build/gpu-results}}
O=${O:-build/gpu}
SECS=${SECS:-2}
mkdir -p "$OUTDIR"
BENCH=$O/bench/gpu/vgpu-cuda-bench
LOG=$OUTDIR/bench.log
: >"$LOG"

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: bench/gpu/run-on-device.sh $*"
	echo "host: $(uname -srm), $(nproc) CPUs"
	nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
	nvidia-smi
	nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version
	df -h /dev/shm
} >"$OUTDIR/machine.txt" 2>&1
head -3 "$OUTDIR/machine.txt"

echo "== build"
make -f bench/gpu/device.mk O="$O" -j8 all >"$OUTDIR/build.log" 2>&1 || {
	tail -30 "$OUTDIR/build.log"; echo "RESULT build failed"; exit 1; }
grep -c 'warning:' "$OUTDIR/build.log" | sed 's/^/build warnings: /'

echo "== correctness"
tests/ktap-run -s gpu -r "$OUTDIR/results" "$O/tests/gpu/vgpu-cuda-test" >"$OUTDIR/test.log" 2>&1
grep -E '^  (not ok|ok)|rel err|seed|SKIP|^gpu:' "$OUTDIR/test.log" | grep -vE '^  ok [0-9]+ (mem|file)_' 
grep -E '^  not ok' "$OUTDIR/test.log" && echo "FAILED tests above"

bench() { "$BENCH" "$@" 2>>"$OUTDIR/bench.stderr" | tee -a "$LOG"; }

echo "== (a) launch and NOOP"
bench launch 20000
bench noop 20000

echo "== (b) small jobs: direct, naive processes, backend threads"
for ns in 20000 100000 1000000; do
	bench spin $ns "$SECS"
	for p in 2 4; do bench procs $p $ns "$SECS"; done
	bench backend 2 $ns "$SECS"
done

echo "== (d) isolation: shared SMs, then green contexts 72/60"
for probe in spin sgemm; do
	bench isolation 0 0 4 $probe
	bench isolation 72 60 4 $probe
done

echo "== (e) data path"
bench datapath 256
for kib in 2048 65536; do bench datapath 256 $kib; done

echo "== (b) under MPS"
if command -v nvidia-cuda-mps-control >/dev/null; then
	export CUDA_MPS_PIPE_DIRECTORY=/tmp/vgpu-mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/vgpu-mps-log
	mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
	if nvidia-cuda-mps-control -d; then
		sleep 1
		for ns in 20000 100000 1000000; do
			for p in 2 4; do
				"$BENCH" procs $p $ns "$SECS" 2>>"$OUTDIR/bench.stderr" |
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
if [ -x build/vgpu-mediator ] && [ -x bench/gpu/mediator-bench.sh ]; then
	bench/gpu/mediator-bench.sh | tee -a "$LOG"
else
	echo "mediator: SKIP, build/vgpu-mediator not built" | tee -a "$LOG"
fi

# ---- the RESULT line ------------------------------------------------------
val() {	# val LINE-PREFIX KEY [MATCH]: KEY's value on the first matching line
	grep -E "^$1" "$LOG" | grep -E -- "${3:-.}" | head -1 | tr ' ' '\n' |
		sed -n "s/^$2=//p"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "NA";
	else printf "%.3f\n", a / b }'; }
diff_() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "NA";
	else printf "%.2f\n", a - b }'; }

launch=$(val launch p50_us)
direct=$(val spin_direct jobs_per_s 'ns=20000 ')
naive=$(val spin_procs jobs_per_s 'procs=2 ns=20000 ')
backend=$(val spin_backend jobs_per_s 'ns=20000 ')
echo "RESULT_BACKEND noop_overhead_us=$(diff_ "$(val noop_backend p50_us)" "$launch")" \
     "small_job_ratio_vs_direct=$(ratio "$backend" "$direct")" \
     "small_job_ratio_vs_naive=$(ratio "$backend" "$naive")" | tee -a "$LOG"
m_noop=$(val mediator_noop p50_us)
m_jobs=$(val mediator_spin jobs_per_s 'vms=2 ns=20000 ')
echo "RESULT noop_overhead_us=$(diff_ "$m_noop" "$launch")" \
     "small_job_ratio_vs_direct=$(ratio "$m_jobs" "$direct")" \
     "small_job_ratio_vs_naive=$(ratio "$m_jobs" "$naive")" \
     "hi_wait_p99_us=$(val mediator_priority hi_wait_p99_us | grep . || echo NA)" \
     "isolation_ratio=$(val isolation p99_ratio 'probe=sgemm .*green=1/1' | grep . || echo NA)" \
     "datapath_gbps=$(val datapath e2e_gbps 'staging_kib=16384 ' | grep . || echo NA)" | tee -a "$LOG"
