#!/usr/bin/env bash
# What gcviz costs the program it watches: the wall time of two fixed Go
# workloads (fixtures/programs/wrap-bench) run directly and under gcviz.
#
#   benches/overhead.sh            10 runs of each variant
#   RUNS=20 benches/overhead.sh    more runs, tighter figures
#
# Variants, each with stderr piped to `cat` as gcviz's would be:
#   direct   PROG 2>&1 | cat >/dev/null                (no trace)
#   traced   GODEBUG=gctrace=1,scavtrace=1 PROG ...    (the trace's own cost)
#   gcviz    gcviz -p 0 --exit-with-program PROG ...   (page served, RSS sampled)
# Runs are interleaved (direct, traced, gcviz, direct, ...) so that drift
# in the machine's load affects all three alike. Reported for each: the
# median, fastest and slowest wall time, and the same for the CPU time the
# whole command used (the program, gcviz and cat), each median relative to
# direct. On a shared machine the wall times of a CPU-bound workload move
# with the neighbours' load; the CPU times barely do, and on a busy machine
# extra CPU is what becomes extra wall time.
#
# Workloads:
#   gc      allocation-heavy, fixed CPU work (3-5 s on 2 CPUs), 500-1000
#           GCs a second
#   stderr  writes 50 MB/s of log lines to stderr for 4 s on a fixed
#           schedule: it ends late only if its output holds it back
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-10}"
GO_VERSION="${GCVIZ_GO_VERSION:-1.27.3}"

read -r _ GOROOT < <(.ci/install-go.sh "$GO_VERSION")
cargo build --release --locked --quiet
GCVIZ="$PWD/target/release/gcviz"

work="$PWD/target/bench-overhead"
mkdir -p "$work"
GOROOT="$GOROOT" GOTOOLCHAIN=local GO111MODULE=off CGO_ENABLED=0 \
    GOCACHE="$work/go-cache" GOPATH="$work/gopath" \
    "$GOROOT/bin/go" build -o "$work/wrap-bench" fixtures/programs/wrap-bench/main.go
PROG="$work/wrap-bench"

# Children's CPU seconds so far (user + system), from bash's `times`, which
# must run in the measuring shell itself (a `$(...)` would be a new one).
TIMES="$work/times"
cpu_so_far() {
    awk 'NR == 2 {
        for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }
        printf "%.3f\n", s
    }' "$TIMES"
}

# "wall cpu": seconds taken by one run of the command line in "$@", and the
# CPU seconds it used (the program, gcviz and cat together).
measure() {
    local start end c0 c1
    times >"$TIMES"
    c0=$(cpu_so_far)
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    times >"$TIMES"
    c1=$(cpu_so_far)
    awk -v a="$start" -v b="$end" -v c="$c0" -v d="$c1" 'BEGIN { printf "%.4f %.3f\n", b - a, d - c }'
}

run_direct() { env -u GODEBUG "$PROG" "$1" 2>&1 | cat >/dev/null; }
run_traced() { GODEBUG=gctrace=1,scavtrace=1 "$PROG" "$1" 2>&1 | cat >/dev/null; }
run_gcviz() { env -u GODEBUG "$GCVIZ" -p 0 --exit-with-program "$PROG" "$1" 2>&1 | cat >/dev/null; }

# "median min max" of the numbers on stdin.
stats() {
    sort -g | awk '{ v[NR] = $1 }
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.3f %.3f %.3f\n", m, v[1], v[NR]
        }'
}

echo "gcviz overhead: $RUNS interleaved runs per variant, $(nproc) CPUs, Go $GO_VERSION, $(uname -r)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-7s %8s %8s %8s %7s   %8s %8s %8s %7s\n' workload variant \
    wall_med min max vs_dir cpu_med min max vs_dir
for workload in gc stderr; do
    declare -A wall=([direct]="" [traced]="" [gcviz]="") cpu=([direct]="" [traced]="" [gcviz]="")
    run_gcviz "$workload" # warm the page cache and the binaries
    for ((i = 0; i < RUNS; i++)); do
        for variant in direct traced gcviz; do
            read -r w c < <(measure "run_$variant" "$workload")
            wall[$variant]+="$w"$'\n'
            cpu[$variant]+="$c"$'\n'
        done
    done
    read -r wall_base _ < <(printf '%s' "${wall[direct]}" | stats)
    read -r cpu_base _ < <(printf '%s' "${cpu[direct]}" | stats)
    for variant in direct traced gcviz; do
        read -r wm wl wh < <(printf '%s' "${wall[$variant]}" | stats)
        read -r cm cl ch < <(printf '%s' "${cpu[$variant]}" | stats)
        printf '%-8s %-7s %8s %8s %8s %+6.1f%%   %8s %8s %8s %+6.1f%%\n' "$workload" "$variant" \
            "$wm" "$wl" "$wh" "$(awk -v m="$wm" -v b="$wall_base" 'BEGIN { print (m / b - 1) * 100 }')" \
            "$cm" "$cl" "$ch" "$(awk -v m="$cm" -v b="$cpu_base" 'BEGIN { print (m / b - 1) * 100 }')"
    done
    unset wall cpu
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
