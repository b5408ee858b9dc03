#!/usr/bin/env bash
# A killed `assistant index` resumes: index a 720-file folder (XQuAD paragraphs x 3) once in full, then
# again from nothing but `kill -9` it after KILL_AFTER seconds, and time the run that follows.
#   bash benchmarks/kill_resume.sh            (results in BENCHMARKS.md, "Hardening")
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${ASSISTANT_BENCHMARK_DATA:-$HERE/../shared/benchmarks}"
KILL_AFTER="${KILL_AFTER:-50}"
A="$HERE/.venv/bin/assistant"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/docs"
"$HERE/.venv/bin/python" - "$DATA/xquad/xquad.en.json" "$WORK/docs" <<'PY'
import json, sys
data, out = json.load(open(sys.argv[1])), sys.argv[2]
n = 0
for copy in range(3):
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            open(f"{out}/p{n:04d}.txt", "w").write(f"Copy {copy}. " + paragraph["context"])
            n += 1
PY
t0=$(date +%s.%N); "$A" index --docs "$WORK/docs" --index "$WORK/full" --quiet > /dev/null; t1=$(date +%s.%N)
echo "full build: $(echo "$t1 - $t0" | bc) s"
"$A" index --docs "$WORK/docs" --index "$WORK/killed" --quiet > /dev/null & pid=$!
sleep "$KILL_AFTER"; kill -9 "$pid" 2>/dev/null || echo "(the build finished before the kill)"; wait "$pid" 2>/dev/null || true
echo "finished groups kept after kill -9 at $KILL_AFTER s: $(ls "$WORK/killed/embedding-cache" 2>/dev/null | wc -l)"
t0=$(date +%s.%N); "$A" index --docs "$WORK/docs" --index "$WORK/killed" --quiet; t1=$(date +%s.%N)
echo "resumed run: $(echo "$t1 - $t0" | bc) s"
