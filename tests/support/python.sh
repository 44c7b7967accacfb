# Python virtualenvs for the test scripts, and the one the test suite needs:
# an independent JOSE implementation (PyJWT on cryptography, exact versions
# from PyPI) that tests/api/jose.rs checks Rescind's tokens against.
#
# Source it, then:
# - `make_venv DIR`: a new virtualenv in DIR (the system Python is left
#   alone). Debian ships venv apart from python3; as root it is installed.
# - `ensure_test_python`: the JOSE virtualenv under target/ (made once,
#   again when the pins change), exported as TEST_PYTHON (no `RESCIND_`
#   prefix: the server reads every `RESCIND_` variable as configuration).
# Any failure exits 1: the tests that need it never run without it.

TEST_PYTHON_VENV=target/test-python/venv
# The library, its cryptography backend and that backend's own
# dependencies, all pinned, so a run today and a run next year test
# against the same code.
TEST_PYTHON_PACKAGES=(PyJWT==2.15.1 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12)

make_venv() {
  local dir=$1
  command -v python3 >/dev/null 2>&1 || { echo "python3 is missing" >&2; exit 1; }
  rm -rf "$dir"
  if python3 -m venv "$dir" >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing python3-venv" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null \
      || { echo "cannot install python3-venv" >&2; exit 1; }
    rm -rf "$dir"
    python3 -m venv "$dir" || { echo "cannot create a virtualenv in $dir" >&2; exit 1; }
  else
    echo "python3 cannot create a virtualenv (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
}

ensure_test_python() {
  local venv stamp
  venv="$(pwd)/$TEST_PYTHON_VENV"
  stamp="$venv/rescind-pins"
  if [ "$(cat "$stamp" 2>/dev/null)" != "${TEST_PYTHON_PACKAGES[*]}" ]; then
    make_venv "$venv"
    echo "installing ${TEST_PYTHON_PACKAGES[*]} from PyPI into $TEST_PYTHON_VENV" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${TEST_PYTHON_PACKAGES[@]}" \
      || { echo "cannot install ${TEST_PYTHON_PACKAGES[*]}" >&2; exit 1; }
    echo "${TEST_PYTHON_PACKAGES[*]}" >"$stamp"
  fi
  export TEST_PYTHON="$venv/bin/python"
}
