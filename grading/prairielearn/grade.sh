#!/usr/bin/env bash
# PrairieLearn's external grader entry point: grades the .wasm in
# /grade/student with the suite in /grade/tests (suite.toml and what it
# names) and writes /grade/results/results.json. Whatever the submission
# is, a valid results file is written.
#
# Point the question's externalGradingOptions at an image with peershare
# on PATH (or in /grade/tests/peershare) and "entrypoint":
# "/grade/tests/grade.sh" (copy this file into the question's tests/).
# GRADE_ROOT (default /grade) and PEERSHARE let it run anywhere.
set -u
root="${GRADE_ROOT:-/grade}"
results="$root/results"
mkdir -p "$results"
peershare="${PEERSHARE:-}"
if [ -z "$peershare" ]; then
  if [ -x "$root/tests/peershare" ]; then peershare="$root/tests/peershare"; else peershare="$(command -v peershare || true)"; fi
fi

fail() {
  local message
  message=$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n' ' ')
  printf '{"gradable": false, "score": 0, "message": "The autograder could not grade this submission: %s Please tell your instructor.", "tests": []}\n' "$message" > "$results/results.json"
  exit 0
}

[ -n "$peershare" ] && [ -x "$peershare" ] || fail "the peershare program is missing from the grading image."
suite="$root/tests/suite.toml"
[ -f "$suite" ] || fail "the suite is missing ($suite)."

# The variant's seed (one per student) seeds per-student fault schedules.
who=()
[ -f "$root/data/data.json" ] && who=(--student-from "$root/data/data.json")

rm -rf "$results/peershare"
"$peershare" grade "$root/student" --single --suite "$suite" ${who[@]+"${who[@]}"} --format prairielearn --out "$results/peershare" > /dev/null 2> "$results/peershare.stderr"
status=$?
if [ -f "$results/peershare/results.json" ]; then
  cp "$results/peershare/results.json" "$results/results.json"
else
  fail "peershare grade exited with status $status: $(tail -n 3 "$results/peershare.stderr")"
fi
