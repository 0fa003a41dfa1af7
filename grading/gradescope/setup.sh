#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder's image. The zip
# made by make-autograder.sh ships the peershare binary and the suite, so
# there is nothing to install; a zip without the binary builds it from the
# PeerShare source shipped as source/peershare-src.
set -eu
source_dir="${AUTOGRADER_ROOT:-/autograder}/source"
if [ -x "$source_dir/peershare" ]; then
  "$source_dir/peershare" --version
  exit 0
fi
if [ ! -d "$source_dir/peershare-src" ]; then
  echo "setup.sh: neither source/peershare nor source/peershare-src is in the autograder zip" >&2
  exit 1
fi
if ! command -v cargo > /dev/null; then
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  . "$HOME/.cargo/env"
fi
cd "$source_dir/peershare-src"
rustup target add wasm32-wasip2
cargo build --release -p peershare
cp target/release/peershare "$source_dir/peershare"
