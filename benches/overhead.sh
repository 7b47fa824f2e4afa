#!/usr/bin/env bash
# What gcviz costs the program it watches: two fixed Go workloads
# (fixtures/programs/wrap-bench) run directly and under gcviz.
#
#   benches/overhead.sh                 20 interleaved runs of each variant
#   RUNS=40 benches/overhead.sh         more runs, narrower intervals
#   WORKLOADS=gc benches/overhead.sh    one workload only
#   WORKLOADS="small burst" benches/overhead.sh
#                                       many small writes: packet mode
#                                       against byte mode
#   BASELINE=/path/to/old/gcviz benches/overhead.sh
#                                       also runs another gcviz build
#                                       (variant "base"), to compare two
#   GCVIZ=/path/to/gcviz benches/overhead.sh
#                                       that build instead of this tree's
#
# Variants, each with stderr piped to `cat` as gcviz's would be:
#   direct   PROG 2>&1 | cat >/dev/null                (no trace)
#   traced   GODEBUG=gctrace=1,scavtrace=1 PROG ...    (the trace's own cost)
#   gcviz    gcviz -p 0 --exit-with-program PROG ...   (page served, RSS sampled)
#   bytes    the same with GCVIZ_NO_PACKETS=1: the program's stderr read as
#            a byte stream, as before packet mode (see README, packet mode)
# Runs are interleaved (direct, traced, gcviz, direct, ...) so that drift
# in the machine's load touches all variants alike, and each variant is
# compared with the direct run of the same round: the figure is the median
# of those paired ratios, with a 95% confidence interval for that median
# from order statistics (distribution-free: it assumes only that the rounds
# are independent).
#
# Columns:
#   wall      the whole command line, in seconds (median), and vs direct
#   prog_cpu  the program's own CPU seconds (user + system, its getrusage,
#             written at exit through WRAP_BENCH_REPORT), and vs direct:
#             what the trace and the watcher's interference cost it
#   watcher   CPU seconds of everything but the program: gcviz and cat, or
#             cat alone (the command's CPU from bash's `times`, less the
#             program's); also per second of the program's run and per GC
#             cycle (the program's count; each cycle prints a gc record and
#             now and then a scav line)
#   preempt   times the program was switched out involuntarily (median)
#   full      writes that found stderr full and would have waited (burst
#             only, whose stderr is non-blocking; median)
# With perf installed, one more run of each gcviz variant under `perf stat`
# (gcviz's own stderr to /dev/null) counts the read(2) and write(2) calls of
# gcviz and the program together: the program makes one write per line (and
# per failed attempt in burst) and almost no reads, so reads per program
# write is gcviz's reading cost.
#
# On a machine shared with other work, wall times move with the
# neighbours' load and the intervals say how far; CPU seconds barely move,
# so the watcher's CPU is the figure to compare across changes. Run on an
# idle machine for the wall-time figures.
#
# Workloads:
#   gc      allocation-heavy, fixed CPU work (3-5 s on 2 CPUs), 500-1000
#           GCs a second, each printing a trace record in dozens of writes
#   stderr  writes 50 MB/s of log lines to stderr for 4 s on a fixed
#           schedule: it ends late only if its output holds it back
#   small   400,000 64-byte writes to stderr as fast as it can
#   burst   40 bursts of 4096 64-byte writes, 20 ms apart, stderr
#           non-blocking: counts the writes that found the pipe full
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-20}"
WORKLOADS="${WORKLOADS:-gc stderr}"
GO_VERSION="${GCVIZ_GO_VERSION:-1.27.3}"

read -r _ GOROOT < <(.ci/install-go.sh "$GO_VERSION")
if [ -z "${GCVIZ:-}" ]; then
    cargo build --release --locked --quiet
    GCVIZ="$PWD/target/release/gcviz"
fi
BASELINE="${BASELINE:-}"

