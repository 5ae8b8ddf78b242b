"""Benchmark harness: agora against a peer tool on the same input, and the
scheduler on its own.

Each throughput scenario builds its input once (under bench/data/), runs
agora and the peer BENCH_RUNS times each, checks that both outputs hold the
same records, and reports medians. Peak RSS comes from the kernel's
ru_maxrss of the finished command, read by bench/rss_exec.c. The throughput
scenarios are jsonl_filter_map and jsonl_filter_map_500 (against jq),
csv_to_jsonl (against mlr), json_validate_sqlite (against the sqlite3 shell's
CSV import) and jsonl_passthrough (against cat).

The scheduler_1000 scenario compiles bench/scheduler_1000.c against the
static library of the build and runs it once; that program measures and
prints its own summary line.

The health_wrk scenario starts a real `agora worker` with ten small
scheduled pipelines and its health server, and nginx serving a static file
(the ceiling), both on 127.0.0.1. It then loads /health, /metrics and the
static file with wrk one after the other and prints one line per endpoint.
"""
import argparse
import filecmp
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SOURCE_MOVIES = "examples/quickstart/data/movies.json"
SOURCE_BIRDSTRIKES = "examples/quickstart/data/birdstrikes.csv"
FLIGHTS_COLUMNS = ("delay", "distance", "time")
# Input size of the 500 MB scenarios when BENCH_TARGET_MB is not set.
LARGE_TARGET_MB = 500


# Path of the compiled bench/rss_exec.c; set by main() before any scenario.
RSS_EXEC = None


def build_rss_exec(root):
    """Compiles bench/rss_exec.c into bench/out/ when the binary is missing
    or older than its source. Returns the binary's path."""
    source = os.path.join(root, "bench", "rss_exec.c")
    binary = os.path.join(root, "bench", "out", "rss_exec")
    if (not os.path.exists(binary)
            or os.path.getmtime(binary) < os.path.getmtime(source)):
        os.makedirs(os.path.dirname(binary), exist_ok=True)
        subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
                        source, "-o", binary], check=True)
    return binary


def run_measured(cmd, stdout_path=None):
    """Runs cmd and returns (seconds, peak_rss_mb). Fails on a non-zero exit.
    The command runs under rss_exec: ru_maxrss read here would never be less
    than this Python process's own RSS at the fork."""
    out = open(stdout_path or os.devnull, "wb")
    result = os.path.join(os.path.dirname(RSS_EXEC), "rss_exec.result")
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.dup2(out.fileno(), 1)
        os.execv(RSS_EXEC, [RSS_EXEC, result, *cmd])
    _, status = os.waitpid(pid, 0)
    seconds = time.perf_counter() - start
    out.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"benchmark command failed ({status}): {' '.join(cmd)}")
    with open(result, encoding="ascii") as f:
        return seconds, int(f.read()) / 1024.0


def make_movies_jsonl(root, target_mb):
    """Writes the movies records repeated to about target_mb as JSONL."""
    path = os.path.join(root, "bench", "data", f"movies_{target_mb}mb.jsonl")
    if os.path.exists(path):
        return path
    with open(os.path.join(root, SOURCE_MOVIES), encoding="utf-8") as f:
        records = json.load(f)
    lines = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
                    for r in records)
    repeat_block(path, lines.encode("utf-8"), b"", target_mb)
    return path


