"""kerascls-serve end to end: the real command in its own process on 127.0.0.1, asked over
real HTTP, then stopped; and the command's one-line errors. Slow (not in CI): a real
Prometheus scrapes a running server and answers every query of the Grafana dashboard.

The models are the session's `exported_run` (tests/shared_fixtures.py); the app's handlers are
tested in-process in tests/test_serve_unit.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import COLOUR_CLASSES, DASHBOARD, PNG, colour_png

from kerascls.cli.serve import main as serve_main

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m kerascls.cli.serve --port PORT ARGS` in its own process."""

    def __init__(self, args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        command = [sys.executable, "-m", "kerascls.cli.serve", "--port", str(self.port), *args]
        # a file, not a pipe: a full pipe would stall the server
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True
        )
        self.output = ""

    def wait_ready(self, timeout: float = 90.0) -> None:
        import httpx2 as httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self._read_log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("the server never became ready")

    def stop(self) -> None:
        """SIGINT (Ctrl-C), as a user stops it; killed if it does not exit in 20 s."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.output = self._read_log()
        self.log.close()

    def _read_log(self) -> str:
        self.log.seek(0)
        return self.log.read()


@contextmanager
def running_server(args: list[str]) -> Iterator[Server]:
    """A ready server (/readyz 200) for the block; stopped after it, whatever happens."""
    server = Server(args)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# -- the command -----------------------------------------------------------------------------


def test_the_command_serves_a_run_on_localhost(exported_run):
    import httpx2 as httpx

    shadow = exported_run.path / "exports" / "model_float32.tflite"
    with running_server(["--run", str(exported_run.path), "--shadow", str(shadow)]) as server:
        models = httpx.get(f"{server.url}/v1/models", timeout=10).json()["models"]
        assert [(m["variant"], m["precision"]) for m in models] == [
            ("live", "int8"),
            ("shadow", "float32"),
        ]
        response = httpx.post(
            f"{server.url}/v1/predict",
            files={"image": ("cat.png", colour_png("green"), "image/png")},
            timeout=10,
        )
        assert response.status_code == 200
        body = response.json()
        assert body["predictions"][0]["top_k"][0]["class"] == "green"
        assert (body["format"], body["precision"]) == ("tflite", "int8")
    assert server.process.returncode == 0, server.output
    assert f"on {server.url}" in server.output


def test_command_errors_are_one_line(tmp_path, capsys, exported_run):
    assert serve_main(["--logdir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: no training runs under")
    assert serve_main(["--model", str(tmp_path / "missing.tflite")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "run.json").write_text(json.dumps({"created": 1, "model": {"name": "cnn"}}))
    assert serve_main(["--run", str(bare)]) == 2
    err = capsys.readouterr().err
    assert "no export" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_:
        serve_main(["--run", str(exported_run.path), "--split", "0.1"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        serve_main(["--no-such-flag"])


# -- --workers N: N processes on one port, one set of metrics, graceful shutdown -------------

WORKER = "x-kerascls-worker"


def worker_answers(url: str, path: str, count: int, **request) -> list[tuple[str, int]]:
    """`count` requests to url+path, 8 at once: (PID that answered, status) of each."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx2 as httpx

    method = "POST" if "content" in request else "GET"

    def one(_: int) -> tuple[str, int]:
        answer = httpx.request(method, url + path, timeout=10, **request)
        return answer.headers[WORKER], answer.status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def uses_tensorflow(pid: str) -> bool:
    """Whether the process has TensorFlow's libraries mapped (it imported tensorflow)."""
    return "/tensorflow/" in Path(f"/proc/{pid}/maps").read_text()


