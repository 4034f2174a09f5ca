# Sourced by start.sh and test.sh: `ensure_venv REQUIREMENTS_FILE` creates .venv if missing and
# (re)installs the requirements only when the files changed (their hash is kept in .venv).
ensure_venv() {
    local reqs=$1 stamp=".venv/.installed-$(basename "$1" .txt).sha256" want
    if [ ! -x .venv/bin/python ]; then
        echo "创建虚拟环境 .venv …" >&2
        "${PYTHON:-python3}" -m venv .venv
    fi
    want="$(cat requirements.txt "$reqs" | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
        echo "安装依赖（$reqs）…" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$reqs"
        echo "$want" > "$stamp"
    fi
}
