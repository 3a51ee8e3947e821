#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/gpu/cudart-run.sh [OUTDIR]
#
# Issue 14 on a machine with the GPU, from the repository root: the CUDA
# programs of tests/cudart, each run natively (NVIDIA's libcudart.so.13,
# the reference) and through the guest runtime ($O/cudart/libcudart.so.13,
# LD_LIBRARY_PATH) against vgpu-mediator with the CUDA backend and the VMs'
# executors, on a spool directory (VGPU_DEVICE). bench/gpu/run-on-device.sh
# runs it after the sessions part; `CUDART_ONLY=1 bash
# bench/gpu/run-on-device.sh` runs it alone (about 2 minutes).
#
# Each program runs, with one fresh seed for all (printed):
#   test mode   once natively, once through the runtime with
#               VGPU_CUDART_DEBUG=1 (its job lines count the round trips)
#   bench mode  (-b: kernels of >= 1 ms in total where the program has
#               such a mode) REPS times each side, alternating, timed
#               (wall clock of the whole process, median of the REPS)
# and passes when both modes print the same through the runtime as
# natively and exit with the same status, and the native run passed
# (exit 0). What is compared is the program's stdout (tests/cudart/
# check.h) without its TIME lines, and the device's assert messages
# wherever they were printed (stdout or stderr, sorted): CUDA prints
# those itself.
#
# Prints one line per program and ends with
#   RESULT_CUDART programs=N passed=N median_slowdown=X max_round_trips=N
# slowdown: bench-mode wall time through the runtime / native, per
# program; the median is over the programs whose kernels ran >= 1 ms in
# total natively (their TIME line) and that passed; max_round_trips: the
# most jobs one program's test run sent (lines of VGPU_CUDART_DEBUG=1
# output matching JOB_RE). "na" where nothing could be measured.
#
# One VM per program (its own executor: a failure stays with its program),
# pool A, all SMs shared. BACKEND=cpu is a dry run of the plumbing
# without a GPU (native runs fail, the CPU executor runs no kernels: only
# nokernel gets through the runtime; nothing passes).
#
# OUTDIR ($OUT when set, else build/gpu-results) gets cudart.log (the lines
# printed here) and cudart-logs.tar.gz (the build log, every run's stdout
# and stderr, the diffs, the mediator's config and log).
#
#   O=build/gpu  WORK=/tmp/vgpu-cudart  REPS=3  SEED=  BACKEND=cuda
#   PROGS="vector_add ..." (default: all of tests/cudart/build.mk)
#   BUDGET_S=150: programs not started by then (seconds from the start,
#              the build included) are reported as not run; each run
#              gets 60 s at most, and none goes on much past BUDGET_S + 60
#   INIH=DIR: as for run-on-device.sh (the mediator needs libinih)
#   JOB_RE: the runtime's debug line for one job sent
#   CUDART_LIBDIR: take the runtime from there instead of building it
#                  (a dry run of this script with another library)
set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 1
OUTDIR=${OUT:-${1:-build/gpu-results}}
O=${O:-build/gpu}
WORK=${WORK:-/tmp/vgpu-cudart}
REPS=${REPS:-3}
BACKEND=${BACKEND:-cuda}
BUDGET_S=${BUDGET_S:-150}
SEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
JOB_RE=${JOB_RE:-'^(vgpu-cudart|libcudart \(vgpu\)): job [0-9]+'}
NVCC=${NVCC:-$(command -v /usr/local/cuda/bin/nvcc || command -v nvcc)}
T_START=$(date +%s)

rm -rf "$WORK"
mkdir -p "$OUTDIR" "$WORK/runs"
WORK=$(cd "$WORK" && pwd)
OUTDIR=$(cd "$OUTDIR" && pwd)
LOG=$OUTDIR/cudart.log
: >"$LOG"
say() { echo "$*" | tee -a "$LOG"; }
finish_logs() { tar -czf "$OUTDIR/cudart-logs.tar.gz" -C "$WORK" --exclude=inih . 2>/dev/null; }

if [ -z "$NVCC" ]; then
	say "cudart_error no nvcc"
	say "RESULT_CUDART programs=0 passed=0 median_slowdown=na max_round_trips=na"
	exit 1
fi
CUDA_LIB=$(cd "$(dirname "$(readlink -f "$NVCC")")/../lib64" && pwd)
if [ -z "${PROGS:-}" ]; then
	PROGS=$(sed -n '/^CUDART_PROG_NAMES/,/^$/p' tests/cudart/build.mk |
		sed 's/^CUDART_PROG_NAMES :=//; s/\\//' | tr -s ' \t\n' ' ')