work="$PWD/target/bench-overhead"
mkdir -p "$work"
GOROOT="$GOROOT" GOTOOLCHAIN=local GO111MODULE=off CGO_ENABLED=0 \
    GOCACHE="$work/go-cache" GOPATH="$work/gopath" \
    "$GOROOT/bin/go" build -o "$work/wrap-bench" fixtures/programs/wrap-bench/main.go
PROG="$work/wrap-bench"
REPORT="$work/report"
export WRAP_BENCH_REPORT="$REPORT"

variants=(direct traced gcviz bytes)
if [ -n "$BASELINE" ]; then variants+=(base); fi

run_direct() { env -u GODEBUG "$PROG" "$1" 2>&1 | cat >/dev/null; }
run_traced() { GODEBUG=gctrace=1,scavtrace=1 "$PROG" "$1" 2>&1 | cat >/dev/null; }
run_gcviz() { env -u GODEBUG "$GCVIZ" -p 0 --exit-with-program "$PROG" "$1" 2>&1 | cat >/dev/null; }
run_bytes() { env -u GODEBUG GCVIZ_NO_PACKETS=1 "$GCVIZ" -p 0 --exit-with-program "$PROG" "$1" 2>&1 | cat >/dev/null; }
run_base() { env -u GODEBUG "$BASELINE" -p 0 --exit-with-program "$PROG" "$1" 2>&1 | cat >/dev/null; }

# Children's CPU seconds so far (user + system), from bash's `times`, which
# must run in the measuring shell itself (a `$(...)` would be a new one).
TIMES="$work/times"
cpu_so_far() {
    awk 'NR == 2 {
        for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }
        printf "%.3f\n", s
    }' "$TIMES"
}

# One run of `run_VARIANT WORKLOAD`: "wall prog_wall prog_cpu watcher_cpu
# preemptions gc_cycles full_writes", seconds and counts.
measure() {
    local start end c0 c1
    rm -f "$REPORT"
    times >"$TIMES"
    c0=$(cpu_so_far)
    start=$EPOCHREALTIME
    "run_$1" "$2"
    end=$EPOCHREALTIME
    times >"$TIMES"
    c1=$(cpu_so_far)
    read -r pw pu ps _ pi gcs full <"$REPORT"
    awk -v a="$start" -v b="$end" -v c="$c0" -v d="$c1" -v pw="$pw" -v pu="$pu" -v ps="$ps" -v pi="$pi" -v g="$gcs" -v f="$full" \
        'BEGIN { printf "%.4f %.4f %.4f %.4f %d %d %d\n", b - a, pw, pu + ps, d - c - pu - ps, pi, g, f }'
}

# "median lo hi" of the numbers on stdin: lo and hi bound a 95% confidence
# interval for the median (order statistics k and n+1-k, k the largest with
# P(Binomial(n, 1/2) < k) <= 2.5%); "-" for both with fewer than 6 numbers.
median_ci() {
    sort -g | awk '{ v[NR] = $1 }
        END {
            n = NR
            m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            p = 0.5 ^ n; cdf = p; k = 0
            for (j = 1; j <= n && cdf <= 0.025; j++) { k = j; p *= (n - j + 1) / j; cdf += p }
            if (k < 1) printf "%.4f - -\n", m
            else printf "%.4f %.4f %.4f\n", m, v[k], v[n + 1 - k]
        }'
}

# Column N of a variant's rows.
col() { awk -v c="$2" 'NF { print $c }' <<<"${rows[$1]}"; }

# Paired percentages, row by row: 100 * (column N of A / column N of B - 1).
paired() {
    paste -d' ' <(col "$1" "$3") <(col "$2" "$3") | awk '{ printf "%.3f\n", ($1 / $2 - 1) * 100 }'
}

# "+1.2% [-0.3, +2.5]" from "median lo hi".
pct() {
    if [ "$2" = - ]; then printf '%+.1f%%' "$1"; else printf '%+.1f%% [%+.1f, %+.1f]' "$1" "$2" "$3"; fi
}

