#!/bin/sh
# bench/replication.sh [flags of bench/replication]: runs the replication
# benchmark recorded in docs/benchmarks.md ("Replication"): lag with
# notebook uploads and catch-up vs rclone, then lag with writes that carry
# no blob (token creations). Results (markdown), logs and the machine's
# description go to $BENCH_OUT (default /tmp/bench-replication-DATE).
#
# Needs rclone (apt-get install rclone) and ~3 GiB free in $TMPDIR or /tmp.
# Takes 10 to 20 minutes. Run it on an otherwise idle machine: before each
# measurement the benchmark waits (up to -quiet-wait) for other processes
# to leave the CPUs alone, and it reports the CPU they took anyway.
set -eu
cd "$(dirname "$0")/.."

command -v rclone >/dev/null 2>&1 || { echo "rclone is missing: apt-get install rclone" >&2; exit 1; }
tmp=${TMPDIR:-/tmp}
avail=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
if [ "$avail" -lt 3145728 ]; then
	echo "need about 3 GiB free in $tmp, have $((avail / 1024)) MiB" >&2
	exit 1
fi

out=${BENCH_OUT:-$tmp/bench-replication-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
{
	date -u
	lscpu
	free -h
	uname -a
	go version
	rclone version | head -n 1
	git rev-parse HEAD
	git status --short --untracked-files=no
} >"$out/machine.txt" 2>&1

go build -o "$out/tandem" ./cmd/tandem # without -race
go run ./bench/replication -bin "$out/tandem" -tmp "$tmp" -out "$out/notebooks.md" "$@" 2>&1 | tee "$out/notebooks.log"
go run ./bench/replication -bin "$out/tandem" -tmp "$tmp" -catchup=false -kind token -out "$out/tokens.md" "$@" 2>&1 | tee "$out/tokens.log"
rm -f "$out/tandem"
echo "results in $out"