def repeat_block(path, block, header, target_mb):
    """Writes header and then block repeated to about target_mb to path,
    through a temporary file so an interrupted run leaves no partial input."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    repeats = max(1, (target_mb * 1024 * 1024) // len(block))
    with open(path + ".tmp", "wb") as f:
        f.write(header)
        for _ in range(repeats):
            f.write(block)
    os.rename(path + ".tmp", path)


def make_birdstrikes_csv(root, target_mb):
    """Writes the birdstrikes header row once and its data rows repeated to
    about target_mb."""
    path = os.path.join(root, "bench", "data", f"birdstrikes_{target_mb}mb.csv")
    if os.path.exists(path):
        return path
    with open(os.path.join(root, SOURCE_BIRDSTRIKES), "rb") as f:
        data = f.read()
    header, rows = data.split(b"\n", 1)
    if not rows.endswith(b"\n"):
        rows += b"\n"
    repeat_block(path, rows, header + b"\n", target_mb)
    return path


def shared_data_dir(root):
    """Returns the shared data directory ($AGORA_SHARED_DIR/data, else
    ../shared/data next to the repository), or None."""
    candidates = []
    if os.environ.get("AGORA_SHARED_DIR"):
        candidates.append(os.path.join(os.environ["AGORA_SHARED_DIR"], "data"))
    candidates.append(os.path.join(os.path.dirname(root), "shared", "data"))
    for c in candidates:
        if os.path.isdir(c):
            return c
    return None


def make_flights(root):
    """Copies flights-200k.json into bench/data/ and writes the same rows as
    CSV for the sqlite3 peer. Returns (json_path, csv_path, records), or None
    when the file is not available."""
    json_path = os.path.join(root, "bench", "data", "flights-200k.json")
    csv_path = os.path.join(root, "bench", "data", "flights-200k.csv")
    if not os.path.exists(json_path):
        shared = shared_data_dir(root)
        if shared is None or not os.path.exists(os.path.join(shared, "flights-200k.json")):
            return None
        os.makedirs(os.path.dirname(json_path), exist_ok=True)
        shutil.copyfile(os.path.join(shared, "flights-200k.json"), json_path + ".tmp")
        os.rename(json_path + ".tmp", json_path)
    with open(json_path, encoding="utf-8") as f:
        records = json.load(f)
    if not os.path.exists(csv_path):
        # repr() of a Python float is the shortest text that reads back as
        # the same double, so SQLite stores the same REAL values.
        with open(csv_path + ".tmp", "w", encoding="utf-8") as f:
            f.write(",".join(FLIGHTS_COLUMNS) + "\n")
            for r in records:
                f.write(",".join(repr(r[c]) for c in FLIGHTS_COLUMNS) + "\n")
        os.rename(csv_path + ".tmp", csv_path)
    return json_path, csv_path, len(records)


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def strings_only(line):
    """Parses one JSON line with every number kept as its literal text, so
    0 and "0" compare equal but 1.50 and 1.5 do not."""
    return json.loads(line, parse_int=str, parse_float=str, parse_constant=str)


def same_records(path_a, path_b, loads=json.loads):
    """Returns True when both JSONL files contain the same records in the same
    order, with key order ignored. json.loads compares numbers by value, and
    strings_only compares them by their text. Byte-identical files pass
    without parsing. Prints the outcome of the check on stderr."""
    if filecmp.cmp(path_a, path_b, shallow=False):
        print("  check passed: the two outputs are byte-identical", file=sys.stderr)
        return True
    number = 0
    with open(path_a, encoding="utf-8") as a, open(path_b, encoding="utf-8") as b:
        for number, (line_a, line_b) in enumerate(zip(a, b), 1):
            if loads(line_a) != loads(line_b):
                print(f"record {number} differs:\n  {line_a.rstrip()}\n  {line_b.rstrip()}",
                      file=sys.stderr)
                return False
        rest_a, rest_b = a.readline(), b.readline()
        if rest_a != "" or rest_b != "":
            print(f"the record counts differ after record {number}", file=sys.stderr)
            return False
    print(f"  check passed: the two outputs hold the same {number} records",
          file=sys.stderr)
    return True


def measure(args, agora_cmd, peer_cmd, peer_out, before_each=None,
            agora_out=None):
    """Runs agora and the peer args.runs times each, alternating, and returns
    the median seconds of both and the peak RSS of each. before_each, when
    given, runs before every command (to remove an output database).
    agora_out, agora's output file, is removed before each agora run, outside
    the timing: the peer's output is truncated by the open() before its
    timing starts, and emptying a 1.7 GB file inside agora's timing cost it
    about 0.2 s."""
    agora_runs, peer_runs, agora_rss, peer_rss = [], [], [], []
    print("  agora: " + " ".join(shlex.quote(c) for c in agora_cmd), file=sys.stderr)
    print("  peer:  " + " ".join(shlex.quote(c) for c in peer_cmd)
          + (f" > {peer_out}" if peer_out else ""), file=sys.stderr)
    for _ in range(args.runs):
        if before_each:
            before_each()
        if agora_out and os.path.exists(agora_out):
            os.remove(agora_out)
        seconds, peak = run_measured(agora_cmd)
        agora_runs.append(seconds)
        agora_rss.append(peak)
        if before_each:
            before_each()
        seconds, peak = run_measured(peer_cmd, stdout_path=peer_out)
        peer_runs.append(seconds)
        peer_rss.append(peak)
    return {
        "agora_s": statistics.median(agora_runs),
        "peer_s": statistics.median(peer_runs),
        "peak_rss_mb": max(agora_rss),
        "peer_rss_mb": max(peer_rss),
    }


# Outputs of the record-path scenarios reach 1.7 GB per tool and run. Written
# to the disk, their cost depends on the kernel's writeback of earlier runs,
# which moved single runs by 30 % and more here. In a tmpfs they cost the
# same every time, so the figures measure the record path, not the disk.
TMPFS_OUT = "/dev/shm/agora-bench"
TMPFS_NEEDED_BYTES = 8 << 30


def choose_out_dir(root):
    """BENCH_OUT_DIR when set, else a tmpfs directory when /dev/shm has room
    for the outputs, else bench/out."""
    chosen = os.environ.get("BENCH_OUT_DIR")
    if chosen:
        return os.path.abspath(chosen)
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= TMPFS_NEEDED_BYTES:
            return TMPFS_OUT
    except OSError:
        pass
    return os.path.join(root, "bench", "out")


def out_dir(args):
    os.makedirs(args.out_dir, exist_ok=True)
    return args.out_dir


def write_config(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def large_target_mb(args):
    return args.target_mb if args.target_mb_set else LARGE_TARGET_MB


def filter_map(args, name, target_mb):
    data = make_movies_jsonl(args.root, target_mb)
    records = count_lines(data)
    size_mb = os.path.getsize(data) / (1024 * 1024)
    outdir = out_dir(args)
    agora_out = os.path.join(outdir, f"{name}.agora.jsonl")
    peer_out = os.path.join(outdir, f"{name}.jq.jsonl")
    config = os.path.join(outdir, f"{name}.toml")
    filter_map_config(config, data, agora_out)
    jq_program = ('select(.["IMDB Rating"] >= 6)'
                  ' | .imdb_rating = .["IMDB Rating"] | .title = .Title'
                  ' | del(.["IMDB Rating"], .Title, .["US DVD Sales"], .Source)')
    agora_cmd = [args.agora, "run", "--config", config, "--log-level", "warn"]
    peer_cmd = ["jq", "-c", jq_program, data]
    r = measure(args, agora_cmd, peer_cmd, peer_out, agora_out=agora_out)
    if not same_records(agora_out, peer_out):
        sys.exit(f"{name}: agora and jq outputs differ")
    r.update(records=records, size_mb=size_mb, peer="jq -c")
    return r


def filter_map_config(path, data, out, batch_size=None):
    """Writes the jsonl_filter_map pipeline reading data and writing out."""
    batch = f"batch_size = {batch_size}\n" if batch_size else ""
    write_config(path, f"""format = "agora/v1"
