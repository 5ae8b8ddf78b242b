# The health server of the real worker under slow and hostile clients: a
# client sending one byte per second, a request with 10,000 headers and 1,000
# idle connections from the same address as the good client. /health must
# keep responding to other clients, and everything is normal afterwards.
#
# Every loop is bounded in count and time. curl's --max-time bounds each
# request, so a request that hangs fails the test instead of stalling it.
source "$(dirname "$0")/lib.sh"

cp -r "$AGORA_SOURCE_DIR/examples/quickstart" "$WORKDIR/example"
rm -rf "$WORKDIR/example/out"
port=$(free_port)
token=hostile-test-token

AGORA_HEALTH_AUTH_TOKEN=$token "$AGORA_BIN" worker --config "$WORKDIR/example/pipelines.toml" \
  --health-port "$port" 2>"$WORKDIR/worker.log" &
WORKER_PID=$!

# health_code [MAX_SECONDS]: status of one authorized GET /health, or 000
# when curl gave up after MAX_SECONDS (default 2) times the time scale.
health_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time "$(scaled "${1:-2}")" \
    -H "Authorization: Bearer $token" "http://127.0.0.1:$port/health" || true
}
health_ok() { [ "$(health_code)" = 200 ]; }

if wait_for 20 health_ok; then pass "worker answers /health"; else
  fail "worker answers /health"; cat "$WORKDIR/worker.log" >&2; finish; exit 1; fi

# ---- (a) a client that sends one byte per second --------------------------

# Sends a request one byte per second for at most 30 bytes and prints
# "closed N" when the server closes the connection after N bytes, or
# "open" when it is still open at the end.
python3 - "$port" >"$WORKDIR/slow.out" 2>&1 <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 64
sock = socket.create_connection(("127.0.0.1", port), timeout=5)
sock.settimeout(0.05)
result = "open"
for sent in range(30):
    try:
        sock.send(request[sent:sent + 1])
        if sock.recv(1) == b"":
            result = "closed %d" % (sent + 1)
            break
    except socket.timeout:
        pass
    except OSError:
        result = "closed %d" % (sent + 1)
        break
    time.sleep(1)
print(result)
EOF
slow_pid=$!
sleep 2

answered=0
for i in $(seq 1 20); do
  [ "$(health_code 2)" = 200 ] && answered=$((answered + 1))
done
check_eq "20 requests within $(scaled 2) s each while a slow client sends" 20 "$answered"
if kill -0 "$slow_pid" 2>/dev/null; then pass "slow client still connected during the requests"; else
  fail "slow client still connected during the requests: $(cat "$WORKDIR/slow.out")"; fi
wait "$slow_pid" || true
# The request timeout is 10 s from accept; the client gives up after 30 bytes.
check_contains "server closes the slow client at its request timeout" "closed" "$(cat "$WORKDIR/slow.out")"

# ---- (b) a request with 10,000 headers -------------------------------------

# Prints the status line of the reply, or "closed" when the server closed the
# connection without one.
big=$(python3 - "$port" <<'EOF'
import socket, sys
port = int(sys.argv[1])
headers = b"".join(b"X-Header-%d: value\r\n" % i for i in range(10000))
request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n"
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
try:
    sock.sendall(request)
except OSError:
    pass
try:
    reply = sock.recv(200)
except OSError:
    reply = b""
print(reply.split(b"\r\n")[0].decode() if reply else "closed")
EOF
)
case "$big" in
  "HTTP/1.1 431"* | closed) pass "10,000 headers get 431 or a closed connection ($big)" ;;
  *) fail "10,000 headers get 431 or a closed connection: got '$big'" ;;
esac
check_eq "/health answers after the header flood" 200 "$(health_code 5)"

# ---- (c) 1,000 idle connections from the good client's address -----------

# Opens 1,000 connections, sends nothing on them, and while they are open
# runs 5 authorized requests with curl. Prints the 5 status codes, then the
# number of connections that opened.
idle=$(python3 - "$port" "$token" <<'EOF'
import resource, socket, subprocess, sys
port, token = int(sys.argv[1]), sys.argv[2]
count = 1000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = count + 100
if soft < want:
    if hard != resource.RLIM_INFINITY and hard < want:
        print("skip: RLIMIT_NOFILE hard limit %d is below %d" % (hard, want))
        sys.exit(0)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
socks = []
for _ in range(count):
    sock = socket.socket()
    sock.settimeout(5)
    try:
        sock.connect(("127.0.0.1", port))
        socks.append(sock)
    except OSError:
        sock.close()
codes = []
for _ in range(5):
    run = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
         "-H", "Authorization: Bearer " + token,
         "http://127.0.0.1:%d/health" % port],
        capture_output=True, text=True)
    codes.append(run.stdout or "000")
print(" ".join(codes))
print(len(socks))
for sock in socks:
    sock.close()
EOF
)
case "$idle" in
  skip:*) echo "skipped: 1,000 idle connections: ${idle#skip: }" ;;
  *)
    check_eq "/health answers while 1,000 idle connections are open" "200 200 200 200 200" \
      "$(sed -n 1p <<<"$idle")"
    check_eq "all 1,000 idle connections were accepted by the kernel" 1000 "$(sed -n 2p <<<"$idle")"
    ;;
esac

# ---- (d) after the hostile clients left -----------------------------------

check_eq "/health is 200 afterwards" 200 "$(health_code 5)"
check_eq "/ready is 200 afterwards" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/ready")"
metrics=$(curl -s --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics")
check_contains "/metrics answers afterwards" 'agora_pipeline_runs_total{pipeline_id="movies",status="success"}' "$metrics"
check_eq "no pipeline run failed" 0 \
  "$(curl -s --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/health" |
     jq '.pipelines.movies.failed_runs + .pipelines.birdstrikes.failed_runs')"
check_contains "closed connections are logged" "event=connections_closed" "$(cat "$WORKDIR/worker.log")"

kill -TERM "$WORKER_PID"
wait_exit "$WORKER_PID" 20
check_eq "worker exits 0 on SIGTERM" 0 "$EXIT_STATUS"
WORKER_PID=""

finish
