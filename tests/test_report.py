"""kerascls-report: the HTML page of a run, the comparison of runs, and their failure modes.

Every test works on a copy of the shared `tiny_run` (the report writes report.html and
predictions.npz into its run folder).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import COLOUR_CLASSES, copy_run

from kerascls.cli.report import main

REPO = Path(__file__).resolve().parents[1]
SECTIONS = {
    "recipe",
    "data",
    "metrics",
    "curves",
    "confusion",
    "errors",
    "calibration",
    "exports",
    "versions",
}


class _Page(HTMLParser):
    """Collects ids, <img> sources, notes and every attribute value; checks nesting."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.attributes: list[str] = []
        self.open: list[str] = []
        self.in_note = False
        self.notes: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attributes += [v or "" for v in attrs.values()]
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag not in self.VOID:
            self.open.append(tag)
        if attrs.get("class") == "note":
            self.in_note = True
            self.notes.append("")

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()
        if tag == "p":
            self.in_note = False

    def handle_data(self, data):
        self.text.append(data)
        if self.in_note:
            self.notes[-1] += data


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.open == [], f"unclosed tags: {page.open}"
    return page


def assert_self_contained(path: Path, page: _Page) -> None:
    assert page.images, "no images"
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert not re.search(r"https?://", path.read_text(encoding="utf-8"))


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    return copy_run(tiny_run, tmp_path)


def test_report_of_a_run(run_copy, capsys):
    assert main([str(run_copy.path)]) == 0
    path = run_copy.path / "report.html"
    assert f"wrote {path}" in capsys.readouterr().out
    page = parse(path)
    assert page.ids >= SECTIONS
    assert {"per-class"} <= page.ids
    assert_self_contained(path, page)
    text = "".join(page.text)
    accuracy = json.loads((run_copy.path / "report.json").read_text())["accuracy"]
    # curves, confusion matrices, calibration, and the mistakes when there are any
    assert len(page.images) == 3 + (accuracy < 1.0)
    assert accuracy < 1.0 or "No mistakes on the 36 validation images." in text
    assert f"{accuracy:.4f}" in text
    assert all(name in text for name in COLOUR_CLASSES)
    # no exports in the tiny run: a note, not a traceback
    assert any("no exports yet" in n for n in page.notes)
    assert (run_copy.path / "predictions.npz").is_file()  # kerascls.viz's cache


def test_missing_pieces_become_notes(run_copy, tmp_path):
    (run_copy.path / "history.csv").unlink()
    info = run_copy.info
    info["dataset"]["root"] = str(tmp_path / "gone")
    info["dataset"]["layout"] = {"train": str(tmp_path / "gone" / "train")}
    run_copy.update(dataset=info["dataset"])
    assert main([str(run_copy.path), "--out", str(tmp_path / "r.html")]) == 0
    page = parse(tmp_path / "r.html")
    assert page.ids >= SECTIONS
    notes = " ".join(page.notes)
    assert "history.csv" in notes
    assert "is not there any more" in notes
    assert len(page.images) == 1  # the confusion matrices (report.json); no curves, no data


def test_comparison_lists_the_recipe_difference(tiny_run, tmp_path):
    first = copy_run(tiny_run, tmp_path / "a")
    second = copy_run(tiny_run, tmp_path / "b")
    recipe = dict(second.info["recipe"], label_smoothing=0.2)
    second.update(recipe=recipe)
    out = tmp_path / "comparison.html"
    assert main([str(first.path), str(second.path), "--out", str(out)]) == 0
    page = parse(out)
    assert {"runs", "runs-table", "curves", "recipe-differences", "recipe-diff"} <= page.ids
    assert_self_contained(out, page)
    text = "".join(page.text)
    assert "label_smoothing" in text and "0.2" in text
    assert "batch_size" not in text  # the same in both
    assert not (first.path / "report.html").exists()
    # both copies trained on the colour folder: the page says they saw the same data
    combined = first.info["dataset"]["fingerprint"]["combined"]
    assert combined[:12] in text
    assert any("saw the same data" in n for n in page.notes), page.notes


