"""What one kerascls-serve process costs: start to ready, resident memory, and the latency of
single images sent one at a time (the raw-body form: `curl --data-binary @photo.jpg`).

    python benchmarks/serve_footprint.py --model logs/cifar10/RUN/exports/model_int8.tflite
    python benchmarks/serve_footprint.py --model MODEL --requests 500 --image photo.jpg

Starts `kerascls-serve --model MODEL` on 127.0.0.1 as users do, polls /readyz until it
answers 200 (start to ready, from before the process starts), then sends `--requests`
sequential POSTs of one image each (after 20 unmeasured warm-up requests) and reads the
server's resident memory (VmRSS and VmHWM from /proc). Prints one line of figures with the
CPU it ran on, and whether the server process loaded TensorFlow (its /proc maps name
libtensorflow). The client runs on the same machine, as the issue's target says.
"""

from __future__ import annotations

import argparse
import http.client
import io
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def loaded_tensorflow(pid: int) -> bool:
    return "libtensorflow" in Path(f"/proc/{pid}/maps").read_text()


def sample_jpeg(path: str | None) -> bytes:
    if path:
        return Path(path).read_bytes()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def wait_ready(server: subprocess.Popen, port: int, started: float) -> http.client.HTTPConnection:
    """Poll /readyz until it answers 200; the kept-alive connection that did."""
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stderr.read()[-1000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/readyz")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return connection
        except OSError:
            pass
        connection.close()
        if time.perf_counter() - started > 120:
            raise SystemExit("not ready after 120 s")
        time.sleep(0.02)


def predict(connection: http.client.HTTPConnection, image: bytes) -> None:
    connection.request("POST", "/v1/predict", body=image, headers={"content-type": "image/jpeg"})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"predict answered {response.status}: {body[:300]!r}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="the model file kerascls-serve serves")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--image", help="the image to send (default: a 150x150 JPEG)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more serve flags")
    args = p.parse_args()

    port = free_port()
    cmd = [sys.executable, "-m", "kerascls.cli.serve", "--model", args.model]
    cmd += ["--port", str(port), "--log-level", "warning", *args.extra]
    started = time.perf_counter()
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        connection = wait_ready(server, port, started)
        ready = time.perf_counter() - started
        idle = proc_memory_mb(server.pid)
        image = sample_jpeg(args.image)
        for _ in range(20):
            predict(connection, image)
        times = []
        for _ in range(args.requests):
            t = time.perf_counter()
            predict(connection, image)
            times.append(time.perf_counter() - t)
        busy = proc_memory_mb(server.pid)
        tensorflow = loaded_tensorflow(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    from kerascls.train.runtime import describe_cpu

    ms = sorted(1000 * t for t in times)
    print(describe_cpu())
    print(
        f"{Path(args.model).name}: ready in {ready:.2f} s; resident {idle['VmRSS']:.0f} MB idle, "
        f"{busy['VmRSS']:.0f} MB after {len(ms)} requests (peak {busy['VmHWM']:.0f} MB); "
        f"sequential single-image latency median {statistics.median(ms):.2f} ms, "
        f"p90 {ms[int(0.9 * len(ms))]:.2f} ms, p99 {ms[int(0.99 * len(ms))]:.2f} ms; "
        f"TensorFlow loaded: {tensorflow}"
    )


if __name__ == "__main__":
    main()
