#!/usr/bin/env bash
# End-to-end ingestion: large logs piped through gcviz with its server
# running (`gcviz --exit-with-program -p 0 < LOG > /dev/null`), beside the
# limit measured on the same bytes in the same run: `wc -l` (reading and
# splitting into lines).
#
#   benches/ingest.sh                 the three workloads below
#   RUNS=5 benches/ingest.sh          best of 5 for each (default 3)
#   SIZES="1000000 10000000" ...      gc cycles for the first two workloads
#   APP_MB=1000 ...                   size of the application-text log
#   CALLGRIND=1 benches/ingest.sh     also: instructions per gc record on the
#                                     parser thread (valgrind; deterministic,
#                                     unlike wall time on a shared machine)
#
# Workloads (built once from a real Go 1.27 trace, cached in $TMPDIR):
#   gc        N real gc records only, numbers and times made consecutive
#   gc+scav   N gc records each followed by its scavenger record
#   app-text  APP_MB of application log lines with one gc record per 1000
#   lookalike the same, but every application line mentions what a record
#             holds (`worker gc 3 @ node-7`, `gc 5 @2.123s 12%: summary`,
#             `12 MB goal`, ` P`): each one opens a repair window
#
# Reported per workload (best run by wall time): wall seconds, user+system
# CPU seconds, records per second of wall time, the ratio to `wc -l`, and
# gcviz's peak resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
SIZES="${SIZES:-1000000}"
APP_MB="${APP_MB:-1000}"
cargo build --release --locked --quiet
bin=target/release/gcviz
work="${TMPDIR:-/tmp}/gcviz-ingest"
mkdir -p "$work"

make_log() { # kind size -> file
    local kind="$1" n="$2" out="$work/$1-$2.log"
    [ -s "$out" ] && { echo "$out"; return; }
    python3 - "$kind" "$n" "$out" <<'PY'
import random, re, sys
kind, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open("fixtures/traces/go1.27.3/memlimit.log").read().splitlines()
gcs = [l for l in lines if l.startswith("gc ")]
scav = [l for l in lines if l.startswith("scav ")]
def gc(i, t):
    return re.sub(r"^gc \d+ @[0-9.]+s", "gc %d @%.3fs" % (i, t), gcs[i % len(gcs)]) + "\n"
with open(out, "w") as f:
    if kind in ("gc", "gc+scav"):
        for i in range(1, n + 1):
            f.write(gc(i, i * 0.001))
            if kind == "gc+scav":
                f.write(scav[i % len(scav)] + "\n")
    else:  # app-text, lookalike: n megabytes
        random.seed(1)
        words = ("request served path=/api/v1/items status=200 bytes=5321 latency=3.2ms "
                 "user=42 trace=9f3a2b cache=hit region=eu-west-1 method=GET").split()
        like = ["worker gc %d @ node-7 finished", "gc %d @2.123s 12%%: summary of the last 3 runs",
                "cache at %d MB goal reached, 1->4->4 entries", "scheduled on %d P",
                "scav %d KiB work done in 0.31 ms"]
        size, k, cycles = 0, 0, 0
        while size < n * 1_000_000:
            text = (like[k % len(like)] % (k % 50) if kind == "lookalike"
                    else " ".join(random.sample(words, 8)))
            line = "2026-11-23T10:%02d:%02d.%06dZ INFO %s\n" % (
                k % 60, k // 60 % 60, k % 1_000_000, text)
            k += 1
            if k % 1000 == 0:
                cycles += 1
                line += gc(cycles, cycles * 0.1)
            f.write(line)
            size += len(line)
PY
    echo "$out"
}

# "wall cpu peak_kib" of the best (fastest) of RUNS runs of "$@" < $input.
best_of() {
    local input="$1"; shift
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" < "$input" > /dev/null 2> "$work/stderr"
        awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$work/time"
    done | sort -g | head -1
}

echo "gcviz ingestion, best of $RUNS, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %-10s %-6s %-9s %-9s %-7s %-10s %-8s %s\n' \
    workload records MB "wc -l s" "gcviz s" "cpu s" records/s "x wc -l" "peak RSS"
run() { # kind size
    local f records wc g
    f=$(make_log "$1" "$2")
    records=$(grep -c -E '^(gc|scav) ' "$f")
    wc=$(best_of "$f" wc -l | cut -d' ' -f1)
    read -r wall cpu kib < <(best_of "$f" "$bin" --exit-with-program -p 0)
    printf '%-10s %-10s %-6s %-9s %-9s %-7s %-10s %-8s %s MiB\n' "$1" "$records" \
        "$(( $(stat -c %s "$f") / 1000000 ))" "$wc" "$wall" "$cpu" \
        "$(echo "$records / $wall" | bc)" "$(echo "scale=1; $wall / $wc" | bc)" "$((kib / 1024))"
}
for n in $SIZES; do
    run gc "$n"
    run gc+scav "$n"
done
run app-text "$APP_MB"
run lookalike "$APP_MB"

if [ -n "${CALLGRIND:-}" ]; then
    # 100,000 records of the gc workload; the parser is the busiest thread.
    head -n 100000 "$(make_log gc 1000000)" > "$work/gc-100000.log"
    rm -f "$work"/callgrind.out*
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/callgrind.out" \
        "$bin" --exit-with-program -p 0 < "$work/gc-100000.log" > /dev/null 2>&1
    instr=$(cat "$work"/callgrind.out-* | awk '/^summary:/ { if ($2 > m) m = $2 } END { print m }')
    echo "parser thread: $((instr / 100000)) instructions per gc record (callgrind, 100,000 records)"
fi
