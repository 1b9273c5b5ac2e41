"""Serving a .tflite or .onnx file never loads TensorFlow: the server process holds the
runtime, the image decoder and the web framework, not a 1 GB library it does not use.

Checked in a fresh process (this one imported TensorFlow long ago): the app starts, answers
a prediction right, and `tensorflow` is still not among the process's modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

SERVE_ONE = textwrap.dedent(
    """
    import json, resource, sys
    sys.path.insert(0, {tests!r})
    from helpers import colour_png, serving
    from kerascls.serve.variants import ServedModel

    with serving(ServedModel({path!r})) as client:
        for colour, fmt, mime in (("red", "PNG", "image/png"), ("blue", "JPEG", "image/jpeg")):
            upload = (colour + "." + fmt.lower(), colour_png(colour, fmt=fmt), mime)
            answer = client.post("/v1/predict", files={{"file": upload}})
            assert answer.status_code == 200, answer.text
            print(colour, answer.json()["predictions"][0]["top_k"][0]["class"])
        print(json.dumps({{
            "tensorflow": "tensorflow" in sys.modules,
            "keras": "keras" in sys.modules,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }}))
    """
)


@pytest.mark.parametrize("file", ["model_int8.tflite", "model.onnx"])
def test_serving_a_tflite_or_onnx_file_never_imports_tensorflow(exported_run, file):
    path = exported_run.path / "exports" / file
    script = SERVE_ONE.format(tests=str(TESTS), path=str(path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    *answers, summary = done.stdout.strip().splitlines()
    assert answers == ["red red", "blue blue"]  # the tiny run's colours, through the server
    modules = json.loads(summary)
    assert not modules["tensorflow"] and not modules["keras"], modules
