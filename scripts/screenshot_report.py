"""docs/report.png: the data-health report as headless Chromium draws it, 1400 pixels wide.

    make demo && .venv/bin/advertisex report && .venv/bin/python scripts/screenshot_report.py

Opens the report at ``report.path`` (or ``--report``) with the Chromium helper the browser tests
use, waits until every chart is drawn, and saves the page down to the end of the section
``--through`` (default ``bidding``; ``all``: the whole page), so the image stays a reasonable size.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from advertisex.config import load_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "stack"))
import chromium  # noqa: E402 - the browser tests' helper, from its folder

DRAWN_JS = ("document.readyState === 'complete' && typeof Plotly !== 'undefined' && "
            "Array.from(document.querySelectorAll('.plotly-graph-div')).every(gd => gd._fullLayout)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, help="the report's HTML (default: report.path of the configuration)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--through", default="bidding", help="the id of the last section shown, or all")
    args = parser.parse_args(argv)
    page = args.report or Path(load_config().report.path)
    if not page.is_file():
        print(f"screenshot_report: no report at {page}: run `advertisex report` first", file=sys.stderr)
        return 2
    exe = chromium.binary()
    if exe is None:
        print("screenshot_report: no chromium on PATH (make setup installs it)", file=sys.stderr)
        return 2
    with chromium.page(exe) as tab:
        tab.navigate(page.resolve().as_uri())
        if not tab.wait_for(DRAWN_JS, 60):
            print("screenshot_report: the charts were not drawn within 60 s", file=sys.stderr)
            return 1
        bottom = tab.evaluate("document.body.scrollHeight" if args.through == "all" else
                              f"document.getElementById({args.through!r}).getBoundingClientRect().bottom + 16")
        shot = tab.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": 1400, "height": int(bottom), "scale": 1})
    args.out.write_bytes(base64.b64decode(shot["data"]))
    print(f"{args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
