"""Load-test kerascls-serve with Locust: capacity, a steady load, and an overload.

Starts `kerascls-serve` on 127.0.0.1 (a free port) with the model given, waits for
/readyz, then runs headless Locust (benchmarks/locustfile_serve.py, single-image requests)
at three levels, each bounded in users and seconds:

    capacity   closed loop: --probe-users users posting back to back; the requests/s
               answered 200 is the load the server can hold (C)
    steady     open loop at --steady-rate requests/s (default C/2)
    overload   --overload x C requests/s (default 3x): the excess must be shed with 503

For each level: requests/s answered, p50/p95/p99 of the answered requests, errors (any
status but 200/503, timeouts, refused connections), 503s and their p50/p99, and the
server's peak resident memory so far (VmHWM).

    python benchmarks/serve_load.py --model logs/.../exports/model_int8.tflite --seconds 30
    python benchmarks/serve_load.py --model ... --no-batching     # the same, batching off

Locust and the server share the machine's cores, so the figures are a floor for the
server alone.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOCUSTFILE = HERE / "locustfile_serve.py"
PER_USER_RATE = 10.0  # requests/s per Locust user at the open-loop levels


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_image(path: Path, size: int) -> Path:
    """A photo-like PNG (smooth noise) of size x size: what a client would send."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    Image.fromarray(small).resize((size, size), Image.BILINEAR).save(path)
    return path


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def start_server(model: str, port: int, extra: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "kerascls.cli.serve", "--model", model]
    command += ["--host", "127.0.0.1", "--port", str(port), *extra]
    with open(log, "wb") as out:  # a file, not a pipe: a full pipe would stall the server
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(server: subprocess.Popen, port: int, log: Path, timeout: float = 120) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise SystemExit("the server did not become ready")


