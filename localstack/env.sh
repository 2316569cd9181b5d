# Shared settings for localstack/*.sh (sourced). LocalStack 4.14.0 is the last release that runs without an
# account (reference cni-spec-and-test-tools.md 5.1); it runs on the host from an ignored venv, EC2 only,
# bound to 127.0.0.1, with its files under .cache/ — never /var/lib/localstack or /tmp/localstack.
LS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_VERSION="4.14.0"
LS_VENV="$LS_ROOT/localstack/.venv"
LS_PORT="${LOCALSTACK_PORT:-4566}"
LS_HOST="127.0.0.1"
LS_STATE="$LS_ROOT/.cache/localstack/$LS_PORT"
LS_URL="http://$LS_HOST:$LS_PORT"
# moto fallback (only when 4.14.0 cannot run here): install.sh writes the backend it installed.
LS_BACKEND="$(cat "$LS_VENV/BACKEND" 2>/dev/null || echo localstack)"