fi
read -r -a progs <<<"$PROGS"

# ---- build: the runtime, the programs, the mediator and the executor ------
if [ -z "${INIH:-}" ] && [ -f /usr/include/ini.h ]; then
	for a in /usr/lib/x86_64-linux-gnu/libinih.a /usr/lib/libinih.a; do
		[ -f "$a" ] || continue
		INIH=$WORK/inih
		mkdir -p "$INIH"
		cp /usr/include/ini.h "$a" "$INIH/"
		break
	done
fi
# device.mk builds the backend's side; the runtime's and the programs'
# build.mk files are added where it does not include them itself.
mk=(-f bench/gpu/device.mk)
for f in cudart/build.mk tests/cudart/build.mk; do
	[ -f "$f" ] || continue
	grep -q "^include $f" bench/gpu/device.mk || mk+=(-f "$f")
done
targets=(cudart-progs "$O/vgpu-executor" "$O/vgpuctl")
[ -z "${CUDART_LIBDIR:-}" ] && targets+=("$O/cudart/libcudart.so.13")
[ -n "${INIH:-}" ] && targets+=("$O/vgpu-mediator")
say "cudart_build $(date -u +%H:%M:%S) make ${mk[*]} ${targets[*]}"
if ! make "${mk[@]}" O="$O" ${INIH:+INIH="$INIH"} NVCC="$NVCC" -j"$(nproc)" "${targets[@]}" \
		>"$WORK/build.log" 2>&1; then
	tail -20 "$WORK/build.log"
	say "cudart_error build failed (see build.log in cudart-logs.tar.gz)"
	say "RESULT_CUDART programs=${#progs[@]} passed=0 median_slowdown=na max_round_trips=na"
	finish_logs
	exit 1
fi
LIBDIR=$(cd "${CUDART_LIBDIR:-$O/cudart}" && pwd)

# ---- the mediator: one VM per program ----------------------------------
SPOOL=/dev/shm/vgpu-cudart.$$
MPID=
cleanup() {
	[ -n "$MPID" ] && kill -TERM "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
	rm -rf "$SPOOL"
}
trap cleanup EXIT
mkdir -p "$SPOOL/spool" "$WORK/state" "$WORK/none.d"
CONF=$WORK/mediator.conf
{
	echo "[mediator]"
	echo "spool = $SPOOL/spool"
	echo "state_dir = $WORK/state"
	echo "control_socket = $WORK/ctl.sock"
	echo "include = $WORK/none.d"
	echo "backend = $BACKEND"
	echo "log_level = info"
	echo "[pool A]"
	echo "sms = 0"
	echo "[pool B]"
	echo "sms = 0"
	id=300
	for p in "${progs[@]}"; do
		id=$((id + 1))
		echo "[vm $p]"
		echo "id = $id"
		echo "pool = A"
		echo "priority = medium"
		echo "max_payload_bytes = 1G"
		echo "session_mem_bytes = 4G"
		echo "session_time_limit_ms = 20000"
	done
} >"$CONF"
MED_OK=0
if [ -x "$O/vgpu-mediator" ]; then
	"$O/vgpu-mediator" -d -c "$CONF" 2>"$WORK/mediator.log" &
	MPID=$!
	for _ in $(seq 300); do
		grep -q 'ready:' "$WORK/mediator.log" 2>/dev/null && break
		kill -0 "$MPID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q 'ready:' "$WORK/mediator.log"; then
		say "cudart_error the mediator did not start: $(tail -3 "$WORK/mediator.log" | tr '\n' ' ')"
	elif ! grep -q "backend $BACKEND" "$WORK/mediator.log"; then
		say "cudart_error the mediator is not on the $BACKEND backend"
	else
		MED_OK=1
	fi
else
	say "cudart_error $O/vgpu-mediator not built (no libinih: see INIH)"
fi