def test_comparison_says_when_runs_saw_different_data(tiny_run, tmp_path):
    first = copy_run(tiny_run, tmp_path / "a")
    second = copy_run(tiny_run, tmp_path / "b")
    third = copy_run(tiny_run, tmp_path / "c")
    dataset = json.loads(json.dumps(second.info["dataset"]))
    dataset["fingerprint"]["combined"] = "f" * 64  # as if a file had changed
    second.update(dataset=dataset)
    older = dict(third.info["dataset"])
    del older["fingerprint"]  # a run made before fingerprints
    third.update(dataset=older)
    out = tmp_path / "comparison.html"
    assert main([str(p.path) for p in (first, second, third)] + ["--out", str(out)]) == 0
    notes = " ".join(parse(out).notes)
    assert "did not see the same data" in notes and "ffffffffffff: b/logs/" in notes
    assert "no data fingerprint recorded" in notes and "c/logs/" in notes


def _fake_export(run) -> None:
    """An INT8 entry in exports/manifest.json and its kerascls-bench row, as those commands
    write them (the file itself is not needed by the report)."""
    exports = run.path / "exports"
    exports.mkdir()
    entry = {
        "format": "tflite",
        "precision": "int8",
        "path": "exports/model_int8.tflite",
        "size_bytes": 123456,
        "checks": {"accuracy": 0.8765, "top1_agreement": 0.9912, "max_abs_diff": 0.01},
        "status": "passed",
    }
    manifest = {"keras": {"accuracy": 0.9, "images": 36}, "exports": [entry]}
    (exports / "manifest.json").write_text(json.dumps(manifest))
    (exports / "benchmark.csv").write_text(
        "model,format,precision,size_bytes,latency_p50_ms,latency_p95_ms,throughput_ips,"
        "accuracy,agreement,images,path\n"
        f"x,tflite,int8,123456,0.4321,0.5,1000,0.8765,0.99,36,{exports / 'model_int8.tflite'}\n"
    )


def test_exports_table_with_benchmark(run_copy, tmp_path):
    _fake_export(run_copy)
    out = tmp_path / "r.html"
    assert main([str(run_copy.path), "--out", str(out)]) == 0
    page = parse(out)
    assert "exports-table" in page.ids
    text = "".join(page.text)
    for figure in ("120 KB", "0.8765", "0.9912", "0.43 ms", "passed"):
        assert figure in text
    assert not any("no exports" in n or "not benchmarked" in n for n in page.notes)


def test_comparison_row_figures_and_default_out(tiny_run, tmp_path, monkeypatch):
    first = copy_run(tiny_run, tmp_path / "a")
    second = copy_run(tiny_run, tmp_path / "b")
    _fake_export(second)
    monkeypatch.chdir(tmp_path)
    assert main([str(first.path), str(second.path)]) == 0
    page = parse(tmp_path / "comparison.html")
    text = "".join(page.text)
    assert "0.8765" in text and "120 KB" in text  # INT8 accuracy and size
    # both copies are called "tiny": their labels say which is which
    assert "a/logs/" in text and "b/logs/" in text
    assert any("same recipe" in n for n in page.notes)


def test_default_is_the_newest_run(run_copy, capsys):
    assert main(["--logdir", str(run_copy.path.parents[1])]) == 0
    assert (run_copy.path / "report.html").is_file()


def test_bad_run_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "no-such-run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "not a run folder" in err


def test_unwritable_out_is_one_line(run_copy, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([str(run_copy.path), str(run_copy.path), "--out", str(blocker / "c.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write") and "\n" not in err


def test_the_console_script_help_and_error(tmp_path):
    code = (
        "import sys\nfrom kerascls.cli.report import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'matplotlib' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "comparison.html" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "kerascls.cli.report", str(tmp_path / "gone")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'gone'} is not a run folder (no run.json in it)"
    ]


def test_html_escapes_what_it_is_given():
    from kerascls.report.html import page, table

    html = page("<run>", "a & b", [("x", "X", table(["<h>"], [["<script>"]]))])
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp;" in html


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_report_renders_in_a_browser(run_copy, tmp_path):
    main([str(run_copy.path)])
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--screenshot={shot}",
            "--window-size=1200,3000",
            (run_copy.path / "report.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (3000, 1200)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, tables and plots
