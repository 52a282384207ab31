#!/usr/bin/env bash
# Load runs for docs/benchmarks.md: wrk against the demo (on a real Redis)
# and, in the same run, against the baseline the ratios are quoted to: bare
# Gin and the go-oauth2 stack (demo/bench/gooauth2, its own module).
#
#   demo/bench/wrk.sh                      # 3 rounds of 10 s per case
#   ROUNDS=1 DURATION=5s demo/bench/wrk.sh # quicker
#   DRYRUN=1 demo/bench/wrk.sh             # everything but wrk: build, start, get tokens
#   ONLY='token|refresh' demo/bench/wrk.sh  # only the cases whose name matches (and bare Gin)
#
# Needs Go, curl, redis-cli, wrk (installed with apt-get when missing) and an
# EMPTY Redis database at BENCH_REDIS_URL (default redis://127.0.0.1:6379/9).
# REDIS_URL is ignored: it is where the demo keeps a user's data, and the
# script deletes every demo:* and bench-gooauth2:* key of its database when it
# ends, so it refuses to start on a database that holds any key. Everything
# listens on 127.0.0.1 only. Prints Markdown tables: the median req/s per
# case and its ratio to bare Gin; the CPU time per request of the server
# and of Redis; the issue's pairs, round by round. Each round's own
# figures go to stderr as the run goes.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
DRYRUN=${DRYRUN:-0}
ONLY=${ONLY:-}
BENCH_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/9}
unset REDIS_URL # every command below gets --redis "$BENCH_REDIS_URL"
OURS=127.0.0.1:8090
BASE=127.0.0.1:8091
SOLO=127.0.0.1:8092 # the demo with --redis-pipelines -1: each lookup alone
NOCACHE=127.0.0.1:8093 # the demo with --validation-cache=false: a Redis GET per request

die() { echo "wrk.sh: $*" >&2; exit 1; }
case $BENCH_REDIS_URL in
  redis://*/[0-9]*) ;;
  *) die "BENCH_REDIS_URL=$BENCH_REDIS_URL: want redis://host:port/DB, with the database number, such as redis://127.0.0.1:6379/9" ;;
esac
command -v redis-cli >/dev/null || die "redis-cli is needed (to check that the database is empty and to clean up): apt-get install redis-tools"
# The cleanup below deletes keys: make sure none of them is anybody else's.
if ! keys=$(redis-cli -u "$BENCH_REDIS_URL" dbsize 2>&1) || ! [[ $keys =~ ^[0-9]+$ ]]; then
  die "cannot use the Redis at BENCH_REDIS_URL=$BENCH_REDIS_URL: $keys"
fi
if [ "$keys" -ne 0 ]; then
  die "the database at BENCH_REDIS_URL=$BENCH_REDIS_URL holds $keys key(s); the load runs need an empty database, as they delete demo:* and bench-gooauth2:* there when they end. Point BENCH_REDIS_URL at an empty database (redis://127.0.0.1:6379/N), or empty this one if nothing in it matters."
fi

out=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$out"
  # The runs mint millions of tokens that would live for hours: remove them.
  # The database was empty when the script started: these keys are its own.
  for pattern in 'demo:*' 'bench-gooauth2:*'; do
    redis-cli -u "$BENCH_REDIS_URL" --scan --pattern "$pattern" | xargs -r -n 1000 redis-cli -u "$BENCH_REDIS_URL" unlink >/dev/null || true
  done
}
trap cleanup EXIT

if [ "$DRYRUN" = 0 ]; then
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
redis_hostport=$(echo "$BENCH_REDIS_URL" | sed -E 's#^redis://([^/@]*@)?([^/]+).*#\2#')
redis_db=$(echo "$BENCH_REDIS_URL" | sed -nE 's#^redis://[^/]+/([0-9]+).*#\1#p')

echo "building" >&2
go build -o "$out/demo" ./demo
(cd demo/bench/gooauth2 && go build -o "$out/gooauth2" .)

wait_up() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "$1 did not come up" >&2; exit 1; }

