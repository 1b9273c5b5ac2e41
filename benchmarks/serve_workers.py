"""`kerascls-serve --workers N` against one worker, measured with wrk (a C load generator).

Locust (serve_load.py) spends about a core of its own at a thousand requests/s, so on a
2-core machine it takes the second worker's core and hides what the second worker adds.
wrk is a single-threaded C client that sends the same raw-body request for a fraction
of that CPU, so the ratio it measures is the servers', not the client's.

For each repetition, one server with 1 worker and then one with `--workers N` (the
order alternates, so a drift of the shared machine falls on both):

    capacity   closed loop, --connections connections posting back to back: requests/s
               answered 200
    overload   (N workers, last repetition) connections paced by random waits (mean
               --pace-ms) so that about --overload x capacity requests/s arrive; every
               answer must be 200 or 503, nothing else, no socket errors

Prints each measurement, the median ratio, and the overload's offered rate, goodput
(200s/s), 503s and errors. Every wrk run is bounded by --seconds and wrk's own timeout.

    apt-get install wrk          # Debian's package
    python benchmarks/serve_workers.py --model logs/cifar10/RUN/exports/model_int8.tflite
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import free_port, start_server, wait_ready, write_image

# wrk's Lua hooks: the raw image as the body, a random pause before each request (mean
# WRK_PACE_MS; 0: back to back), and a count of every status, printed at the end.
WRK_SCRIPT = """
local f = io.open(os.getenv("WRK_IMAGE"), "rb")
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "image/png"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function delay()
  local pace = tonumber(os.getenv("WRK_PACE_MS") or "0")
  if pace == 0 then return 0 end
  return math.random(0, 2 * pace)
end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("counts")) do io.write(string.format("status %d %d\\n", s, n)) end
  end
  local e = summary.errors
  io.write(string.format("socket_errors %d\\n", e.connect + e.read + e.write + e.timeout))
  io.write(string.format("seconds %f\\n", summary.duration / 1e6))
  io.write(string.format("p50_ms %f\\n", latency:percentile(50) / 1000))
  io.write(string.format("p99_ms %f\\n", latency:percentile(99) / 1000))
end
"""


def run_wrk(port: int, connections: int, seconds: int, pace_ms: float, env: dict) -> dict:
    """One wrk run; its status counts, socket errors and rates."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", env["WRK_SCRIPT"], f"http://127.0.0.1:{port}/v1/predict"]
    done = subprocess.run(
        command,
        env={**env, "WRK_PACE_MS": str(pace_ms)},
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    statuses = {int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", done.stdout, re.M)}
    values = dict(
        re.findall(r"^(socket_errors|seconds|p50_ms|p99_ms) ([\d.]+)$", done.stdout, re.M)
    )
    if "seconds" not in values:
        raise SystemExit(f"wrk gave no summary:\n{done.stdout}\n{done.stderr}")
    duration = float(values["seconds"])
    answered = sum(statuses.values())
    return {
        "ok_rps": statuses.get(200, 0) / duration,
        "offered_rps": answered / duration,
        "shed": statuses.get(503, 0),
        "other_statuses": {s: n for s, n in statuses.items() if s not in (200, 503)},
        "socket_errors": int(values["socket_errors"]),
        "p50_ms": float(values["p50_ms"]),
        "p99_ms": float(values["p99_ms"]),
    }


def serving(model: str, workers: int, tmp: Path):
    """A started server with `workers` processes, ready; the caller stops it."""
    port = free_port()
    server = start_server(model, port, ["--workers", str(workers)], tmp / f"serve-{workers}.log")
    wait_ready(server, port, tmp / f"serve-{workers}.log")
    return server, port


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the model file to serve")
    parser.add_argument("--workers", type=int, default=2, help="workers to compare with 1 (2)")
    parser.add_argument("--repeats", type=int, default=3, help="pairs of measurements (3)")
    parser.add_argument("--seconds", type=int, default=15, help="seconds per wrk run (15)")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections")
    parser.add_argument("--overload", type=float, default=3.0, help="x capacity (3)")
    parser.add_argument("--pace-ms", type=float, default=20.0, help="mean pause, overload (20)")
    parser.add_argument("--image-size", type=int, default=32, help="image side in pixels (32)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("error: wrk is not installed; install it with: apt-get install wrk")

    from kerascls.train.runtime import describe_cpu  # no TensorFlow: reads /proc/cpuinfo

    print(f"# {describe_cpu()}; {args.model}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        script = tmp / "post.lua"
        script.write_text(WRK_SCRIPT)
        image = write_image(tmp / "image.png", args.image_size)
        env = {**os.environ, "WRK_SCRIPT": str(script), "WRK_IMAGE": str(image)}
        capacity: dict[int, list[float]] = {1: [], args.workers: []}
        for repeat in range(args.repeats):
            order = (1, args.workers) if repeat % 2 == 0 else (args.workers, 1)
            for workers in order:
                server, port = serving(args.model, workers, tmp)
                try:
                    run_wrk(port, args.connections, 3, 0, env)  # warm-up
                    found = run_wrk(port, args.connections, args.seconds, 0, env)
                finally:
                    stop(server)
                capacity[workers].append(found["ok_rps"])
                print(
                    f"repeat {repeat} workers {workers}: {found['ok_rps']:,.0f} req/s answered "
                    f"200, p50 {found['p50_ms']:.1f} ms, 503s {found['shed']}, "
                    f"errors {found['socket_errors']} {found['other_statuses'] or ''}"
                )
                time.sleep(1)
        ratios = [m / o for m, o in zip(capacity[args.workers], capacity[1], strict=True)]
        print(
            f"capacity, median: 1 worker {statistics.median(capacity[1]):,.0f} req/s, "
            f"{args.workers} workers {statistics.median(capacity[args.workers]):,.0f} req/s; "
            f"ratio per pair {', '.join(f'{r:.2f}' for r in ratios)}, "
            f"median {statistics.median(ratios):.2f}x"
        )

        # Overload: connections paced so that about overload x capacity arrive per second;
        # each connection sends one request per (pause + answer), so the count is corrected
        # from what arrived (at most 3 tries, each bounded by --seconds).
        target = args.overload * statistics.median(capacity[args.workers])
        connections = max(1, round(target * (args.pace_ms + 1.0) / 1000))
        server, port = serving(args.model, args.workers, tmp)
        try:
            for _ in range(3):
                found = run_wrk(port, connections, args.seconds, args.pace_ms, env)
                if found["offered_rps"] >= 0.95 * target:
                    break
                connections = round(connections * target / max(found["offered_rps"], 1.0))
        finally:
            stop(server)
        times = found["offered_rps"] / target * args.overload
        print(
            f"overload, {args.workers} workers, {connections} paced connections: offered "
            f"{found['offered_rps']:,.0f} req/s ({times:.1f}x "
            f"capacity), answered 200 {found['ok_rps']:,.0f} req/s, 503s {found['shed']:,}, "
            f"other statuses {found['other_statuses'] or 0}, socket errors {found['socket_errors']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
