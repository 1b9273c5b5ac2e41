"""kerascls-report: one self-contained HTML page about a run, or a comparison of runs.

    write_report(run)            <run>/report.html: recipe, data, metrics, curves,
                                 confusion matrices, confident mistakes, calibration,
                                 exports, versions
    write_comparison(runs, out)  a table of the runs, their validation curves overlaid and
                                 the recipe fields that differ (default ./comparison.html)

The pages embed their images (base64 PNG data URIs) and style: no network, no files beside
them. Plots come from kerascls.viz; missing pieces become a note in the page.
"""

from kerascls.report.compare import build_comparison, recipe_differences, write_comparison
from kerascls.report.sections import REPORT_FILE, build_report, write_report

__all__ = [
    "REPORT_FILE",
    "build_comparison",
    "build_report",
    "recipe_differences",
    "write_comparison",
    "write_report",
]