# The secret key both demo servers share (on Redis the demo needs one, and
# never keeps it in Redis).
head -c 32 /dev/urandom | base64 >"$out/secret.key"
"$out/demo" serve --redis "$BENCH_REDIS_URL" --secret-key-file "$out/secret.key" --addr "$OURS" --bench --log-level warn --token-rate-limit 0 >"$out/demo.log" 2>&1 &
pids+=($!)
ours_pid=$!
"$out/demo" serve --redis "$BENCH_REDIS_URL" --secret-key-file "$out/secret.key" --addr "$SOLO" --bench --log-level warn --redis-pipelines -1 --validation-cache=false --token-rate-limit 0 >"$out/solo.log" 2>&1 &
pids+=($!)
solo_pid=$!
"$out/demo" serve --redis "$BENCH_REDIS_URL" --secret-key-file "$out/secret.key" --addr "$NOCACHE" --bench --log-level warn --validation-cache=false --token-rate-limit 0 >"$out/nocache.log" 2>&1 &
pids+=($!)
nocache_pid=$!
"$out/gooauth2" -addr "$BASE" -redis "$redis_hostport" -db "${redis_db:-0}" >"$out/gooauth2.log" 2>&1 &
pids+=($!)
base_pid=$!
wait_up "http://$OURS/bench/open"
wait_up "http://$BASE/bench/open"
wait_up "http://$SOLO/bench/open"
wait_up "http://$NOCACHE/bench/open"

# Credentials: an application and a user of our own, the baseline's fixed client.
"$out/demo" createuser --redis "$BENCH_REDIS_URL" --username benchuser --password bench-password >/dev/null 2>&1 || true
creds=$("$out/demo" createapplication --redis "$BENCH_REDIS_URL" --json --name bench confidential client-credentials,password)
cid=$(echo "$creds" | sed -E 's/.*"client_id":"([^"]*)".*/\1/')
csecret=$(echo "$creds" | sed -E 's/.*"client_secret":"([^"]*)".*/\1/')
json_field() { sed -E "s/.*\"$1\":\"([^\"]*)\".*/\1/"; }
token=$(curl -fs -u "$cid:$csecret" -d grant_type=client_credentials -d "scope=read write" "http://$OURS/o/token/" | json_field access_token)
utoken=$(curl -fs -u "$cid:$csecret" -d grant_type=password -d username=benchuser -d password=bench-password -d "scope=read write" "http://$OURS/o/token/" | json_field access_token)
if [ "$(curl -fs -H "Authorization: Bearer $utoken" "http://$OURS/snippets/")" = "[]" ]; then
  for i in 1 2 3 4 5; do
    curl -fs -o /dev/null -H "Authorization: Bearer $utoken" -H 'Content-Type: application/json' \
      -d "{\"title\":\"snippet $i\",\"code\":\"print('hello $i')\\n\"}" "http://$OURS/snippets/"
  done
fi
# The refresh case's users: its grants are spread over them, so that no
# user's grant index grows past what one person holds (64 entries, past
# which a write may prune the index).
refresh_users=$((CONNS / 4 > 0 ? CONNS / 4 : 1))
for i in $(seq "$refresh_users"); do
  "$out/demo" createuser --redis "$BENCH_REDIS_URL" --username "benchuser$i" --password bench-password >/dev/null 2>&1 || true
done
# mint_refresh FILE: 2*CONNS fresh refresh tokens, one a line, each of its
# own grant (password grants spread over the users), for refresh.lua. Each
# round needs fresh ones: the previous round's are rotated, and presenting
# them again would be a reuse.
mint_refresh() {
  rm -rf "$1.d" && mkdir "$1.d"
  seq $((2 * CONNS)) | xargs -P 4 -I{} sh -c 'curl -fs -o "$5/$2" -u "$1" -d grant_type=password -d "username=benchuser$(($2 % $3 + 1))" -d password=bench-password -d "scope=read write" "$4"' \
    _ "$cid:$csecret" {} "$refresh_users" "http://$OURS/o/token/" "$1.d" || true
  for f in "$1.d"/*; do json_field refresh_token <"$f"; echo; done | grep -E '^gort_' >"$1" || true
  [ "$(wc -l <"$1")" -eq $((2 * CONNS)) ] || die "could not mint $((2 * CONNS)) refresh tokens (got $(wc -l <"$1"))"
}
# A second application whose access tokens are JWTs (RFC 9068, RS256).
jcreds=$("$out/demo" createapplication --redis "$BENCH_REDIS_URL" --json --metadata '{"client_name":"bench-jwt","grant_types":["client_credentials"],"access_token_format":"jwt"}')
jcid=$(echo "$jcreds" | sed -E 's/.*"client_id":"([^"]*)".*/\1/')
jcsecret=$(echo "$jcreds" | sed -E 's/.*"client_secret":"([^"]*)".*/\1/')
jtoken=$(curl -fs -u "$jcid:$jcsecret" -d grant_type=client_credentials -d "scope=read write" "http://$OURS/o/token/" | json_field access_token)
case $jtoken in eyJ*) ;; *) die "the JWT application's token is not a JWT" ;; esac
basic=$(printf '%s' "$cid:$csecret" | base64 -w0)
btoken=$(curl -fs -u bench:bench-secret -d grant_type=client_credentials "http://$BASE/o/token/" | json_field access_token)
[ -n "$token" ] && [ -n "$btoken" ] || { echo "could not get tokens" >&2; exit 1; }