[pipelines.bench]
source = {{ type = "jsonl", path = "{data}" }}
{batch}[[pipelines.bench.middlewares]]
type = "filter"
expression = "`IMDB Rating` >= 6"
[[pipelines.bench.middlewares]]
type = "map"
rename = {{ "IMDB Rating" = "imdb_rating", "Title" = "title" }}
drop = ["US DVD Sales", "Source"]
[[pipelines.bench.sinks]]
type = "jsonl"
path = "{out}"
""")


def callgrind_instructions(args, config, label):
    """Runs agora on config under callgrind and returns the instructions it
    executed (Ir), printing the ten costliest functions on stderr."""
    outdir = out_dir(args)
    profile = os.path.join(outdir, f"{label}.callgrind.out")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}",
           args.agora, "run", "--config", config, "--log-level", "warn"]
    print("  " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"callgrind run failed: {result.stderr[-2000:]}")
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        sys.exit("callgrind printed no instruction count")
    annotate = subprocess.run(["callgrind_annotate", "--threshold=100", profile],
                              capture_output=True, text=True, check=True)
    rows = [l for l in annotate.stdout.splitlines() if re.match(r"\s*[\d,]+ \(", l)]
    for row in rows[:11]:
        print("    " + row.strip(), file=sys.stderr)
    return int(match.group(1))


def scenario_callgrind_filter_map(args):
    """Instructions of jsonl_filter_map on a fixed 10 MB input, counted by
    callgrind: a figure that machine noise does not move."""
    data = make_movies_jsonl(args.root, 10)
    records = count_lines(data)
    outdir = out_dir(args)
    config = os.path.join(outdir, "callgrind_filter_map.toml")
    filter_map_config(config, data, os.path.join(outdir, "callgrind_filter_map.jsonl"))
    instructions = callgrind_instructions(args, config, "callgrind_filter_map")
    print(f"callgrind_filter_map: {records} records, {os.path.getsize(data)} bytes, "
          f"{instructions} instructions, {instructions / records:.0f} per record",
          file=sys.stderr)
    return {"line": f"scenario=callgrind_filter_map instructions={instructions} "
                    f"records={records} per_record={instructions / records:.0f}"}


def scenario_jsonl_filter_map(args):
    return filter_map(args, "jsonl_filter_map", args.target_mb)


def scenario_jsonl_filter_map_500(args):
    """jsonl_filter_map on 500 MB (BENCH_TARGET_MB overrides the size)."""
    return filter_map(args, "jsonl_filter_map_500", large_target_mb(args))


def scenario_csv_to_jsonl(args):
    """CSV rows to JSON Lines with no middleware, against Miller. agora's csv
    source keeps every field a string (infer_types = false, the default);
    mlr writes fields that look numeric as JSON numbers, with their original
    text. The check parses both outputs with numbers kept as their literal
    text, so 0 and "0" match while any change of a value's text does not."""
    data = make_birdstrikes_csv(args.root, large_target_mb(args))
    records = count_lines(data) - 1
    size_mb = os.path.getsize(data) / (1024 * 1024)
    outdir = out_dir(args)
    agora_out = os.path.join(outdir, "csv_to_jsonl.agora.jsonl")
    peer_out = os.path.join(outdir, "csv_to_jsonl.mlr.jsonl")
    config = os.path.join(outdir, "csv_to_jsonl.toml")
    write_config(config, f"""format = "agora/v1"
[pipelines.bench]
source = {{ type = "csv", path = "{data}" }}
[[pipelines.bench.sinks]]
type = "jsonl"
path = "{agora_out}"
""")
    agora_cmd = [args.agora, "run", "--config", config, "--log-level", "warn"]
    peer_cmd = ["mlr", "--icsv", "--ojsonl", "cat", data]
    r = measure(args, agora_cmd, peer_cmd, peer_out, agora_out=agora_out)
    if not same_records(agora_out, peer_out, loads=strings_only):
        sys.exit("csv_to_jsonl: agora and mlr outputs differ")
    r.update(records=records, size_mb=size_mb, peer="mlr --icsv --ojsonl cat")
    return r


