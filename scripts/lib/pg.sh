# scripts/lib/pg.sh: what the bench scripts share about PostgreSQL. Source it.

# bench_pg_admin is the server the bench scripts create their scratch
# databases on: FISCUS_BENCH_POSTGRES_URL, by default the local server on
# 127.0.0.1:5432 (user postgres, database postgres).
bench_pg_admin=${FISCUS_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}

# pg_database_url URL NAME prints URL with its database replaced by NAME,
# keeping the query string.
pg_database_url() {
	local base=${1%%\?*} query=''
	[[ $1 == *\?* ]] && query="?${1#*\?}"
	printf '%s/%s%s\n' "${base%/*}" "$2" "$query"
}
