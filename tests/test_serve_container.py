"""The serving container's requirements (examples/serve/requirements.txt), installed as its
Dockerfile installs them, in a fresh virtual environment: no TensorFlow, and the server
still answers. Where a Docker engine runs, `docker build -f examples/serve/Dockerfile .`
does the same; this machine has none, so the test builds the environment the image holds.

Slow (a pip install from the package index, about 10-60 s): `python -m pytest -m slow`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import colour_png

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "examples" / "serve" / "requirements.txt"


def test_the_requirements_name_no_training_library():
    names = {
        line.split("==")[0].strip().lower()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"ai-edge-litert", "onnxruntime", "fastapi", "prometheus-client"} <= names
    assert not names & {"tensorflow", "keras", "tf-keras", "scikit-learn", "matplotlib"}


@pytest.mark.slow
def test_the_container_environment_serves_an_int8_tflite_file(exported_run, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True, timeout=600)
    subprocess.run([*pip, "--no-deps", str(REPO)], check=True, timeout=300)
    model = exported_run.path / "exports" / "model_int8.tflite"
    port = 8791
    server = subprocess.Popen(
        [str(venv / "bin" / "kerascls-serve"), "--model", str(model), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz").status == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "not ready in 30 s"
                time.sleep(0.1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/predict",
            data=colour_png("green"),
            headers={"content-type": "image/png"},
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
        assert answer["predictions"][0]["top_k"][0]["class"] == "green"
        maps = Path(f"/proc/{server.pid}/maps").read_text()
        assert "libtensorflow" not in maps
    finally:
        server.terminate()
        server.wait(timeout=30)
