#!/bin/sh
# redis_job.sh OUTFILE WORKDIR ROUNDS INTERVAL_MS
#
# A job of a real server and its client: redis-server (no persistence) listening on a Unix socket
# in WORKDIR and on a free TCP port of 127.0.0.1, and tests/workloads/redis_client.py talking to
# it over both. The client's lines go to OUTFILE; the server is shut down at the end.
set -e
out=$1; dir=$2; rounds=$3; interval=$4
here=$(dirname "$0")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$dir/redis.sock" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --daemonize no &
server=$!
i=0
until [ -S "$dir/redis.sock" ] && redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 500 ] || { echo "redis-server did not start" >&2; exit 1; }
    sleep 0.02
done
python3 "$here/redis_client.py" "$dir/redis.sock" "$port" "$rounds" "$interval" >> "$out"
redis-cli -s "$dir/redis.sock" shutdown nosave >/dev/null 2>&1 || true
wait $server || true
echo done >> "$out"