def predict_requests_counted(url: str) -> float:
    import httpx2 as httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "kerascls_requests_total" and sample.labels["route"] == "/v1/predict"
    )


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
def test_two_workers_share_the_port_and_their_metrics_add_up(exported_run):
    tflite = exported_run.path / "exports" / "model_int8.tflite"
    with running_server(["--model", str(tflite), "--workers", "2"]) as server:
        ready: set[str] = set()  # both workers ready: /readyz 200 from two PIDs
        for _ in range(30):
            ready |= {
                pid for pid, status in worker_answers(server.url, "/readyz", 16) if status == 200
            }
            if len(ready) == 2:
                break
            time.sleep(0.2)
        assert len(ready) == 2, ready
        sent, answered = 0, set()
        while len(answered) < 2 and sent < 400:  # the kernel picks the process per connection
            answers = worker_answers(
                server.url, "/v1/predict", 40, content=colour_png("red"), headers=PNG
            )
            assert [status for _, status in answers] == [200] * 40
            sent, answered = sent + 40, answered | {pid for pid, _ in answers}
        assert len(answered) == 2, answered
        assert str(server.process.pid) not in answered  # workers answer, not the parent
        # counters add up across workers (prometheus-client's multiprocess mode)
        assert predict_requests_counted(server.url) == sent
        # a .tflite server never imports TensorFlow: not in a worker, not in the parent
        for pid in (*answered, str(server.process.pid)):
            assert not uses_tensorflow(pid), pid
        environ = Path(f"/proc/{min(answered)}/environ").read_bytes().split(b"\0")
        metrics_dir = Path(
            next(v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR="))
            .split(b"=")[1]
            .decode()
        )
        assert metrics_dir.is_dir() and any(metrics_dir.glob("*.db"))
    assert server.process.returncode == 0, server.output
    assert "with 2 workers" in server.output
    assert not metrics_dir.exists()  # removed at exit


def slow_body(image: bytes, pause: float, sent: Any = None) -> Iterator[bytes]:
    """The image in two halves, `pause` seconds apart: a request still in flight.
    `sent` (a threading.Semaphore) is released once the first half has gone out."""
    yield image[: len(image) // 2]
    if sent is not None:  # the client asks for the next chunk once the first is written
        sent.release()
    time.sleep(pause)
    yield image[len(image) // 2 :]


def test_sigterm_finishes_the_requests_in_flight(exported_run):
    from concurrent.futures import ThreadPoolExecutor

    import httpx2 as httpx

    tflite = exported_run.path / "exports" / "model_int8.tflite"
    image = colour_png("green")

    def one(_: int) -> int:
        return httpx.post(
            f"{server.url}/v1/predict",
            content=slow_body(image, 1.5, sent),
            headers={**PNG, "content-length": str(len(image))},
            timeout=20,
        ).status_code

    sent = threading.Semaphore(0)
    server = Server(["--model", str(tflite), "--workers", "2"])
    try:
        server.wait_ready()
        with ThreadPoolExecutor(6) as pool:
            answers = [pool.submit(one, i) for i in range(6)]
            # every request has sent its first half and waits (a fixed sleep was too short
            # on a loaded CI machine: the last request arrived after SIGTERM, and got 503)
            for _ in range(6):
                assert sent.acquire(timeout=20)
            server.process.send_signal(signal.SIGTERM)
            statuses = [answer.result(timeout=30) for answer in answers]
        assert statuses == [200] * 6
        assert server.process.wait(timeout=20) == 0
    finally:
        server.stop()
    with pytest.raises(httpx.HTTPError):  # and then it is gone
        httpx.get(f"{server.url}/healthz", timeout=2)


# -- slow: a real Prometheus scrapes a running server ----------------------------------------

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def post_colours(url: str, count: int) -> None:
    import httpx2 as httpx

    for i in range(count):
        httpx.post(
            f"{url}/v1/predict",
            content=colour_png(COLOUR_CLASSES[i % 3], seed=i),
            headers=PNG,
            timeout=10,
        ).raise_for_status()


@contextmanager
def prometheus_scraping(target_port: int) -> Iterator[str]:
    """A Prometheus scraping 127.0.0.1:target_port every second; yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: kerascls-serve\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        )
        prom = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp}/data",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            prom.terminate()
            prom.wait(timeout=20)


def query(prom: str, expr: str) -> dict:
    import httpx2 as httpx

    return httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5).json()


@pytest.mark.slow
@pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="apt-get install -y prometheus")
def test_prometheus_reads_the_latency_histogram(exported_run):
    import httpx2 as httpx

    with (
        running_server(["--run", str(exported_run.path)]) as server,
        prometheus_scraping(server.port) as prom,
    ):
        post_colours(server.url, 20)
        predict_buckets = 'sum by (le) (kerascls_request_seconds_bucket{route="/v1/predict"})'
        deadline, buckets = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            try:
                result = query(prom, predict_buckets)["data"]["result"]
                buckets = {r["metric"]["le"]: float(r["value"][1]) for r in result}
            except (httpx.HTTPError, KeyError, ValueError):
                buckets = {}
            if buckets.get("+Inf", 0) >= 20:
                break
            time.sleep(0.5)
        assert buckets.get("+Inf") == 20, buckets
        assert buckets["0.05"] >= 1  # some requests answered within 50 ms
        p99 = query(prom, f"histogram_quantile(0.99, {predict_buckets})")["data"]["result"]
        assert 0 < float(p99[0]["value"][1]) < 10
        # every query of the Grafana dashboard is valid PromQL to this Prometheus, and
        # most have data once rates have a few scrapes to work on
        post_colours(server.url, 10)
        time.sleep(3)
        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        answered = 0
        for expr in exprs:
            answer = query(prom, expr.replace("$__rate_interval", "1m"))
            assert answer["status"] == "success", (expr, answer)
            answered += bool(answer["data"]["result"])
        assert answered >= len(exprs) // 2  # most have data after 20 requests
