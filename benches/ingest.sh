#!/usr/bin/env bash
# End-to-end ingestion: real Go 1.27 trace records repeated to N gc cycles
# (gc numbers kept consecutive), piped through gcviz with its server running,
# beside the limit measured in the same run: `wc -l` on the same bytes.
# Reports wall time, records per second and gcviz's peak resident memory.
#
#   benches/ingest.sh [CYCLES...]      (default: 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/gcviz
work="${TMPDIR:-/tmp}/gcviz-ingest"
mkdir -p "$work"

make_trace() { # cycles -> file
    local n="$1" out="$work/trace-$1.log"
    [ -s "$out" ] && { echo "$out"; return; }
    python3 - "$n" "$out" <<'PY'
import re, sys
n, out = int(sys.argv[1]), sys.argv[2]
lines = open("fixtures/traces/go1.27.3/memlimit.log").read().splitlines()
gcs = [l for l in lines if l.startswith("gc ")]
scav = [l for l in lines if l.startswith("scav ")]
with open(out, "w") as f:
    t = 0.0
    for i in range(n):
        g = gcs[i % len(gcs)]
        t += 0.001
        g = re.sub(r"^gc \d+ @[0-9.]+s", "gc %d @%.3fs" % (i + 1, t), g)
        f.write(g + "\n")
        f.write(scav[i % len(scav)] + "\n")
PY
    echo "$out"
}

printf '%-12s %-10s %-12s %-14s %-12s %s\n' cycles bytes "wc -l (s)" "gcviz (s)" "cycles/s" "peak RSS"
for n in "${@:-1000000}"; do
    f=$(make_trace "$n")
    bytes=$(stat -c %s "$f")
    t0=$(date +%s.%N); wc -l < "$f" > /dev/null; t1=$(date +%s.%N)
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" --exit-with-program -p 0 < "$f" > /dev/null 2> "$work/stderr"
    read -r secs kib < "$work/time"
    wc_s=$(echo "$t1 - $t0" | bc -l)
    rate=$(echo "$n / $secs" | bc)
    printf '%-12s %-10s %-12.3f %-14s %-12s %s MiB\n' "$n" "$bytes" "$wc_s" "$secs" "$rate" "$((kib / 1024))"
done
