"""The table kerascls-export prints after exporting: one row per file, with its checks."""

from __future__ import annotations

from typing import Any


def format_size(size: int) -> str:
    """Bytes as a short human figure: 1.1 MB, 305 KB."""
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}" if size < 100 * scale else f"{size // scale} {unit}"
    return f"{size} B"


def manifest_rows(manifest: Any) -> list[list[str]]:
    """Rows of the table: format, precision, file, size, max|diff|, agreement, accuracy, status."""
    rows = [
        ["format", "precision", "file", "size", "max|diff|", "top-1 agree", "accuracy", "status"]
    ]
    rows.append(
        ["keras", "float32", "best.keras", "", "", "", f"{manifest.keras['accuracy']:.4f}", ""]
    )
    for entry in manifest.entries:
        if entry["status"] == "error":
            rows.append([entry["format"], entry["precision"], "", "", "", "", "", "error"])
            continue
        checks = entry["checks"]
        rows.append(
            [
                entry["format"],
                entry["precision"],
                entry["path"],
                format_size(entry["size_bytes"]),
                f"{checks['max_abs_diff']:.1e}",
                f"{checks['top1_agreement']:.4f}",
                f"{checks['accuracy']:.4f}",
                entry["status"],
            ]
        )
    return rows


def print_manifest(manifest: Any) -> None:
    """Print the table, then one line per failure or error saying why."""
    rows = manifest_rows(manifest)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    said: set[tuple[str, str]] = set()
    for entry in manifest.entries:
        reason = entry.get("reason") or entry.get("checks", {}).get("reason")
        if reason and (entry["format"], reason) not in said:  # once per format and reason
            said.add((entry["format"], reason))
            print(f"{entry['format']} {entry['precision']}: {reason}")
    print(f"manifest: {manifest.folder / 'manifest.json'}")
