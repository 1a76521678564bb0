#!/usr/bin/env bash
# Runs every test of zdsync on a fresh machine that has the Rust toolchain
# and python3: installs what the tests need into ./.venv (moto for the AWS
# emulator), then formatting and lint checks, one shared build, all tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

log() { printf '\n==> %s\n' "$*"; }

# --- Python tools (AWS emulator) in one local venv -------------------------
venv="$root/.venv"
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/cfn-lint" ] || [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/cargo-lambda" ]; then
  log "installing test tools into $venv (moto server, cfn-lint, aws-sam-translator, aws-sam-cli)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6' 'cfn-lint>=1' 'aws-sam-translator>=1.90' 'aws-sam-cli>=1.100' 'cargo-lambda>=1.8'
fi
export PATH="$venv/bin:$PATH"

# --- moto server on a free loopback port, stopped on exit -------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log "starting moto on 127.0.0.1:$port"
mkdir -p "$root/target"
moto_server -H 127.0.0.1 -p "$port" >"$root/target/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then break; fi
  sleep 0.2
done
export ZDSYNC_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

# --- checks, one build, all tests ------------------------------------------
export CARGO_TERM_COLOR=never
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo build (all targets, shared by every test)"
cargo build --workspace --all-targets --quiet
log "template.yaml: sam validate --lint, then samtranslator + cfn-lint on the translation"
SAM_CLI_TELEMETRY=0 "$venv/bin/sam" validate --lint --region us-east-1
"$venv/bin/python" infra/scripts/lint_template.py
log "cargo test"
cargo test --workspace --no-fail-fast 2>&1 | tee "$root/target/test-output.txt"
status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ] && [ -z "${ZDSYNC_SKIP_SAM_BUILD:-}" ]; then
  # The deployable artefacts: three arm64 functions through cargo-lambda
  # (zig from the venv, first on PATH). Skip locally with ZDSYNC_SKIP_SAM_BUILD=1.
  log "sam build (arm64, cargo-lambda)"
  SAM_CLI_TELEMETRY=0 sam build --beta-features --region us-east-1 --build-dir "$root/target/sam-build" >"$root/target/sam-build.log" 2>&1 \
    || { tail -40 "$root/target/sam-build.log"; echo "sam build failed (log: target/sam-build.log)"; status=1; }
fi
summary=$(grep -E '^test result:' "$root/target/test-output.txt" | awk '{p+=$4; f+=$6; i+=$8} END {printf "%d passed, %d failed, %d skipped", p, f, i}')
echo
echo "tests: $summary"
exit "$status"
