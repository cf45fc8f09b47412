"""The report in a real browser: headless Chromium (Debian's ``chromium``) renders a day's report;
the screenshot is not blank, the at-a-glance section fits a 1280x800 window and the rendered text
holds every vendor's batches with their reasons, Krippendorff's alpha and cost per correct label.

Without ``chromium`` this skips, except under ``CI=true`` where it fails (``.ci/run`` installs it).
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # every test drives a real headless Chromium

WIDTH, HEIGHT = 1280, 800
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

#: Appended to a copy of the page (the report itself has no script): writes what the browser laid
#: out and rendered into the DOM, which ``--dump-dom`` then prints.
PROBE = """<script>
(function () {
  function box(id) {
    var e = document.getElementById(id);
    if (!e) return null;
    var r = e.getBoundingClientRect();
    return {top: r.top + window.scrollY, bottom: r.bottom + window.scrollY, left: r.left, right: r.right,
            text: e.innerText};
  }
  var out = {width: window.innerWidth, scroll_width: document.documentElement.scrollWidth, boxes: {}};
  ["glance", "glance-vendors", "agreement", "sla-breaches", "batches", "batch-list", "vendor-scorecard"].forEach(
    function (id) { out.boxes[id] = box(id); });
  var pre = document.createElement("pre");
  pre.id = "labelq-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def _chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if IN_CI:
        pytest.fail("chromium is not installed; .ci/run installs it (`apt-get install -y chromium`)")
    pytest.skip("chromium is not installed (`apt-get install -y chromium`); under CI=true this test fails instead")


def _browse(chromium: str, profile: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run on ``url`` in a fresh profile, nothing fetched from the network."""
    shutil.rmtree(profile, ignore_errors=True)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", *args, url]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert res.returncode == 0, f"{' '.join(cmd)} exited {res.returncode}:\n{res.stderr[-2000:]}"
    return res


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def rendered(request, days, tmp_path_factory) -> dict:
    """The last day's report (a quarantined batch, SLA breaches): its screenshot and laid-out DOM."""
    chromium = _chromium()  # before the pipeline runs, so a skip is quick
    processed = request.getfixturevalue("processed")
    tmp = tmp_path_factory.mktemp("browser")
    page = processed / "reports" / "sentiment" / f"{days[-1]}.html"
    probed = tmp / page.name
    html = page.read_text(encoding="utf-8")
    assert html.count("</body>") == 1
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    png = tmp / "report.png"
    _browse(chromium, tmp / "profile", page.as_uri(), f"--screenshot={png}")
    assert png.is_file() and png.stat().st_size > 1000, f"no screenshot written to {png}"
    dom = _browse(chromium, tmp / "profile", probed.as_uri(), "--dump-dom").stdout
    found = re.search(r'<pre id="labelq-probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: " + dom[-500:]
    return {"png": png, "layout": json.loads(htmllib.unescape(found.group(1))), "day": days[-1], "root": processed}


def test_screenshot_is_not_blank(rendered):
    from matplotlib.image import imread

    pixels = imread(rendered["png"])  # floats in [0, 1], HEIGHT x WIDTH x (3 or 4)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    rgb = (pixels[..., :3] * 255).round().astype(np.uint8)
    colours = np.unique(rgb.reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"only {len(colours)} distinct colours: a blank or failed render"
    ink = (rgb.min(axis=2) < 128).mean()  # dark pixels: text and rules
    assert 0.01 < ink < 0.5, f"{ink:.1%} of the screenshot is dark"
    # the glance table is drawn inside the window: text in its box
    box = rendered["layout"]["boxes"]["glance-vendors"]
    region = rgb[int(box["top"]):int(min(box["bottom"], HEIGHT)), int(box["left"]):int(box["right"])]
    assert region.size and (region.min(axis=2) < 128).mean() > 0.02


def test_glance_fits_a_1280x800_window_above_the_rest(rendered):
    lay = rendered["layout"]
    assert lay["width"] == WIDTH
    assert lay["scroll_width"] <= WIDTH, "the page scrolls sideways"
    boxes = lay["boxes"]
    glance = boxes["glance"]
    assert glance is not None and 0 <= glance["top"] < glance["bottom"] <= HEIGHT, glance
    for inner in ("glance-vendors", "agreement", "sla-breaches"):
        b = boxes[inner]
        assert glance["top"] <= b["top"] and b["bottom"] <= glance["bottom"], (inner, b, glance)
    assert glance["bottom"] <= boxes["batches"]["top"] < boxes["vendor-scorecard"]["top"]


def test_rendered_text_has_alpha_cost_and_every_batch_with_its_reason(rendered, config):
    day, processed = rendered["day"], rendered["root"]
    boxes = rendered["layout"]["boxes"]
    glance, batches = _words(boxes["glance"]["text"]), _words(boxes["batches"]["text"])
    metrics = processed / "metrics" / "sentiment" / f"date={day}"

    agreement = pd.read_parquet(metrics / "agreement.parquet")
    alpha = agreement[(agreement["scope"] == "overall") & (agreement["metric"] == "krippendorff_alpha")].iloc[0]
    assert "Krippendorff's α" in glance
    assert f"{alpha['value']:.3f} [{alpha['ci_low']:.3f}, {alpha['ci_high']:.3f}]" in glance
    for name in ("percent agreement", "Fleiss' κ", "Scott's π", "Gwet's AC1"):
        assert name in glance

    card = pd.read_parquet(processed / "scorecards" / "sentiment" / f"date={day}" / "scorecard_vendor.parquet")
    assert "cost / correct label" in glance and "batches accepted" in glance and "batches quarantined" in glance
    for v in card.itertuples():
        assert v.vendor in glance
        assert f"{v.cost_per_correct_label:.4f}" in glance
        assert f"{v.gold_accuracy:.3f} [{v.gold_ci_low:.3f}, {v.gold_ci_high:.3f}]" in glance

    staged = processed / "staged" / "sentiment" / f"date={day}"
    quarantined = 0
    for vendor in sorted(config.vendors_for("sentiment")):
        report = json.loads((staged / f"vendor={vendor}" / "_validate.json").read_text())
        for b in report["batches"]:
            assert b["batch_id"] in batches
            if b["detail"]:
                assert _words(b["detail"]) in batches, f"{b['file']}: reason not shown whole"
        for reason in (processed / "quarantine" / f"date={day}" / f"vendor={vendor}").glob("*.reason.json"):
            r = json.loads(reason.read_text())
            assert _words(r["detail"]) in batches
            assert reason.relative_to(processed).as_posix() in batches
            quarantined += 1
    assert quarantined >= 1 and "quarantined" in batches
