"""kerascls-serve's app in-process: its handlers through FastAPI's TestClient, the
decoding of uploads, the metrics, micro-batching and the bounded queue, the JSON errors,
A/B and shadow variants.

The models are the session's `exported_run` (tests/shared_fixtures.py): a tiny CNN that learnt
three colour classes, exported to INT8 and float32 TFLite, ONNX and SavedModel by
kerascls-export's code. tests/test_serve_e2e.py runs the real command over real HTTP.
"""

from __future__ import annotations

import io
import json
import re
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import COLOUR_CLASSES, DASHBOARD, PNG, colour_png, serving
from PIL import Image

from kerascls.data.images import ImageTooLargeError, decode_image_bytes, read_image
from kerascls.export.runners import load_runner
from kerascls.serve import ServedModel, ServeSettings, best_export
from kerascls.serve.metrics import ServeMetrics, exported_names
from kerascls.serve.variants import Router

# -- the models and the client ---------------------------------------------------------------


@pytest.fixture(scope="module")
def run(exported_run):
    return exported_run


@pytest.fixture(scope="module")
def int8(run) -> Path:
    return run.path / "exports" / "model_int8.tflite"


@pytest.fixture(scope="module")
def float32(run) -> Path:
    return run.path / "exports" / "model_float32.tflite"


@pytest.fixture(scope="module")
def client(int8):
    with serving(ServedModel(int8)) as client:
        yield client


def metric(client: TestClient, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)$", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match[3])
    return total


class SlowRunner:
    """A real runner whose every call takes `seconds` longer (a busy model, not a mock)."""

    def __init__(self, runner, seconds: float) -> None:
        self._runner, self.seconds, self.calls = runner, seconds, []

    def __getattr__(self, name):
        return getattr(self._runner, name)

    def predict(self, images, batch_size=64):
        time.sleep(self.seconds)
        self.calls.append(len(images))
        return self._runner.predict(images, batch_size=batch_size)


def post_many(client: TestClient, count: int, **kwargs) -> list:
    """`count` requests at once from threads: (status, seconds, headers, body) each."""
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def one(i: int) -> None:
        barrier.wait()
        start = time.perf_counter()
        response = client.post(
            "/v1/predict",
            content=colour_png(COLOUR_CLASSES[i % 3], seed=i),
            headers=PNG,
            **kwargs,
        )
        results[i] = (
            response.status_code,
            time.perf_counter() - start,
            response.headers,
            response.json(),
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


# -- decoding: the server sees training's pixels ----------------------------------------------


def test_decode_image_bytes_gives_read_images_pixels(tmp_path):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)
    files = {
        "rgb.png": Image.fromarray(rgb),
        "grey.png": Image.fromarray(rgb[..., 0]),
        "rgba.png": Image.fromarray(np.dstack([rgb, rgb[..., :1]])),
        "photo.jpg": Image.fromarray(rgb),
        "palette.bmp": Image.fromarray(rgb).convert("P"),  # Pillow decodes these
        "anim.gif": Image.fromarray(rgb).convert("P"),
    }
    for name, image in files.items():
        image.save(tmp_path / name)
        data = (tmp_path / name).read_bytes()
        for size in (None, (16, 16), (30, 20)):
            expected = read_image(tmp_path / name, size)
            np.testing.assert_array_equal(decode_image_bytes(data, size), expected, name)


def test_read_image_keeps_the_pipelines_pixels(tmp_path):
    import tensorflow as tf

    from kerascls.data.decode import decode_image

    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 24, 3), np.uint8)).save(path)
    pipeline = decode_image(tf.constant(str(path)), (16, 16)).numpy()
    np.testing.assert_array_equal(read_image(path, (16, 16)), pipeline)


def test_decode_image_bytes_refuses_a_bomb_before_decoding():
    with pytest.raises(ImageTooLargeError, match="40x24 pixels"):
        decode_image_bytes(colour_png("red"), max_pixels=100)
    assert decode_image_bytes(colour_png("red"), max_pixels=960).shape == (24, 40, 3)


