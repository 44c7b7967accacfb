# A throwaway PostgreSQL cluster on a free loopback port, for tests/run and
# bench/run. Source it, then call `start_throwaway_postgres [postgres -c ...]`:
# it exports PG_URL, PG_BIN (the folder of PostgreSQL's programs) and PG_AS
# (the command prefix that runs them as the cluster's owner), and stops and
# removes the cluster when the calling shell exits. Any failure exits 1:
# callers never continue without a database.

pg_bin_dir() {
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v pg_ctl)")"
  elif command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ]; then pg_config --bindir
  else echo "PostgreSQL's pg_ctl was not found (install postgresql, e.g. apt-get install postgresql)" >&2; exit 1
  fi
}

start_throwaway_postgres() {
  PG_BIN=$(pg_bin_dir)
  PG_WORKDIR=$(mktemp -d /tmp/rescind-pg.XXXXXX)
  PG_AS=()
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root: run it as the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chmod 755 "$PG_WORKDIR"
    chown postgres: "$PG_WORKDIR"
    PG_AS=(runuser -u postgres --)
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  trap stop_throwaway_postgres EXIT

  "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_WORKDIR/data" -U postgres -A trust --no-sync -E UTF8 --locale=C \
    >"$PG_WORKDIR/initdb.log" 2>&1 \
    || { cat "$PG_WORKDIR/initdb.log" >&2; echo "initdb failed" >&2; exit 1; }
  local options="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c max_connections=300"
  for setting in "$@"; do options="$options -c $setting"; done
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_WORKDIR/data" -l "$PG_WORKDIR/postgres.log" -w -t 60 -o "$options" start >/dev/null \
    || { cat "$PG_WORKDIR/postgres.log" >&2; echo "PostgreSQL did not start" >&2; exit 1; }

  export PG_BIN PG_WORKDIR
  export PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  PG_VERSION=$("${PG_AS[@]}" "$PG_BIN/postgres" --version | awk '{print $3}')
  export PG_VERSION
}

stop_throwaway_postgres() {
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_WORKDIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_WORKDIR"
}