# ---- the runs -----------------------------------------------------------
# hang_report PID PROG FILE: where a run still going near its limit stands
# (its threads' system calls and wait channels, the VM's spool and private
# record, the mediator's view): a request left in req/ was never taken, an
# answer left in rsp/ was never collected, neither is the program's own.
hang_report() {
	local pid=$1 prog=$2 t

	{
		echo "== $(date -u +%H:%M:%S.%N) pid $pid ($prog) still running"
		for t in /proc/"$pid"/task/*; do
			echo "thread ${t##*/}: $(cat "$t/comm" 2>/dev/null)" \
			     "state=$(awk '{ print $3 }' "$t/stat" 2>/dev/null)" \
			     "wchan=$(cat "$t/wchan" 2>/dev/null) syscall=$(cat "$t/syscall" 2>/dev/null)"
		done
		ls -l /proc/"$pid"/fd 2>/dev/null | sed 's/^/fd: /'
		for d in "$SPOOL/spool/$prog" "$SPOOL/spool/.mediator/$prog"; do
			echo "-- $d"
			ls -laR --time-style=+%T.%N "$d" 2>&1 | head -60
		done
		echo "-- vgpuctl status"
		"$O/vgpuctl" -c "$CONF" status 2>&1 | grep -E "^pool|^vm $prog:"
		echo "-- mediator.log (last 20 lines)"
		tail -20 "$WORK/mediator.log"
	} >>"$WORK/hangs.txt" 2>&1
}

