#!/usr/bin/env bash
# Makes the zip to upload as a Gradescope autograder:
#   grading/gradescope/make-autograder.sh SUITE_FOLDER OUT.zip
# SUITE_FOLDER holds suite.toml and everything it names (scenarios, a
# reference .wasm). The zip holds setup.sh, run_autograder, the suite
# folder as suite/ and the peershare binary built here (Linux x86-64, as
# Gradescope's images; PEERSHARE names another binary).
set -eu
if [ $# -ne 2 ]; then
  echo "usage: $0 SUITE_FOLDER OUT.zip" >&2
  exit 2
fi
suite_dir="$1"
zip_path="$2"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
[ -f "$suite_dir/suite.toml" ] || { echo "$0: $suite_dir/suite.toml does not exist" >&2; exit 2; }
peershare="${PEERSHARE:-}"
if [ -z "$peershare" ]; then
  (cd "$repo" && cargo build --release -p peershare)
  peershare="$repo/target/release/peershare"
fi
# The suite must load, and its reference score full marks, before it ships.
"$peershare" grade --check --suite "$suite_dir/suite.toml"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$here/setup.sh" "$here/run_autograder" "$stage/"
cp "$peershare" "$stage/peershare"
cp -r "$suite_dir" "$stage/suite"
chmod +x "$stage/setup.sh" "$stage/run_autograder" "$stage/peershare"
rm -f "$zip_path"
zip_abs="$(cd "$(dirname "$zip_path")" && pwd)/$(basename "$zip_path")"
(cd "$stage" && python3 -m zipfile -c "$zip_abs" setup.sh run_autograder peershare suite)
echo "Wrote $zip_path: upload it as the assignment's autograder (zip file)."
