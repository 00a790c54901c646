"""The leaderboard page in a real headless Chromium: loads from file:// with no network, sorts by a column,
opens a per-submission drill-down with ground-truth vs prediction thumbnails, and renders a screenshot."""
import base64
import io
import json

import numpy as np
import pytest

from hmworld.benchmark import build_leaderboard, score_submission
from hmworld.benchmark.scoring import ScoreConfig
from tests.benchmark.testlib import Chromium, chromium_binary

pytestmark = pytest.mark.skipif(chromium_binary() is None,
                                reason="needs Debian's chromium (scripts/setup.sh test installs it)")


@pytest.fixture(scope="module")
def site(small_split, subs, tmp_path_factory):
    d = tmp_path_factory.mktemp("site")
    results = d / "results.sqlite"
    for name in ("gt", "noise8", "repeat-last", "mean-context"):
        score_submission(ScoreConfig(subs[name], small_split, results, metrics=["psnr", "ssim"]))
    # a partial submission too: it is listed after the complete ones, unranked
    score_submission(ScoreConfig(subs["noise32"], small_split, results, metrics=["psnr", "ssim"], limit=1))
    return build_leaderboard(results, d / "out")


def test_page_in_headless_chromium(site, tmp_path):
    page = site.page
    order = [s.display for s in site.groups[0].rows]
    ssim = {s.display: s.values["ssim"] for s in site.groups[0].rows}
    assert order[:2] == ["gt-copy", "noise-8"] and order[-1] == "noise-32"
    browser = Chromium(tmp_path / "profile")
    try:
        browser.send("Network.enable")
        browser.send("Runtime.enable")
        browser.send("Page.enable")
        browser.send("Page.navigate", url=page.resolve().as_uri())
        browser.wait_for("document.readyState === 'complete'")
        rows = "Array.from(document.querySelectorAll('#board-0 tbody tr')).map(r => r.cells[1].textContent)"
        assert browser.eval(rows) == order
        assert browser.eval("document.querySelectorAll('#reported-table tbody tr').length") == 5
        assert browser.eval("document.querySelectorAll('#group-0 .chart svg rect').length") >= 2 * len(order)

        # sort by SSIM: first click = better first (descending), second click reverses
        browser.click("#board-0 th[data-col='ssim']")
        want = sorted(order, key=lambda m: -ssim[m])
        assert browser.eval(rows) == want
        assert browser.eval("document.querySelector(\"#board-0 th[data-col='ssim']\").getAttribute('aria-sort')") == "descending"
        assert want[::-1] != order       # the second click below really reorders the rows (whatever the data)
        browser.click("#board-0 th[data-col='ssim']")
        assert browser.eval(rows) == want[::-1]

        # drill-down of the ground-truth copy: per-clip rows with both thumbnails of each re-entry frame
        gt_panel = browser.eval("Array.from(document.querySelectorAll('#board-0 button.drill'))"
                                ".find(b => b.textContent === 'gt-copy').getAttribute('aria-controls')")
        assert browser.eval(f"document.getElementById('{gt_panel}').hidden") is True
        browser.click(f"#board-0 button.drill[aria-controls='{gt_panel}']")
        assert browser.eval(f"document.getElementById('{gt_panel}').hidden") is False
        assert browser.eval(f"document.querySelector('[aria-controls={json.dumps(gt_panel)}]').textContent") == "gt-copy"
        assert browser.eval(f"document.querySelectorAll('#{gt_panel} tbody tr').length") == 3
        n_img = browser.wait_for(f"(function(){{var im=document.querySelectorAll('#{gt_panel} img');"
                                 f"return im.length && Array.from(im).every(i => i.complete && i.naturalWidth > 0)"
                                 f" ? im.length : 0;}})()")
        assert n_img >= 6 and n_img % 2 == 0
        alts = browser.eval(f"Array.from(document.querySelectorAll('#{gt_panel} img')).map(i => i.alt)")
        assert sum(a.startswith("ground truth") for a in alts) == sum(a.startswith("prediction") for a in alts)
        # only one drill-down open per table
        assert browser.eval("document.querySelectorAll('#group-0 .panel:not([hidden])').length") == 1

        shot = browser.send("Page.captureScreenshot", format="png")
        png = base64.b64decode(shot["data"])
        (tmp_path / "leaderboard.png").write_bytes(png)
        from PIL import Image

        img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert img.shape[1] == 1280 and img.shape[0] >= 600
        assert img.std() > 10 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50   # a page was drawn, not a blank

        urls = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
        assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls
        errors = [e for e in browser.events if e.get("method") in ("Runtime.exceptionThrown", "Network.loadingFailed")]
        assert errors == []
    finally:
        browser.close()