def server_histogram(port: int) -> dict[str, dict[float, float]]:
    """Cumulative bucket counts of kerascls_request_seconds for /v1/predict, by status."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    buckets: dict[str, dict[float, float]] = {}
    for line in text.splitlines():
        if not line.startswith("kerascls_request_seconds_bucket{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if labels.get("route") != "/v1/predict":
            continue
        bound = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
        by_status = buckets.setdefault(labels["status"], {})
        by_status[bound] = by_status.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def quantiles(before: dict, after: dict, status: str) -> dict:
    """p50/p95/p99 (ms) of the requests between two histograms, interpolated in buckets
    as Prometheus' histogram_quantile does."""
    new, old = after.get(status, {}), before.get(status, {})
    bounds = sorted(new)
    counts = [new[b] - old.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return {"requests": 0}
    total = counts[-1]
    found: dict = {"requests": int(total)}
    for q in (0.5, 0.95, 0.99):
        rank, lower, below = q * total, 0.0, 0.0
        for bound, count in zip(bounds, counts, strict=True):
            if count >= rank:
                if bound == float("inf"):
                    value = lower
                else:
                    value = lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
                found[f"p{round(q * 100)}_ms"] = round(value * 1000, 2)
                break
            lower, below = bound, count
    return found


def run_locust(port: int, users: int, rate: float, seconds: int, image: Path, tmp: Path) -> dict:
    """One headless Locust run; the figures of its stats CSV."""
    prefix = tmp / f"locust-{users}-{rate:g}"
    env = {**os.environ, "SERVE_LOAD_IMAGE": str(image), "SERVE_LOAD_RATE": str(rate)}
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--reset-stats"]
    command += ["--host", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary"]
    command += ["--loglevel", "ERROR", "--stop-timeout", "10"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.exists():
        raise SystemExit(f"locust wrote no stats:\n{done.stdout}\n{done.stderr}")
    rows = {row["Name"]: row for row in csv.DictReader(io.StringIO(stats_file.read_text()))}

    def figures(name: str) -> dict:
        row = rows.get(name)
        if row is None or not int(row["Request Count"]):
            return {"requests": 0}
        return {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps": float(row["Requests/s"]),
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
            "p99_ms": float(row["99%"]),
            "max_ms": float(row["Max Response Time"]),
        }

    total = rows.get("Aggregated", {})
    failures = int(total.get("Failure Count", 0) or 0)
    requests = int(total.get("Request Count", 0) or 0)
    return {
        "users": users,
        "rate_per_user": rate,
        "seconds": seconds,
        "offered_rps": float(total.get("Requests/s", 0) or 0),
        "ok": figures("predict"),
        "shed": figures("shed 503"),
        "errors": failures,
        "error_rate": failures / requests if requests else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the model file to serve")
    parser.add_argument("--seconds", type=int, default=30, help="seconds per level (30)")
    parser.add_argument("--probe-users", type=int, default=16, help="closed-loop users (16)")
    parser.add_argument("--steady-rate", type=float, default=None, help="req/s (default C/2)")
    parser.add_argument("--overload", type=float, default=3.0, help="x capacity (3)")
    parser.add_argument("--max-users", type=int, default=300, help="cap on Locust users")
    parser.add_argument("--image-size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--no-batching", action="store_true", help="serve without batching")
    parser.add_argument("--server-arg", action="append", default=[], help="extra serve flag")
    parser.add_argument(
        "--levels", default="capacity,steady,overload", help="which levels, comma-separated"
    )
    parser.add_argument("--capacity", type=float, default=None, help="C, when not measured")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 300 or not 1 <= args.max_users <= 1000:
        parser.error("--seconds must be 1-300 and --max-users 1-1000")

    extra = list(args.server_arg) + (["--no-batching"] if args.no_batching else [])
    port = free_port()
    results: dict = {"model": args.model, "batching": not args.no_batching, "levels": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        image = write_image(tmp / "image.png", args.image_size)
        log = tmp / "server.log"
        server = start_server(args.model, port, extra, log)
        try:
            wait_ready(server, port, log)
            results["rss_ready_kb"] = memory_kb(server.pid)["VmRSS"]

            def level(name: str, users: int, rate: float) -> dict:
                users = max(1, min(users, args.max_users))
                before = server_histogram(port)
                figures = run_locust(port, users, rate, args.seconds, image, tmp)
                after = server_histogram(port)
                figures["server_ok"] = quantiles(before, after, "200")
                figures["server_shed"] = quantiles(before, after, "503")
                figures["load_average"] = os.getloadavg()[0]
                figures["server_alive"] = server.poll() is None
                figures["peak_rss_kb"] = memory_kb(server.pid)["VmHWM"]
                results["levels"][name] = figures
                print(f"{name}: {json.dumps(figures)}", flush=True)
                return figures

            levels = args.levels.split(",")
            capacity = args.capacity or 0.0
            if "capacity" in levels:
                capacity = level("capacity", args.probe_users, 0.0)["ok"].get("rps", 0.0)
            results["capacity_rps"] = capacity
            if "steady" in levels:
                steady = args.steady_rate or capacity / 2
                level("steady", math.ceil(steady / PER_USER_RATE), PER_USER_RATE)
            if "overload" in levels:
                overload = args.overload * capacity
                level("overload", math.ceil(overload / PER_USER_RATE), PER_USER_RATE)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


def table(results: dict) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| level | users | offered req/s | answered req/s | p50 / p95 / p99 ms | errors "
        "| 503s | 503 p50 / p99 ms | in the server: 200 p50 / p99, 503 p99 ms | peak RSS MB "
        "| load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in results["levels"].items():
        ok, shed = f["ok"], f["shed"]
        latency = f"{ok.get('p50_ms', 0):g} / {ok.get('p95_ms', 0):g} / {ok.get('p99_ms', 0):g}"
        shed_latency = f"{shed['p50_ms']:g} / {shed['p99_ms']:g}" if shed.get("requests") else "-"
        lines.append(
            f"| {name} | {f['users']} | {f['offered_rps']:.0f} | {ok.get('rps', 0):.0f} "
            f"| {latency} | {f['errors']} ({f['error_rate']:.2%}) | {shed.get('requests', 0)} "
            f"| {shed_latency} | {_server(f)} | {f['peak_rss_kb'] / 1024:.0f} "
            f"| {f['load_average']:.1f} |"
        )
    return "\n".join(lines)


def _server(figures: dict) -> str:
    ok, shed = figures["server_ok"], figures["server_shed"]
    text = f"{ok.get('p50_ms', '-')} / {ok.get('p99_ms', '-')}"
    return text + (f", {shed['p99_ms']}" if shed.get("requests") else ", -")


if __name__ == "__main__":
    raise SystemExit(main())