# -- the API ---------------------------------------------------------------------------------


def test_predict_answers_with_the_runners_probabilities(client, int8, run, tmp_path):
    images = [colour_png(c, seed=i) for i, c in enumerate(COLOUR_CLASSES)]
    files = [
        ("image", (f"{c}.png", data, "image/png"))
        for c, data in zip(COLOUR_CLASSES, images, strict=False)
    ]
    response = client.post("/v1/predict", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["variant"] == "live"
    assert body["model"]["name"] == "cnn" and body["model"]["version"].startswith(
        f"{run.path.name}@"
    )
    assert (body["format"], body["precision"]) == ("tflite", "int8")
    runner = load_runner(int8)
    for i, (colour, data) in enumerate(zip(COLOUR_CLASSES, images, strict=True)):
        (tmp_path / f"{i}.png").write_bytes(data)
        expected = runner.predict(read_image(tmp_path / f"{i}.png", runner.input_size)[None])[0]
        top = body["predictions"][i]["top_k"]
        assert body["predictions"][i]["file"] == f"{colour}.png"
        assert next(t["class"] for t in top) == colour
        assert top[0]["class"] == runner.class_names[int(expected.argmax())]
        assert abs(top[0]["probability"] - float(expected.max())) < 1e-5
        assert len(top) == 3

    raw = client.post(
        "/v1/predict?top_k=1", content=images[0], headers={"content-type": "image/png"}
    )
    assert raw.status_code == 200
    assert [t["class"] for t in raw.json()["predictions"][0]["top_k"]] == [COLOUR_CLASSES[0]]


def test_models_health_ready_and_metrics(client, int8, run):
    body = client.get("/v1/models").json()
    (model,) = body["models"]
    assert model["variant"] == "live" and model["ready"]
    assert model["format"] == "tflite" and model["precision"] == "int8"
    assert model["class_names"] == run.class_names == list(COLOUR_CLASSES)
    assert model["input_size"] == [16, 16]
    assert model["manifest"]["status"] == "passed"
    assert "top1_agreement" in model["manifest"]["checks"]
    assert model["manifest"]["size_bytes"] == int8.stat().st_size
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True

    client.post("/v1/predict", content=colour_png("green"), headers={"content-type": "image/png"})
    text = client.get("/metrics").text
    assert "# TYPE kerascls_request_seconds histogram" in text
    assert metric(client, "kerascls_requests_total", route="/v1/predict", status="200") >= 1
    assert metric(client, "kerascls_predictions_total", variant="live", class_name="green") >= 1
    assert metric(client, "kerascls_model_seconds_count", variant="live") >= 1
    assert metric(client, "kerascls_process_resident_memory_bytes", variant="all") > 1e7
    assert metric(client, "kerascls_model_ready", variant="live") == 1
    assert metric(client, "kerascls_model_info", variant="live", precision="int8") == 1
    for line in text.splitlines():  # every kerascls_* sample names its variant
        if line.startswith("kerascls_"):
            assert 'variant="' in line, line


def truncated_png() -> bytes:
    data = colour_png("red", size=(64, 64))
    return data[: len(data) // 2]


def truncated_jpeg() -> bytes:
    data = colour_png("red", size=(128, 128), fmt="JPEG")
    return data[: len(data) // 2]


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    data = bytearray(colour_png("red", size=(4, 4)))
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def big_bomb() -> bytes:
    """A real 8000 x 8000 1-bit PNG: 64 M pixels in a few kB."""
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, "PNG")
    return buffer.getvalue()


BAD_INPUTS = {
    "not an image": (dict(content=b"hello, world", headers=PNG), 400, "invalid_image"),
    "truncated png": (dict(content=truncated_png(), headers=PNG), 400, "invalid_image"),
    "truncated jpeg": (
        dict(content=truncated_jpeg(), headers={"content-type": "image/jpeg"}),
        400,
        "invalid_image",
    ),
    "empty body": (dict(content=b"", headers=PNG), 400, "empty_body"),
    "empty file": (dict(files={"image": ("a.png", b"", "image/png")}), 400, "invalid_image"),
    "no file": (
        dict(
            content=b'--x\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--x--\r\n',
            headers={"content-type": "multipart/form-data; boundary=x"},
        ),
        400,
        "no_images",
    ),
    "form fields": (dict(data={"note": "no image"}), 415, "unsupported_media_type"),
    "json": (
        dict(content=b'{"image": 1}', headers={"content-type": "application/json"}),
        415,
        "unsupported_media_type",
    ),
    "no content type": (dict(content=colour_png("red")), 415, "unsupported_media_type"),
    "multipart without boundary": (
        dict(content=b"--x\r\n", headers={"content-type": "multipart/form-data"}),
        400,
        "bad_multipart",
    ),
    "header bomb": (dict(content=png_declaring(30000, 30000), headers=PNG), 413, "image_too_large"),
    "real bomb": (dict(content=big_bomb(), headers=PNG), 413, "image_too_large"),
    "too many files": (
        dict(files=[("image", (f"{i}.png", colour_png("red"), "image/png")) for i in range(17)]),
        413,
        "too_many_files",
    ),
    "oversized body": (dict(content=b"\0" * (10 * 2**20 + 1), headers=PNG), 413, "body_too_large"),
    "oversized chunked body": (
        dict(content=iter([b"\0" * 2**20] * 11), headers=PNG),
        413,
        "body_too_large",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_4xx_json_error_and_the_server_keeps_serving(client, case):
    kwargs, status, kind = BAD_INPUTS[case]
    response = client.post("/v1/predict", **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["kind"] == kind and error["message"]
    good = client.post("/v1/predict", content=colour_png("blue"), headers=PNG)
    assert good.status_code == 200
    assert metric(client, "kerascls_errors_total", kind=kind) >= 1
    assert metric(client, "kerascls_requests_total", status="500") == 0


def test_wrong_routes_and_methods_are_json_errors(client):
    assert client.get("/v1/predict").json()["error"]["kind"] == "method_not_allowed"
    bad_k = client.post("/v1/predict?top_k=many", content=colour_png("red"), headers=PNG)
    assert bad_k.status_code == 400 and bad_k.json()["error"]["kind"] == "bad_request"
    missing = client.get("/no/such/route")
    assert missing.status_code == 404 and missing.json()["error"]["kind"] == "not_found"
    assert metric(client, "kerascls_requests_total", route="other", status="404") >= 1


@pytest.mark.parametrize(
    "name", ["best.keras", "exports/model.onnx", "exports/saved_model", "exports/model_int8.tflite"]
)
def test_every_format_is_served(run, name):
    path = run.path / name
    with serving(ServedModel(path)) as client:
        files = [
            ("image", (f"{c}.png", colour_png(c, seed=9), "image/png")) for c in COLOUR_CLASSES
        ]
        body = client.post("/v1/predict", files=files).json()
        assert [p["top_k"][0]["class"] for p in body["predictions"]] == list(COLOUR_CLASSES)
        (model,) = client.get("/v1/models").json()["models"]
        assert model["format"] == {".keras": "keras", ".onnx": "onnx", "": "savedmodel"}.get(
            path.suffix, "tflite"
        )
        assert model["class_names"] == list(COLOUR_CLASSES)
        if name != "best.keras":  # exports are in the manifest, with their checks
            assert model["manifest"]["status"] == "passed"


class TiedRunner:
    """A runner (no model) that gives every class of every image the same probability."""

    format, precision, input_size = "tflite", "float32", (8, 8)
    class_names = ["d", "c", "b", "a"]  # not sorted: the order must come from the index
    num_classes = 4

    def predict(self, images, batch_size=64):
        return np.full((len(images), self.num_classes), 0.25, np.float32)


def test_equal_probabilities_rank_in_class_index_order(tmp_path):
    with serving(ServedModel(tmp_path / "tied.tflite", runner=TiedRunner())) as client:
        response = client.post("/v1/predict?top_k=4", content=colour_png("red"), headers=PNG)
    top = response.json()["predictions"][0]["top_k"]
    assert [(t["index"], t["class"]) for t in top] == [(0, "d"), (1, "c"), (2, "b"), (3, "a")]
    assert {t["probability"] for t in top} == {0.25}


class FailingRunner(TiedRunner):
    """A runner that works for the warm-up, then fails every call (a model that breaks)."""

    def __init__(self) -> None:
        self.failing = False

    def predict(self, images, batch_size=64):
        if self.failing:
            raise RuntimeError("the model broke")
        return super().predict(images, batch_size)


def test_a_failing_model_is_a_500_json_error_and_the_traceback_stays_in_the_log(tmp_path):
    runner = FailingRunner()
    live = ServedModel(tmp_path / "broken.tflite", runner=runner)
    with serving(live, raise_server_exceptions=False) as client:
        runner.failing = True
        response = client.post("/v1/predict", content=colour_png("red"), headers=PNG)
        assert response.status_code == 500
        assert response.json() == {
            "error": {"kind": "internal", "message": "internal server error", "status": 500}
        }
        assert metric(client, "kerascls_errors_total", kind="internal", variant="live") == 1
        assert metric(client, "kerascls_requests_total", status="500", variant="live") == 1
        assert client.get("/healthz").status_code == 200


# -- micro-batching and the bounded queue ----------------------------------------------------


def test_concurrent_requests_share_a_model_call(int8):
    slow = SlowRunner(load_runner(int8), seconds=0.1)
    settings = ServeSettings(max_batch=8, max_wait_ms=50)
    with serving(ServedModel(int8, runner=slow), settings=settings) as client:
        slow.calls.clear()  # the warm-up's
        results = post_many(client, 6)
        assert [r[0] for r in results] == [200] * 6
        calls = metric(client, "kerascls_batch_size_count", variant="live")
        images = metric(client, "kerascls_batch_size_sum", variant="live")
        assert images == 6 and calls < 6, (calls, slow.calls)
        assert max(slow.calls) > 1  # padded to a bucket size: 2, 4 or 8 images in a call


def test_a_full_queue_answers_503_with_retry_after_at_once(int8):
    slow = SlowRunner(load_runner(int8), seconds=0.4)
    settings = ServeSettings(max_batch=1, max_wait_ms=0, max_queue=1, max_in_flight=10)
    with serving(ServedModel(int8, runner=slow), settings=settings) as client:
        results = post_many(client, 5)
        shed = [r for r in results if r[0] == 503]
        served = [r for r in results if r[0] == 200]
        assert len(shed) >= 2 and len(served) >= 1, [r[0] for r in results]
        for _status, seconds, headers, body in shed:
            assert body["error"]["kind"] == "queue_full"
            assert int(headers["retry-after"]) >= 1
            assert seconds < 0.3  # shed at once, not after the 0.4 s model call
        assert metric(client, "kerascls_errors_total", kind="queue_full") == len(shed)
        assert client.get("/healthz").status_code == 200


def test_too_many_requests_in_flight_are_shed_before_their_body_is_read(int8):
    slow = SlowRunner(load_runner(int8), seconds=0.4)
    settings = ServeSettings(max_batch=1, max_wait_ms=0, max_in_flight=1)
    with serving(ServedModel(int8, runner=slow), settings=settings) as client:
        results = post_many(client, 3)
        kinds = sorted(r[3]["error"]["kind"] for r in results if r[0] == 503)
        assert kinds == ["overloaded", "overloaded"], [r[0] for r in results]
        assert sum(r[0] == 200 for r in results) == 1


def test_batching_off_runs_one_call_per_request(int8):
    settings = ServeSettings(max_batch=1, max_wait_ms=0)
    with serving(ServedModel(int8), settings=settings) as client:
        assert all(r[0] == 200 for r in post_many(client, 4))
        assert metric(client, "kerascls_batch_size_count", variant="live") == 4


# -- A/B and shadow --------------------------------------------------------------------------


def test_split_proportions_and_sticky_clients():
    router = Router(split=0.1, has_candidate=True, seed=0)
    ids = [f"client-{i}" for i in range(5000)]
    by_id = [router.assign(i) for i in ids]
    assert abs(by_id.count("candidate") / len(ids) - 0.1) < 0.015
    assert by_id == [router.assign(i) for i in ids]  # sticky: same id, same model
    anonymous = [router.assign(None) for _ in range(5000)]
    assert abs(anonymous.count("candidate") / 5000 - 0.1) < 0.015
    assert Router(split=0.5, has_candidate=False).assign("x") == "live"


def test_candidate_answers_its_share_and_says_so(int8, float32):
    settings = ServeSettings(split=0.5)
    with serving(ServedModel(int8), candidate=ServedModel(float32), settings=settings) as client:
        seen = {}
        for i in range(24):
            client_id = f"user-{i}"
            answers = set()
            for _ in range(2):
                response = client.post(
                    "/v1/predict",
                    content=colour_png("red"),
                    headers={**PNG, "X-Client-Id": client_id},
                )
                body = response.json()
                answers.add((body["variant"], body["precision"]))
            assert len(answers) == 1  # sticky
            seen[client_id] = answers.pop()
        assert {v for v in seen.values()} == {("live", "int8"), ("candidate", "float32")}
        candidates = sum(v[0] == "candidate" for v in seen.values())
        assert metric(client, "kerascls_requests_total", variant="candidate") == 2 * candidates
        models = {m["variant"]: m for m in client.get("/v1/models").json()["models"]}
        assert models["candidate"]["precision"] == "float32"


def test_shadow_sees_a_copy_and_agreement_is_measured(int8, float32, tmp_path):
    images = [colour_png(COLOUR_CLASSES[i % 3], seed=100 + i) for i in range(9)]
    with serving(ServedModel(int8), shadow=ServedModel(float32)) as client:
        for data in images:
            body = client.post("/v1/predict", content=data, headers=PNG).json()
            assert body["variant"] == "live"  # the shadow never answers
        deadline = time.monotonic() + 10
        while metric(client, "kerascls_shadow_comparisons_total") < 9:
            assert time.monotonic() < deadline, "the shadow did not see every image"
            time.sleep(0.05)
        agreements = metric(client, "kerascls_shadow_agreements_total", variant="shadow")
        assert metric(client, "kerascls_model_seconds_count", variant="shadow") >= 1
        assert metric(client, "kerascls_model_seconds_count", variant="live") >= 1
    live, shadow = load_runner(int8), load_runner(float32)
    pixels = np.stack([decode_image_bytes(d, live.input_size) for d in images])
    same = (live.predict(pixels).argmax(1) == shadow.predict(pixels).argmax(1)).sum()
    assert agreements == same


# -- monitoring ------------------------------------------------------------------------------

PROMQL_WORDS = {
    "sum", "rate", "irate", "increase", "histogram_quantile", "by", "without", "max", "min",
    "avg", "count", "scalar", "vector", "topk", "bottomk", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "bool", "offset", "clamp_min", "clamp_max", "abs",
    "le", "delta", "deriv", "sum_over_time", "avg_over_time", "max_over_time", "label_replace",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables
    names = set(re.findall(r"[a-zA-Z_:][\w:]*", expr))
    return {n for n in names if n not in PROMQL_WORDS}


def test_every_dashboard_query_uses_metrics_the_server_exports():
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_names(ServeMetrics())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    used = set()
    for expr in exprs:
        names = promql_metric_names(expr)
        assert names, expr
        assert names <= exported, f"{expr}: {names - exported} not exported"
        used |= names
    for wanted in (
        "kerascls_request_seconds_bucket",
        "kerascls_model_seconds_bucket",
        "kerascls_batch_size_sum",
        "kerascls_process_resident_memory_bytes",
        "kerascls_predictions_total",
        "kerascls_confidence_bucket",
        "kerascls_shadow_agreements_total",
        "kerascls_errors_total",
    ):
        assert wanted in used
    assert promql_metric_names('sum by (le) (rate(x_bucket{a="b"}[5m]))') == {"x_bucket"}


# -- choosing what to serve -------------------------------------------------------------------


def test_best_export_is_the_int8_tflite(run, int8):
    assert best_export(run) == int8


@pytest.mark.parametrize("in_flight, waits", [(1, False), (2, True)])
def test_the_batch_window_waits_only_for_requests_that_may_still_join(in_flight, waits):
    import asyncio

    from kerascls.serve.batcher import MicroBatcher

    async def one_request() -> float:
        batcher = MicroBatcher(
            lambda x: x.sum(axis=(1, 2, 3))[:, None],
            max_wait_ms=400,
            requests_in_flight=lambda: in_flight,
        )
        batcher.start()
        started = time.perf_counter()
        await batcher.predict(np.ones((1, 2, 2, 3)), timeout=5)
        seconds = time.perf_counter() - started
        await batcher.stop()
        return seconds

    seconds = asyncio.run(one_request())
    # alone in the server: answered at once; another request in flight: the window waits
    # for it (bounds far from the 0.4 s window, not a speed test)
    assert (seconds >= 0.39) if waits else (seconds < 0.2), seconds


@pytest.mark.parametrize("drain_s, answered", [(5.0, 6), (0.0, 0)])
def test_stop_drains_the_queue_first_in_a_graceful_shutdown(drain_s, answered):
    import asyncio

    from kerascls.serve.batcher import MicroBatcher, QueueFullError

    def slow(x: np.ndarray) -> np.ndarray:
        time.sleep(0.05)  # the queue is still full when stop is called
        return x.sum(axis=(1, 2, 3))[:, None]

    async def shutdown_with_requests_queued() -> list:
        batcher = MicroBatcher(slow, max_batch=2, max_wait_ms=0)
        batcher.start()
        requests = [
            asyncio.ensure_future(batcher.predict(np.ones((1, 2, 2, 3)) * i, timeout=5))
            for i in range(6)
        ]
        await asyncio.sleep(0.01)  # queued, the first batch running
        await batcher.stop(drain_s=drain_s)
        return await asyncio.gather(*requests, return_exceptions=True)

    results = asyncio.run(shutdown_with_requests_queued())
    done = [r for r in results if not isinstance(r, BaseException)]
    assert len(done) == answered, results
    assert [float(r[0, 0]) for r in done] == [12.0 * i for i in range(answered)]
    if not answered:  # no drain: the waiting requests hear the server is going down
        assert all(isinstance(r, QueueFullError) for r in results), results


def test_multiprocess_metrics_combine_gauges_as_their_spec_says(tmp_path, monkeypatch):
    from kerascls.serve.metrics import METRICS

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    modes = {spec.name: spec.mode for spec in METRICS if spec.kind.__name__ == "Gauge"}
    assert modes["kerascls_in_flight_requests"] == modes["kerascls_queue_depth"] == "livesum"
    assert modes["kerascls_model_ready"] == "livemin"
    single = ServeMetrics(multiprocess=False)
    assert single.exposition is single.registry  # one process: the registry as before
    assert "process_resident_memory_bytes" in exported_names(single)