post_lua() { # $1: body, $2: user:secret
  cat >"$out/post-$3.lua" <<LUA
wrk.method = "POST"
wrk.body = "$1"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf '%s' "$2" | base64 -w0)"
LUA
  echo "$out/post-$3.lua"
}
ours_post=$(post_lua "grant_type=client_credentials&scope=read" "$cid:$csecret" ours)
jwt_post=$(post_lua "grant_type=client_credentials&scope=read" "$jcid:$jcsecret" jwt)
base_post=$(post_lua "grant_type=client_credentials" "bench:bench-secret" base)

if [ "$DRYRUN" != 0 ]; then
  mint_refresh "$out/refresh-tokens"
  echo "DRYRUN: servers up on $OURS, $BASE and $SOLO, tokens in hand; not running wrk" >&2
  exit 0
fi

# name | wrk arguments
cases=(
  "bare Gin GET (baseline)|http://$BASE/bench/open"
  "go-oauth2 stack, protected GET|-H Authorization:\ Bearer\ $btoken http://$BASE/bench/protected"
  "ginoauth demo, GET no auth (/bench/open)|http://$OURS/bench/open"
  "ginoauth demo, protected GET (/bench/protected)|-H Authorization:\ Bearer\ $token http://$OURS/bench/protected"
  "ginoauth demo, protected GET, no validation cache (--validation-cache=false)|-H Authorization:\ Bearer\ $token http://$NOCACHE/bench/protected"
  "ginoauth demo, protected GET, no cache, lookups not shared (--redis-pipelines -1)|-H Authorization:\ Bearer\ $token http://$SOLO/bench/protected"
  "ginoauth demo, snippets list no auth (/bench/snippets/)|http://$OURS/bench/snippets/"
  "ginoauth demo, snippets list protected (/snippets/)|-H Authorization:\ Bearer\ $token http://$OURS/snippets/"
  "go-oauth2 stack, client_credentials token|-s $base_post http://$BASE/o/token/"
  "ginoauth demo, client_credentials token|-s $ours_post http://$OURS/o/token/"
  "ginoauth demo, protected GET, JWT access token|-H Authorization:\ Bearer\ $jtoken http://$OURS/bench/protected"
  "ginoauth demo, client_credentials token, JWT (RS256)|-s $jwt_post http://$OURS/o/token/"
  "ginoauth demo, refresh_token grant (rotation)|-s demo/bench/refresh.lua http://$OURS/o/token/ -- $out/refresh-tokens $THREADS $basic"
)

# CPU time per request of the server under load and of Redis, from
# /proc (utime + stime): less exposed to the machine's mood than req/s,
# since a slow round is slow for every process. Redis counts only when it
# runs on this machine.
hz=$(getconf CLK_TCK)
cpu_ticks() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
redis_pid=$(redis-cli -u "$BENCH_REDIS_URL" info server | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')
case $redis_hostport in 127.0.0.1:* | localhost:*) ;; *) redis_pid= ;; esac
server_pid() {
  case $1 in
  *"http://$OURS/"*) echo "$ours_pid" ;;
  *"http://$BASE/"*) echo "$base_pid" ;;
  *"http://$SOLO/"*) echo "$solo_pid" ;;
  *"http://$NOCACHE/"*) echo "$nocache_pid" ;;
  esac
}

