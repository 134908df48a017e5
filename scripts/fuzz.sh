#!/usr/bin/env bash
# Runs every fuzz target of the repository (func FuzzXxx in a _test.go file)
# for FUZZTIME each (default 3s): a short pass in `make test`, longer by hand,
# e.g. FUZZTIME=60s bash scripts/fuzz.sh. A crasher fails the run and is
# written by go test to the package's testdata/fuzz/<target>/, where it stays
# as a regression case that every plain `go test` runs.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
go=${GO:-go}
status=0
mkdir -p build
while IFS= read -r file; do
	dir=./$(dirname "$file")
	for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
		echo "fuzz $dir $target ($fuzztime)"
		if ! "$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$dir" > build/fuzz.log 2>&1; then
			if grep -q 'context deadline exceeded' build/fuzz.log && ! grep -qE 'Failing input|panic:|--- FAIL: .*#' build/fuzz.log; then
				# The fuzzing engine sometimes reports its own deadline as a
				# failure of the target when a worker is stopped mid-input;
				# no input failed (none was written to testdata/fuzz).
				echo "fuzz $target: the engine stopped at its deadline; no failing input"
				grep -E '^fuzz: elapsed' build/fuzz.log | tail -n 1
				continue
			fi
			cat build/fuzz.log
			status=1
		else
			grep -E '^fuzz: elapsed' build/fuzz.log | tail -n 1
			tail -n 1 build/fuzz.log
		fi
	done
done < <(git ls-files --cached --others --exclude-standard '*_test.go' 2>/dev/null | xargs grep -l '^func Fuzz' | sort)
exit $status