FLIGHTS_CHECKSUM = ("SELECT count(*), sum(delay), sum(distance), sum(time), "
                    "sum(delay * 7 + distance * 3) FROM flights")


def sqlite_checksum(db):
    result = subprocess.run(["sqlite3", db, FLIGHTS_CHECKSUM], check=True,
                            capture_output=True, text=True)
    return result.stdout.strip()


def scenario_json_validate_sqlite(args):
    """flights-200k.json through validate into SQLite, against the sqlite3
    shell importing the same rows from CSV into a table of the same column
    types (the ceiling: no JSON parsing, no validation)."""
    flights = make_flights(args.root)
    if flights is None:
        return {"skip": "flights-200k.json not found in $AGORA_SHARED_DIR/data "
                        "or ../shared/data"}
    json_path, csv_path, records = flights
    outdir = out_dir(args)
    agora_db = os.path.join(outdir, "json_validate_sqlite.agora.db")
    peer_db = os.path.join(outdir, "json_validate_sqlite.sqlite3.db")
    config = os.path.join(outdir, "json_validate_sqlite.toml")
    write_config(config, f"""format = "agora/v1"
[pipelines.bench]
source = {{ type = "json", path = "{json_path}" }}
[[pipelines.bench.middlewares]]
type = "validate"
required = ["delay", "distance", "time"]
types = {{ delay = "int", distance = "int", time = "number" }}
[[pipelines.bench.sinks]]
type = "sqlite"
path = "{agora_db}"
table = "flights"
""")

    def remove_dbs():
        for db in (agora_db, peer_db):
            for suffix in ("", "-wal", "-shm", "-journal"):
                if os.path.exists(db + suffix):
                    os.remove(db + suffix)

    agora_cmd = [args.agora, "run", "--config", config, "--log-level", "warn"]
    peer_cmd = ["sqlite3", peer_db,
                "CREATE TABLE flights (delay INTEGER, distance INTEGER, time REAL)",
                f".import --csv --skip 1 {csv_path} flights"]
    r = measure(args, agora_cmd, peer_cmd, None, before_each=remove_dbs)
    # The last command of the loop was the peer, so run agora once more to
    # have both tables for the check.
    run_measured(agora_cmd)
    agora_sum, peer_sum = sqlite_checksum(agora_db), sqlite_checksum(peer_db)
    print(f"  checksum (count, sum delay, sum distance, sum time, sum 7*delay+3*distance): "
          f"agora {agora_sum}, sqlite3 {peer_sum}", file=sys.stderr)
    if agora_sum != peer_sum or int(agora_sum.split("|")[0]) != records:
        sys.exit(f"json_validate_sqlite: the tables differ (agora {agora_sum}, "
                 f"sqlite3 {peer_sum}, expected {records} rows)")
    r.update(records=records, size_mb=os.path.getsize(json_path) / (1024 * 1024),
             peer_size_mb=os.path.getsize(csv_path) / (1024 * 1024),
             peer="sqlite3 .import --csv")
    return r


