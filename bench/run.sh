#!/usr/bin/env bash
# The load benchmark (`make bench`): seed a database, start the reference apps and the
# gateway under real uvicorn, load each with wrk in turn, print one table of figures and
# one of ratios.
#
#   BENCH_DB=sqlite|postgresql   database (default sqlite; postgresql uses BENCH_PG_URL,
#                                default postgresql://postgres@127.0.0.1:5432/gateway_bench)
#   BENCH_WORKERS="2"            uvicorn worker counts, e.g. "1 2" (--smoke: 1)
#   BENCH_DURATION=10            seconds per measured run (--smoke: 1); warm-up BENCH_WARMUP=3
#   BENCH_CONNECTIONS=32, BENCH_THREADS=2   wrk's -c and -t
#   BENCH_RECORD=bench/RESULTS.md  prepend the report to that file
#   --peer URL --peer-token TOKEN [--peer-name NAME]
#                                also load a running server of the original REST API on the
#                                same routes with its own token, after copying its rows
#                                (GET /template) into the benchmark database, and print
#                                gateway / peer ratios
#   --smoke                      1 s per scenario, no warm-up, one reference app: checks
#                                that everything runs (tests/project/test_bench_smoke.py)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-$root/.venv/bin/python}"

usage() { echo "usage: bench/run.sh [--smoke] [--peer URL --peer-token TOKEN [--peer-name NAME]]" >&2; exit 2; }
smoke=false
peer=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=true ;;
    --peer|--peer-token|--peer-name) [ $# -ge 2 ] || usage; peer+=("$1" "$2"); shift ;;
    *) usage ;;
  esac
  shift
done

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

if $smoke; then
  workers="${BENCH_WORKERS:-1}"; duration=1; warmup=0
else
  workers="${BENCH_WORKERS:-2}"; duration="${BENCH_DURATION:-10}"; warmup="${BENCH_WARMUP:-3}"
fi

args=(--db "${BENCH_DB:-sqlite}" --workers "$workers" --duration "$duration" --warmup "$warmup"
      --workdir "${BENCH_WORKDIR:-$root/bench/out}"
      --postgres-url "${BENCH_PG_URL:-postgresql://postgres@127.0.0.1:5432/gateway_bench}")
[ -n "${BENCH_CONNECTIONS:-}" ] && args+=(--connections "$BENCH_CONNECTIONS")
[ -n "${BENCH_THREADS:-}" ] && args+=(--threads "$BENCH_THREADS")
[ -n "${BENCH_RECORD:-}" ] && args+=(--record "$BENCH_RECORD")
if $smoke; then args+=(--smoke); fi

cd "$root"
exec "$python" "$here/driver.py" "${args[@]}" "${peer[@]}"
