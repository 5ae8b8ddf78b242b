"""Benchmark harness: agora against a peer tool on the same input, and the
scheduler on its own.

Each throughput scenario builds its input once (under bench/data/), runs
agora and the peer BENCH_RUNS times each, checks that both outputs hold the
same records, and reports medians. Peak RSS comes from the kernel's
ru_maxrss of the finished child process.

The scheduler_1000 scenario compiles bench/scheduler_1000.c against the
static library of the build and runs it once; that program measures and
prints its own summary line.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

SOURCE_MOVIES = "examples/quickstart/data/movies.json"


def run_measured(cmd, stdout_path=None):
    """Runs cmd and returns (seconds, peak_rss_mb). Fails on a non-zero exit."""
    out = open(stdout_path or os.devnull, "wb")
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.dup2(out.fileno(), 1)
        os.execvp(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    out.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"benchmark command failed ({status}): {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1024.0


def make_movies_jsonl(root, target_mb):
    """Writes the movies records repeated to about target_mb as JSONL."""
    path = os.path.join(root, "bench", "data", f"movies_{target_mb}mb.jsonl")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(os.path.join(root, SOURCE_MOVIES), encoding="utf-8") as f:
        records = json.load(f)
    lines = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
                    for r in records)
    block = lines.encode("utf-8")
    repeats = max(1, (target_mb * 1024 * 1024) // len(block))
    with open(path + ".tmp", "wb") as f:
        for _ in range(repeats):
            f.write(block)
    os.rename(path + ".tmp", path)
    return path


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def same_records(path_a, path_b):
    """True when both JSONL files hold the same records in the same order
    (key order ignored, numbers compared by value)."""
    with open(path_a, encoding="utf-8") as a, open(path_b, encoding="utf-8") as b:
        for line_a, line_b in zip(a, b):
            if json.loads(line_a) != json.loads(line_b):
                return False
        return a.readline() == "" and b.readline() == ""


def scenario_jsonl_filter_map(args):
    data = make_movies_jsonl(args.root, args.target_mb)
    records = count_lines(data)
    size_mb = os.path.getsize(data) / (1024 * 1024)
    outdir = os.path.join(args.root, "bench", "out")
    os.makedirs(outdir, exist_ok=True)
    agora_out = os.path.join(outdir, "jsonl_filter_map.agora.jsonl")
    peer_out = os.path.join(outdir, "jsonl_filter_map.jq.jsonl")
    config = os.path.join(outdir, "jsonl_filter_map.toml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"""format = "agora/v1"
[pipelines.bench]
source = {{ type = "jsonl", path = "{data}" }}
[[pipelines.bench.middlewares]]
type = "filter"
expression = "`IMDB Rating` >= 6"
[[pipelines.bench.middlewares]]
type = "map"
rename = {{ "IMDB Rating" = "imdb_rating", "Title" = "title" }}
drop = ["US DVD Sales", "Source"]
[[pipelines.bench.sinks]]
type = "jsonl"
path = "{agora_out}"
""")
    jq_program = ('select(.["IMDB Rating"] >= 6)'
                  ' | .imdb_rating = .["IMDB Rating"] | .title = .Title'
                  ' | del(.["IMDB Rating"], .Title, .["US DVD Sales"], .Source)')
    agora_cmd = [args.agora, "run", "--config", config, "--log-level", "warn"]
    peer_cmd = ["jq", "-c", jq_program, data]

    agora_runs, peer_runs, rss = [], [], []
    for _ in range(args.runs):
        seconds, peak = run_measured(agora_cmd)
        agora_runs.append(seconds)
        rss.append(peak)
        seconds, _ = run_measured(peer_cmd, stdout_path=peer_out)
        peer_runs.append(seconds)
    if not same_records(agora_out, peer_out):
        sys.exit("jsonl_filter_map: agora and jq outputs differ")
    return {
        "records": records,
        "size_mb": size_mb,
        "agora_s": statistics.median(agora_runs),
        "peer_s": statistics.median(peer_runs),
        "peak_rss_mb": max(rss),
        "peer": "jq -c",
    }


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


SCENARIOS = {
    "jsonl_filter_map": scenario_jsonl_filter_map,
    "scheduler_1000": scenario_scheduler_1000,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--agora", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args()
    args.runs = int(os.environ.get("BENCH_RUNS", "3"))
    args.target_mb = int(os.environ.get("BENCH_TARGET_MB", "100"))

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
        agora_rps = r["records"] / r["agora_s"]
        peer_rps = r["records"] / r["peer_s"]
        print(f"{name}: {r['records']} records, {r['size_mb']:.1f} MB, "
              f"agora {r['agora_s']:.3f} s ({r['size_mb'] / r['agora_s']:.1f} MB/s), "
              f"{r['peer']} {r['peer_s']:.3f} s, medians of {args.runs} runs",
              file=sys.stderr)
        lines.append(f"scenario={name} agora_rps={agora_rps:.0f} peer_rps={peer_rps:.0f} "
                     f"ratio={agora_rps / peer_rps:.2f} peak_rss_mb={r['peak_rss_mb']:.1f}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
