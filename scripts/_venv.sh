# Sourced by scripts/serve and scripts/test; defines ensure_venv.
#
# A sourced file sees the caller's own arguments as "$@", so reading the extras from "$1"
# here took `scripts/serve --port 9000` to mean the extra "--port": the extras come as the
# function's argument instead, and the caller's arguments never reach this file.

# ensure_venv [EXTRAS]: create .venv and install the project (with EXTRAS) when needed.
ensure_venv() {
    local extras="${1:-}"
    local stamp=".venv/.installed${extras:+-$extras}"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
        touch "$stamp"
    fi
}
