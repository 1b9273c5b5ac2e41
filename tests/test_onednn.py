"""`import kerascls` turns TensorFlow's oneDNN kernels on, and a user's own setting wins."""

import os
import platform
import subprocess
import sys

import pytest

# The pip wheel's oneDNN switch is an x86 feature; other builds decide for themselves.
pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 only")

PROBE = (
    "import kerascls, os\n"
    "from kerascls.runs import onednn_enabled\n"
    "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], onednn_enabled())\n"
)


def probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    clean["TF_CPP_MIN_LOG_LEVEL"] = "3"
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("env", "expected"), [({}, "1 True"), ({"TF_ENABLE_ONEDNN_OPTS": "0"}, "0 False")]
)
def test_onednn_switch(env, expected):
    assert probe(**env) == expected


def test_run_json_records_onednn():
    from kerascls.runs import package_versions

    # conftest imported kerascls before TensorFlow, as every command does
    assert package_versions()["tensorflow_onednn"] == "on"