# run SIDE PROG MODE NAME: SIDE native|lib; MODE test|bench; sets RC and
# MS. Each run gets at most 60 s (a run through the runtime 30 s, a
# hang_report written 2 s before), less near the end of BUDGET_S.
run() {
	local side=$1 prog=$2 mode=$3 name=$4 t0 t1 args=(-s "$SEED") tmo tpid wpid
	local base=$WORK/runs/$name

	[ "$mode" = bench ] && args+=(-b)
	tmo=$((BUDGET_S + 60 - ($(date +%s) - T_START)))
	[ "$tmo" -gt 60 ] && tmo=60
	[ "$side" = lib ] && [ "$tmo" -gt 30 ] && tmo=30
	[ "$tmo" -lt 5 ] && tmo=5
	t0=$(date +%s%N)
	if [ "$side" = native ]; then
		LD_LIBRARY_PATH=$CUDA_LIB timeout -k 5 "$tmo" "$O/tests/cudart/$prog" "${args[@]}" \
			>"$base.out" 2>"$base.err"
		RC=$?
	else
		LD_LIBRARY_PATH=$LIBDIR VGPU_DEVICE=$SPOOL/spool/$prog \
			VGPU_CUDART_DEBUG=$([ "$mode" = test ] && echo 1 || echo 0) \
			timeout -k 5 "$tmo" "$O/tests/cudart/$prog" "${args[@]}" >"$base.out" \
			2>"$base.err" &
		tpid=$!
		( sleep $((tmo - 2)); p=$(pgrep -P "$tpid" | head -1)
		  [ -n "$p" ] && hang_report "$p" "$prog" ) &
		wpid=$!
		wait "$tpid"
		RC=$?
		kill "$wpid" 2>/dev/null
		wait "$wpid" 2>/dev/null
	fi
	t1=$(date +%s%N)
	MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
	echo "$name rc=$RC wall_ms=$MS" >>"$WORK/runs.txt"
}
# norm NAME: what is compared (see the head)
norm() {
	grep -v -e '^TIME ' -e 'Assertion `' "$WORK/runs/$1.out"
	grep -h 'Assertion `' "$WORK/runs/$1.out" "$WORK/runs/$1.err" | sort | sed 's/^/device-assert: /'
}
same() {	# same NAME_A NAME_B DIFF_FILE
	diff <(norm "$1") <(norm "$2") >"$3"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "na"; else if (NR % 2) print v[(NR + 1) / 2];
	else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

say "cudart_seed $SEED reps=$REPS backend=$BACKEND native=$CUDA_LIB runtime=$LIBDIR"
LD_LIBRARY_PATH=$LIBDIR ldd "$O/tests/cudart/${progs[0]}" 2>&1 | grep -E 'libcudart|libvgpu' |
	sed 's/^[[:space:]]*/cudart_ldd /' | tee -a "$LOG"
passed=0 max_jobs='' slow=()
for p in "${progs[@]}"; do
	if [ $(($(date +%s) - T_START)) -gt "$BUDGET_S" ]; then
		say "cudart_prog name=$p ok=0 skipped=over_budget_${BUDGET_S}s"
		continue
	fi
	if [ ! -x "$O/tests/cudart/$p" ]; then
		say "cudart_prog name=$p ok=0 missing=$O/tests/cudart/$p"
		continue
	fi
	run native "$p" test "$p.test.native"
	nat_rc=$RC
	lib_rc=na jobs=na test_same=0 bench_same=0
	if [ "$MED_OK" = 1 ]; then
		run lib "$p" test "$p.test.lib"
		lib_rc=$RC
		jobs=$(grep -cE "$JOB_RE" "$WORK/runs/$p.test.lib.err")
		same "$p.test.native" "$p.test.lib" "$WORK/runs/$p.test.diff" &&
			[ "$lib_rc" = "$nat_rc" ] && test_same=1
		[ "$jobs" -gt "${max_jobs:-0}" ] && max_jobs=$jobs
		[ -z "$max_jobs" ] && max_jobs=$jobs
	fi
	nat_ms=() lib_ms=() kms=()
	bench_same=$MED_OK
	for i in $(seq "$REPS"); do
		run native "$p" bench "$p.bench$i.native"
		b_rc=$RC
		[ "$RC" = 0 ] && nat_ms+=("$MS")
		k=$(sed -n 's/^TIME kernel_ms=//p' "$WORK/runs/$p.bench$i.native.out" | head -1)
		[ -n "$k" ] && kms+=("$k")
		if [ "$MED_OK" = 1 ]; then
			run lib "$p" bench "$p.bench$i.lib"
			[ "$RC" = 0 ] && lib_ms+=("$MS")
			same "$p.bench$i.native" "$p.bench$i.lib" "$WORK/runs/$p.bench$i.diff" &&
				[ "$RC" = "$b_rc" ] || bench_same=0
		fi
	done
	n_med=$(printf '%s\n' "${nat_ms[@]}" | grep . | median)
	l_med=$(printf '%s\n' "${lib_ms[@]}" | grep . | median)
	k_med=$(printf '%s\n' "${kms[@]}" | grep . | median)
	ratio=$(awk -v a="$l_med" -v b="$n_med" 'BEGIN { if (a == "na" || b == "na" || b == 0)
		print "na"; else printf "%.3f", a / b }')
	ok=0
	[ "$nat_rc" = 0 ] && [ "$test_same" = 1 ] && [ "$bench_same" = 1 ] && ok=1
	passed=$((passed + ok))
	counted=0
	if [ "$ok" = 1 ] && [ "$ratio" != na ] && [ "$k_med" != na ] &&
	   awk -v k="$k_med" 'BEGIN { exit !(k >= 1) }'; then
		slow+=("$ratio")
		counted=1
	fi
	say "cudart_prog name=$p ok=$ok native_rc=$nat_rc lib_rc=$lib_rc test_same=$test_same" \
	    "bench_same=$bench_same jobs=$jobs kernel_ms=$k_med native_ms=$n_med lib_ms=$l_med" \
	    "slowdown=$ratio in_median=$counted"
	if [ "$test_same" = 0 ] && [ -s "$WORK/runs/$p.test.diff" ]; then
		head -8 "$WORK/runs/$p.test.diff" | sed "s/^/cudart_diff $p: /" | tee -a "$LOG"
	fi
	grep -h '^FAIL' "$WORK/runs/$p.test.native.out" | head -3 | sed "s/^/cudart_native_fail $p: /" |
		tee -a "$LOG"
done

if [ "$MED_OK" = 1 ]; then
	"$O/vgpuctl" -c "$CONF" status >"$WORK/vgpuctl.txt" 2>&1
	[ "${max_jobs:-0}" = 0 ] && {
		say "cudart_warning no line of VGPU_CUDART_DEBUG=1 output matched JOB_RE='$JOB_RE'"
		max_jobs=na
	}
fi
if [ -s "$WORK/hangs.txt" ]; then
	say "cudart_hangs $(grep -c '^== ' "$WORK/hangs.txt") runs through the runtime near their" \
	    "limit (hangs.txt in cudart-logs.tar.gz):"
	grep -E '^== |^thread |/(req|rsp|tmp):|^[-rwx]{10} .* [0-9a-f]{16}(\.[a-z]+)?$' \
		"$WORK/hangs.txt" | head -40 | sed 's/^/cudart_hang /' | tee -a "$LOG"
fi
median_slow=$(printf '%s\n' "${slow[@]}" | grep . | median)
say "cudart_median over ${#slow[@]} programs (kernels >= 1 ms, passed): ${slow[*]}"
finish_logs
say "RESULT_CUDART programs=${#progs[@]} passed=$passed median_slowdown=$median_slow" \
    "max_round_trips=${max_jobs:-na}"
[ "$passed" = "${#progs[@]}" ]