def scenario_jsonl_passthrough(args):
    """JSONL to JSONL with no middleware, against cat (the I/O ceiling)."""
    data = make_movies_jsonl(args.root, large_target_mb(args))
    records = count_lines(data)
    size_mb = os.path.getsize(data) / (1024 * 1024)
    outdir = out_dir(args)
    agora_out = os.path.join(outdir, "jsonl_passthrough.agora.jsonl")
    peer_out = os.path.join(outdir, "jsonl_passthrough.cat.jsonl")
    config = os.path.join(outdir, "jsonl_passthrough.toml")
    write_config(config, f"""format = "agora/v1"
[pipelines.bench]
source = {{ type = "jsonl", path = "{data}" }}
[[pipelines.bench.sinks]]
type = "jsonl"
path = "{agora_out}"
""")
    agora_cmd = [args.agora, "run", "--config", config, "--log-level", "warn"]
    peer_cmd = ["cat", data]
    r = measure(args, agora_cmd, peer_cmd, peer_out, agora_out=agora_out)
    if not same_records(agora_out, peer_out):
        sys.exit("jsonl_passthrough: agora's output and the input differ")
    r.update(records=records, size_mb=size_mb, peer="cat")
    return r


def scenario_scheduler_1000(args):
    """Many pipelines on every(interval) in one pool: tick lateness, CPU and
    RSS. BENCH_SCHEDULER_SECONDS (default 60) and BENCH_SCHEDULER_PIPELINES
    (default 1000) shorten or shrink it."""
    build = os.path.dirname(os.path.abspath(args.agora))
    library = os.path.join(build, "libagora.a")
    # The program includes internal headers, so the library must match the
    # sources: bring it up to date (a no-op when it is).
    subprocess.run(["cmake", "--build", build, "--target", "agora_static"],
                   check=True, stdout=subprocess.DEVNULL)
    outdir = os.path.join(args.root, "bench", "out")
    os.makedirs(outdir, exist_ok=True)
    binary = os.path.join(outdir, "scheduler_1000")
    libs = subprocess.run(["pkg-config", "--libs", "libmicrohttpd", "sqlite3", "libpcre2-8"],
                          check=True, capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-std=c11", "-O2", "-D_GNU_SOURCE",
                    "-I" + os.path.join(args.root, "include"),
                    "-I" + os.path.join(args.root, "src"),
                    os.path.join(args.root, "bench", "scheduler_1000.c"), library,
                    *libs, "-lcsv", "-lpthread", "-lm", "-ldl", "-o", binary],
                   check=True)
    cmd = [binary,
           "--pipelines", os.environ.get("BENCH_SCHEDULER_PIPELINES", "1000"),
           "--seconds", os.environ.get("BENCH_SCHEDULER_SECONDS", "60")]
    print("scheduler_1000: " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    sys.stderr.write(result.stderr)
    lines = [l for l in result.stdout.splitlines() if l.startswith("scenario=")]
    if len(lines) != 1:
        sys.exit(f"scheduler_1000: no summary line in: {result.stdout!r}")
    return {"line": lines[0]}


# ---- health_wrk ------------------------------------------------------------

WRK_PIPELINES = 10
WRK_THREADS = 2
WRK_CONNECTIONS = 20
NGINX_WORKERS = 1
# Bar for the health server: requests/s as a share of nginx's, and p99.
HEALTH_MIN_RATIO = 0.30
HEALTH_MAX_P99_MS = 10.0
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def free_port():
    """Returns a TCP port on 127.0.0.1 that was free a moment ago. Another
    process can take it before the server binds, so callers retry."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2.0):
    """Returns (status, body) of a GET, or (None, b"") when the connection fails."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, urllib.error.URLError):
        return None, b""


def wait_for_http(url, proc, log_path, seconds=10.0):
    """Polls url until it returns 200. Returns False when proc exits or the
    time runs out first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        status, _ = http_get(url, timeout=1.0)
        if status == 200:
            return True
        time.sleep(0.05)
    print(f"health_wrk: {url} did not return 200 within {seconds:.0f} s; "
          f"see {log_path}", file=sys.stderr)
    return False


def stop_process(proc, name, sig=signal.SIGTERM, grace=10.0):
    """Sends sig to proc's process group (each server runs in its own
    session), waits up to grace seconds, then kills the group."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print(f"health_wrk: {name} (pid {proc.pid}) ignored {sig.name} for "
              f"{grace:.0f} s; killing it", file=sys.stderr)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def cpu_seconds(pids):
    """Sums user and system CPU seconds of pids from /proc (0 for a pid that
    is gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def process_tree(pid):
    """Returns pid and the pids of its direct children (nginx's workers)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return pids


def parse_wrk(text):
    """Extracts requests/s, latency percentiles (ms), request count, non-2xx
    responses and socket errors from the output of `wrk --latency`."""
    def latency_ms(value, unit):
        return float(value) * UNIT_MS[unit]

    result = {"non_2xx": 0, "socket_errors": ""}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if m is None:
        raise ValueError("no 'Requests/sec:' line")
    result["rps"] = float(m.group(1))
    m = re.search(r"^\s*(\d+) requests in ", text, re.M)
    if m is None:
        raise ValueError("no 'N requests in' line")
    result["requests"] = int(m.group(1))
    dist = text.split("Latency Distribution", 1)
    if len(dist) != 2:
        raise ValueError("no 'Latency Distribution' block (run wrk with --latency)")
    for pct in ("50", "90", "99"):
        m = re.search(r"^\s*" + pct + r"%\s+([0-9.]+)(us|ms|s|m)\b", dist[1], re.M)
        if m is None:
            raise ValueError(f"no {pct}% line in the latency distribution")
        result[f"p{pct}_ms"] = latency_ms(m.group(1), m.group(2))
    m = re.search(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", text, re.M)
    if m is not None:
        result["non_2xx"] = int(m.group(1))
    m = re.search(r"^\s*Socket errors:\s*(.*)$", text, re.M)
    if m is not None:
        result["socket_errors"] = m.group(1).strip()
    return result


def write_wrk_config(tmp, port):
    """Writes ten pipelines that each read a few JSONL records every second,
    filter them and write them to a file in tmp. Returns the config path."""
    parts = [f"""format = "agora/v1"

[worker]
health_host = "127.0.0.1"
health_port = {port}
graceful_shutdown_timeout = 5.0
"""]
    for i in range(1, WRK_PIPELINES + 1):
        name = f"p{i:02d}"
        source = os.path.join(tmp, f"{name}.jsonl")
        with open(source, "w", encoding="utf-8") as f:
            for n in range(5):
                f.write(json.dumps({"id": n, "pipeline": name, "value": n * 1.5}) + "\n")
        parts.append(f"""
[pipelines.{name}]
source = {{ type = "jsonl", path = "{source}" }}
schedule = {{ mode = "every", seconds = 1 }}

[[pipelines.{name}.middlewares]]
type = "filter"
name = "keep"
expression = "value >= 1.5"

[[pipelines.{name}.sinks]]
type = "jsonl"
path = "{os.path.join(tmp, name + '.out.jsonl')}"
""")
    path = os.path.join(tmp, "pipelines.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(parts))
    return path


def start_agora_worker(args, tmp):
    """Starts `agora worker` with its health server on a free port and waits
    until /ready returns 200. Returns (process, port)."""
    log_path = os.path.join(tmp, "agora.log")
    for _ in range(3):
        port = free_port()
        config = write_wrk_config(tmp, port)
        cmd = [args.agora, "worker", "--config", config, "--log-level", "warn"]
        print("health_wrk: " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, start_new_session=True)
        if wait_for_http(f"http://127.0.0.1:{port}/ready", proc, log_path):
            return proc, port
        stop_process(proc, "agora worker")
    with open(log_path, encoding="utf-8", errors="replace") as f:
        sys.stderr.write(f.read()[-4000:])
    raise RuntimeError("agora worker did not start; the end of its log is above")


def start_nginx(args, tmp, body):
    """Starts nginx from bench/nginx/health_wrk.conf.template with body as
    its static file and waits until the file is served. Returns (process,
    url)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    root = os.path.join(tmp, "www")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "health.json"), "wb") as f:
        f.write(body)
    with open(os.path.join(args.root, "bench", "nginx", "health_wrk.conf.template"),
              encoding="utf-8") as f:
        template = f.read()
    log_path = os.path.join(tmp, "error.log")
    for _ in range(3):
        port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(template.replace("@PREFIX@", tmp).replace("@ROOT@", root)
                    .replace("@PORT@", str(port))
                    .replace("@WORKERS@", str(NGINX_WORKERS)))
        cmd = [nginx, "-c", conf, "-p", tmp, "-e", log_path, "-g", "daemon off;"]
        print("health_wrk: " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}/health.json"
        if wait_for_http(url, proc, log_path):
            return proc, url
        stop_process(proc, "nginx", sig=signal.SIGQUIT)
    if os.path.exists(log_path):
        with open(log_path, encoding="utf-8", errors="replace") as f:
            sys.stderr.write(f.read()[-4000:])
    raise RuntimeError("nginx did not start; the end of its error log is above")


def run_wrk(url, seconds, server_pids, perf_output=None):
    """Runs wrk against url and returns its parsed figures plus the CPU share
    of server_pids during the run. With perf_output, records call graphs of
    server_pids[0] with perf for the length of the run."""
    cmd = ["wrk", "--latency", "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS),
           "-d", f"{seconds}s", url]
    print("health_wrk: " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    perf = None
    if perf_output:
        perf = subprocess.Popen(["perf", "record", "-g", "-o", perf_output,
                                 "-p", str(server_pids[0]), "--", "sleep", str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu_before = cpu_seconds(server_pids)
    wall_before = time.monotonic()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    finally:
        if perf is not None:
            try:
                perf.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                perf.send_signal(signal.SIGINT)
                perf.wait(timeout=10)
    wall = time.monotonic() - wall_before
    cpu = cpu_seconds(server_pids) - cpu_before
    sys.stderr.write(done.stdout)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    result = parse_wrk(done.stdout)
    result["server_cpu_pct"] = 100.0 * cpu / wall
    return result


def scenario_health_wrk(args):
    """HTTP load on a live worker's health server, nginx as the ceiling.
    BENCH_WRK_SECONDS (default 30) sets the length of each wrk run, and
    BENCH_WRK_PERF=FILE records a perf profile of the worker during the
    /health run into FILE."""
    seconds = int(os.environ.get("BENCH_WRK_SECONDS", "30"))
    if seconds < 1:
        sys.exit("health_wrk: BENCH_WRK_SECONDS must be at least 1")
    perf_output = os.environ.get("BENCH_WRK_PERF") or None
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"health_wrk: '{tool}' not found; install the Debian packages "
                     "wrk and nginx (bench/run does so through scripts/deps.sh)")

    tmp = tempfile.mkdtemp(prefix="agora-health-wrk-")
    # nginx started as root serves files as the unprivileged user "nobody",
    # which must be able to read the static file. Nothing here is secret.
    os.chmod(tmp, 0o755)
    agora = nginx = None
    results = {}
    failure = None
    try:
        agora, agora_port = start_agora_worker(args, tmp)
        status, body = http_get(f"http://127.0.0.1:{agora_port}/health")
        if status != 200:
            raise RuntimeError(f"/health returned {status} before the load: {body[:200]!r}")
        _, metrics = http_get(f"http://127.0.0.1:{agora_port}/metrics")
        print(f"health_wrk: agora pid {agora.pid}, /health body {len(body)} bytes, "
              f"/metrics body {len(metrics)} bytes", file=sys.stderr)
        # nginx serves a copy of a real /health response body, so both
        # servers send bodies of the same size.
        nginx, nginx_url = start_nginx(args, tmp, body)
        nginx_pids = process_tree(nginx.pid)
        print(f"health_wrk: nginx master pid {nginx.pid}, pids {nginx_pids}, "
              f"worker_processes {NGINX_WORKERS}", file=sys.stderr)

        targets = [
            ("/health", f"http://127.0.0.1:{agora_port}/health", [agora.pid], perf_output),
            ("/metrics", f"http://127.0.0.1:{agora_port}/metrics", [agora.pid], None),
            ("nginx", nginx_url, nginx_pids, None),
        ]
        for endpoint, url, pids, perf in targets:
            results[endpoint] = run_wrk(url, seconds, pids, perf)
            if agora.poll() is not None:
                raise RuntimeError(f"agora worker exited ({agora.returncode}) during the load")
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
        failure = str(e)
    finally:
        stop_process(nginx, "nginx", sig=signal.SIGQUIT)
        stop_process(agora, "agora worker")
        if agora is not None and agora.returncode not in (0, None):
            with open(os.path.join(tmp, "agora.log"), encoding="utf-8",
                      errors="replace") as f:
                sys.stderr.write(f.read()[-4000:])
        shutil.rmtree(tmp, ignore_errors=True)
    if failure is not None:
        sys.exit(f"health_wrk: {failure}")

    ceiling = results["nginx"]["rps"]
    lines = []
    for endpoint in ("/health", "/metrics", "nginx"):
        r = results[endpoint]
        ratio = r["rps"] / ceiling
        print(f"health_wrk: {endpoint}: {r['requests']} requests in {seconds} s, "
              f"p50 {r['p50_ms']:.3f} ms, p90 {r['p90_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, "
              f"server CPU {r['server_cpu_pct']:.0f} %, non-2xx {r['non_2xx']}"
              + (f", socket errors: {r['socket_errors']}" if r["socket_errors"] else ""),
              file=sys.stderr)
        if r["non_2xx"]:
            sys.exit(f"health_wrk: {endpoint} returned {r['non_2xx']} non-2xx responses")
        lines.append(f"scenario=health_wrk endpoint={endpoint} rps={r['rps']:.0f} "
                     f"p99_ms={r['p99_ms']:.3f} ratio_to_nginx={ratio:.2f}")
    health = results["/health"]
    met = (health["rps"] / ceiling >= HEALTH_MIN_RATIO
           and health["p99_ms"] < HEALTH_MAX_P99_MS)
    print(f"health_wrk: bar (/health >= {HEALTH_MIN_RATIO:.0%} of nginx requests/s, "
          f"p99 < {HEALTH_MAX_P99_MS:g} ms): {'met' if met else 'missed'}", file=sys.stderr)
    return {"lines": lines}


SCENARIOS = {
    "jsonl_filter_map": scenario_jsonl_filter_map,
    "jsonl_filter_map_500": scenario_jsonl_filter_map_500,
    "csv_to_jsonl": scenario_csv_to_jsonl,
    "json_validate_sqlite": scenario_json_validate_sqlite,
    "jsonl_passthrough": scenario_jsonl_passthrough,
    "callgrind_filter_map": scenario_callgrind_filter_map,
    "scheduler_1000": scenario_scheduler_1000,
    "health_wrk": scenario_health_wrk,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--agora", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args()
    # Config files name their inputs by absolute path: relative paths in a
    # config start at the config file's directory.
    args.root = os.path.abspath(args.root)
    global RSS_EXEC
    RSS_EXEC = build_rss_exec(args.root)
    args.runs = int(os.environ.get("BENCH_RUNS", "3"))
    args.target_mb = int(os.environ.get("BENCH_TARGET_MB", "100"))
    args.target_mb_set = "BENCH_TARGET_MB" in os.environ
    args.out_dir = choose_out_dir(args.root)
    print(f"outputs go to {args.out_dir}", file=sys.stderr)

    names = args.scenarios or list(SCENARIOS)
    for name in names:
        if name not in SCENARIOS:
            sys.exit(f"unknown scenario '{name}'; known: {', '.join(SCENARIOS)}")
    lines = []
    for name in names:
        r = SCENARIOS[name](args)
        if "line" in r:
            lines.append(r["line"])
            continue
        if "lines" in r:
            lines.extend(r["lines"])
            continue
        if "skip" in r:
            print(f"{name}: skipped: {r['skip']}", file=sys.stderr)
            lines.append(f"scenario={name} skipped")
            continue
        agora_rps = r["records"] / r["agora_s"]
        peer_rps = r["records"] / r["peer_s"]
        peer_size_mb = r.get("peer_size_mb", r["size_mb"])
        agora_mbps = r["size_mb"] / r["agora_s"]
        peer_mbps = peer_size_mb / r["peer_s"]
        print(f"{name}: {r['records']} records, input {r['size_mb']:.1f} MB"
              + (f" (peer input {peer_size_mb:.1f} MB)" if "peer_size_mb" in r else "")
              + f", medians of {args.runs} runs\n"
              f"  agora: {r['agora_s']:.3f} s, {agora_rps:.0f} records/s, "
              f"{agora_mbps:.1f} MB/s, peak RSS {r['peak_rss_mb']:.1f} MB\n"
              f"  {r['peer']}: {r['peer_s']:.3f} s, {peer_rps:.0f} records/s, "
              f"{peer_mbps:.1f} MB/s, peak RSS {r['peer_rss_mb']:.1f} MB\n"
              f"  ratio agora/peer: records/s {agora_rps / peer_rps:.3f}, "
              f"MB/s {agora_mbps / peer_mbps:.3f}", file=sys.stderr)
        lines.append(f"scenario={name} agora_rps={agora_rps:.0f} peer_rps={peer_rps:.0f} "
                     f"ratio={agora_rps / peer_rps:.2f} peak_rss_mb={r['peak_rss_mb']:.1f}")
    if args.out_dir == TMPFS_OUT:
        shutil.rmtree(TMPFS_OUT, ignore_errors=True)  # gives the memory back
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