echo "gcviz overhead: $RUNS interleaved runs per variant, $(nproc) CPUs, Go $GO_VERSION, $(uname -r)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for workload in $WORKLOADS; do
    run_gcviz "$workload" # warm the page cache and the binaries
    declare -A rows=()
    for ((i = 0; i < RUNS; i++)); do
        for variant in "${variants[@]}"; do
            rows[$variant]+="$(measure "$variant" "$workload")"$'\n'
        done
    done
    # Every run's figures, for a closer look, in the order of `measure`.
    for variant in "${variants[@]}"; do
        printf '%s' "${rows[$variant]}" >"$work/runs-$workload-$variant.txt"
    done
    echo
    read -r gcs _ < <(col direct 6 | median_ci)
    printf 'workload %s: %.0f GC cycles a run (median of the direct runs)\n' "$workload" "$gcs"
    printf '%-7s %7s %-24s %8s %-24s %8s %9s %9s %8s %6s\n' variant wall 'vs direct [95% CI]' \
        prog_cpu 'vs direct [95% CI]' watcher 'per_prog_s' 'per_gc' preempt full
    for variant in "${variants[@]}"; do
        read -r wall _ < <(col "$variant" 1 | median_ci)
        read -r pcpu _ < <(col "$variant" 3 | median_ci)
        read -r watch _ < <(col "$variant" 4 | median_ci)
        read -r preempt _ < <(col "$variant" 5 | median_ci)
        read -r full _ < <(col "$variant" 7 | median_ci)
        # The watcher's CPU per second of the program's own run.
        read -r share _ < <(paste -d' ' <(col "$variant" 4) <(col "$variant" 2) |
            awk '{ printf "%.5f\n", $1 / $2 }' | median_ci)
        if [ "$variant" = direct ]; then
            wvs="" cvs=""
        else
            wvs=$(pct $(paired "$variant" direct 1 | median_ci))
            cvs=$(pct $(paired "$variant" direct 3 | median_ci))
        fi
        # The watcher's CPU per GC cycle of the same run, where there are many.
        per_gc=-
        if [ "$variant" != direct ] && awk -v g="$gcs" 'BEGIN { exit !(g >= 1000) }'; then
            read -r per_gc _ < <(paste -d' ' <(col "$variant" 4) <(col "$variant" 6) |
                awk '{ printf "%.2f\n", $1 / $2 * 1e6 }' | median_ci)
            per_gc=$(printf '%.1fus' "$per_gc")
        fi
        printf '%-7s %7.3f %-24s %8.3f %-24s %8.3f %8.2f%% %9s %8.0f %6.0f\n' "$variant" "$wall" "$wvs" \
            "$pcpu" "$cvs" "$watch" "$(awk -v s="$share" 'BEGIN { print s * 100 }')" "$per_gc" "$preempt" "$full"
    done
    if command -v perf >/dev/null; then
        for variant in gcviz bytes; do
            mode=()
            if [ "$variant" = bytes ]; then mode=(GCVIZ_NO_PACKETS=1); fi
            if ! perf stat -x, -o "$work/perf" -e syscalls:sys_enter_read,syscalls:sys_enter_write \
                env -u GODEBUG "${mode[@]}" "$GCVIZ" -p 0 --exit-with-program "$PROG" "$workload" \
                >/dev/null 2>&1; then
                echo "perf stat failed: $(tail -1 "$work/perf")"
                break
            fi
            awk -F, -v v="$variant" '/sys_enter_read/ { r = $1 } /sys_enter_write/ { w = $1 }
                END { printf "%-7s read(2) %d, write(2) %d: gcviz and the program, one run under perf stat\n", v, r, w }' "$work/perf"
        done
    fi
    if [ -n "$BASELINE" ]; then
        echo "gcviz vs base, paired: watcher CPU $(pct $(paired gcviz base 4 | median_ci))," \
            "wall $(pct $(paired gcviz base 1 | median_ci))"
    fi
    unset rows
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