# Each pair of the issue (the open and the protected GET; the two
# client_credentials token endpoints) runs back to back, and every other
# round runs the cases in reverse order: with an even ROUNDS each case of
# a pair runs first in half of the rounds, so neither one always follows
# the other (or a heavier case) and the drift within a round cancels out
# in the pairs.
order=("${!cases[@]}")
reversed=()
for ((k = ${#order[@]} - 1; k >= 0; k--)); do reversed+=("${order[$k]}"); done
for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then run=("${order[@]}"); else run=("${reversed[@]}"); fi
  for i in "${run[@]}"; do
    name=${cases[$i]%%|*}
    args=${cases[$i]#*|}
    if [ "$i" -ne 0 ] && [ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]]; then continue; fi
    case $name in *refresh_token*) mint_refresh "$out/refresh-tokens" ;; esac
    echo "round $round: $name" >&2
    spid=$(server_pid "$args")
    s0=$(cpu_ticks "$spid") r0=$(cpu_ticks "$redis_pid")
    res=$(eval wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "$args")
    s1=$(cpu_ticks "$spid") r1=$(cpu_ticks "$redis_pid")
    if echo "$res" | grep -q "Non-2xx"; then echo "$res" >&2; echo "non-2xx answers in: $name" >&2; exit 1; fi
    echo "$res" | awk '/Requests\/sec/ {print $2}' >>"$out/case-$i"
    n=$(echo "$res" | awk '/requests in/ {print $1}')
    cpu=$(awk -v s="$((s1 - s0))" -v r="$((r1 - r0))" -v n="$n" -v hz="$hz" 'BEGIN {if (n > 0) printf "%.2f %.2f\n", s * 1e6 / hz / n, r * 1e6 / hz / n}')
    if [ -n "$cpu" ]; then echo "$cpu" >>"$out/cpu-$i"; fi
    # The round's own figures, for a look at the spread and at the order.
    echo "round $round: $name: $(tail -1 "$out/case-$i") req/s; server, Redis µs per request: ${cpu:-none (no request completed)}" >&2
  done
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
bare=$(median "$out/case-0")
echo
echo "$(nproc) cores; wrk -t$THREADS -c$CONNS -d$DURATION, median of $ROUNDS rounds; server, Redis and wrk on one machine"
echo
echo "| case | req/s (median) | ratio to bare Gin | median of the rounds' ratios (min-max) |"
echo "|---|---:|---:|---:|"
for i in "${!cases[@]}"; do
  [ -f "$out/case-$i" ] || continue
  m=$(median "$out/case-$i")
  # Each round's ratio to that round's bare Gin: the machine's mood
  # changes between rounds, and a ratio within a round is less exposed.
  paste "$out/case-$i" "$out/case-0" | awk '{printf "%.4f\n", $1 / $2}' >"$out/ratio-$i"
  printf '| %s | %.0f | %.2f | %.2f (%.2f-%.2f) |\n' "${cases[$i]%%|*}" "$m" "$(echo "$m / $bare" | bc -l)" \
    "$(median "$out/ratio-$i")" "$(sort -n "$out/ratio-$i" | head -1)" "$(sort -n "$out/ratio-$i" | tail -1)"
done

# The issue's other baselines, paired round by round: the two cases of a
# pair run one after the other in each round, so their ratio is the least
# exposed to the machine's mood.
pair() { # $1 $2: case indexes (numerator, denominator); $3: label
  [ -f "$out/case-$1" ] && [ -f "$out/case-$2" ] || return 0
  paste "$out/case-$1" "$out/case-$2" | awk '{printf "%.4f\n", $1 / $2}' >"$out/pair-$1-$2"
  printf '| %s | %.2f (%.2f-%.2f) |\n' "$3" "$(median "$out/pair-$1-$2")" \
    "$(sort -n "$out/pair-$1-$2" | head -1)" "$(sort -n "$out/pair-$1-$2" | tail -1)"
}
echo
echo "CPU time per request (median of the rounds; server: the process under load; Redis: 0 when not on this machine)"
echo
echo "| case | server µs | Redis µs | server + Redis µs |"
echo "|---|---:|---:|---:|"
for i in "${!cases[@]}"; do
  [ -f "$out/cpu-$i" ] || continue
  awk '{print $1}' "$out/cpu-$i" >"$out/cpus-$i"
  awk '{print $2}' "$out/cpu-$i" >"$out/cpur-$i"
  awk '{print $1 + $2}' "$out/cpu-$i" >"$out/cput-$i"
  printf '| %s | %.1f | %.1f | %.1f |\n' "${cases[$i]%%|*}" "$(median "$out/cpus-$i")" "$(median "$out/cpur-$i")" "$(median "$out/cput-$i")"
done

echo
echo "| pair | median of the rounds' ratios (min-max) |"
echo "|---|---:|"
pair 3 2 "protected GET / the same route without authentication"
pair 9 8 "client_credentials token / the go-oauth2 stack's"
