"""Jetson: ship the ONNX file and a script that builds the engine on the device.

A TensorRT engine only runs on the TensorRT version and GPU it was built for, and a
Jetson's JetPack fixes both, so the engine is built there, with the `trtexec` that JetPack
installs. The script asks trtexec which generation it is: TensorRT 10 and older take
precision flags (--fp16, --int8 with the Q/DQ model); TensorRT 11 builds strongly typed
networks, so it is given a float16 ONNX file for FP16.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from kerascls.export.onnx import INPUT_NAME
from kerascls.runs.atomic import atomic_path

MAX_BATCH = 16

SCRIPT = """#!/usr/bin/env bash
# Build a {precision} TensorRT engine from {onnx} on this Jetson (kerascls export).
# Engines are tied to the device's TensorRT version: run this script on the device itself.
#   bash build_engine.sh            -> {engine}
# Then run it with: kerascls-predict image.jpg --model {engine}   (or trtexec --loadEngine)
set -euo pipefail
cd "$(dirname "$0")"
TRTEXEC="${{TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}}"
if [ ! -x "$TRTEXEC" ]; then
  echo "error: trtexec not found; install JetPack's TensorRT or set TRTEXEC=/path/to/trtexec" >&2
  exit 2
fi
SHAPES="--minShapes={name}:1x{h}x{w}x3 --optShapes={name}:1x{h}x{w}x3"
SHAPES="$SHAPES --maxShapes={name}:{max_batch}x{h}x{w}x3"
if "$TRTEXEC" --help 2>&1 | grep -q -- "--fp16"; then
  # TensorRT <= 10: precision comes from builder flags.
  "$TRTEXEC" --onnx={onnx} --saveEngine={engine} $SHAPES {weak_flags}
else
  # TensorRT >= 11: strongly typed; precision comes from the ONNX graph itself.
  "$TRTEXEC" --onnx={strong_onnx} --saveEngine={engine} $SHAPES --stronglyTyped
fi
echo "wrote $(pwd)/{engine}"
"""


def write_jetson_bundle(
    float_onnx: Path, folder: Path, precision: str, input_size, int8_onnx: Path | None = None
) -> tuple[Path, Path]:
    """Write `folder` with the ONNX file(s) and build_engine.sh; return (folder, checked onnx).

    Args:
        float_onnx: the float32 ONNX model.
        folder: the bundle folder to (re)create.
        precision: "float32", "fp16" or "int8" (int8 needs `int8_onnx`, a QDQ model).
        input_size: (height, width).

    Returns:
        The folder, and the ONNX file in it that the device builds from (the one to verify).
    """
    h, w = int(input_size[0]), int(input_size[1])
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        shutil.copyfile(float_onnx, tmp / "model.onnx")
        onnx_name, strong_name, weak_flags = "model.onnx", "model.onnx", ""
        if precision == "fp16":
            from kerascls.export.tensorrt import _float16_onnx

            _float16_onnx(tmp / "model.onnx", tmp / "model_fp16.onnx")
            strong_name, weak_flags = "model_fp16.onnx", "--fp16"
        elif precision == "int8":
            assert int8_onnx is not None
            shutil.copyfile(int8_onnx, tmp / "model_int8.onnx")
            # --fp16 too: layers the Q/DQ nodes leave in float may then run in half.
            onnx_name, strong_name, weak_flags = (
                "model_int8.onnx",
                "model_int8.onnx",
                "--int8 --fp16",
            )
        engine = f"model_{precision}.engine"
        script = tmp / "build_engine.sh"
        script.write_text(
            SCRIPT.format(
                precision=precision,
                onnx=onnx_name,
                strong_onnx=strong_name,
                engine=engine,
                name=INPUT_NAME,
                h=h,
                w=w,
                max_batch=MAX_BATCH,
                weak_flags=weak_flags,
            )
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.chmod(folder, 0o755)
    return folder, folder / strong_name
