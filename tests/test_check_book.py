"""The browser check must catch what a reader would see as broken (runs when Chromium is installed)."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MATHJAX = ROOT / "book" / "_static" / "mathjax"

needs_browser = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver") and importlib.util.find_spec("selenium")),
    reason="Debian's chromium and chromium-driver (and selenium) are not installed",
)

GOOD = """<html><head><script defer src="_static/mathjax/tex-mml-chtml.js"></script></head><body>
<div class="cell"><div class="cell_output"><div class="output text_plain">fine</div>
<img src="ok.png"><script type="application/vnd.jupyter.widget-view+json">{}</script></div></div>
<p><span class="math">\\(x^2\\)</span></p></body></html>"""

STATE = """<script type="application/vnd.jupyter.widget-state+json">{"state": {
"s1": {"model_name": "IntSliderModel", "state": {}},
"p1": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_p2"]}},
"p2": {"model_name": "FloatProgressModel", "state": {}}}}</script>"""

BAD = """<html><body><img src="missing.png">""" + STATE + """
<div class="cell"><div class="cell_output"><div class="output traceback">Traceback (most recent call last)
ValueError: boom</div><script type="application/vnd.jupyter.widget-view+json">{"model_id": "s1"}</script></div></div>
<div class="cell"><div class="cell_output"><p>a progress bar needs no figure</p>
<script type="application/vnd.jupyter.widget-view+json">{"model_id": "p1"}</script></div></div>
<p><span class="math">\\(x^2\\)</span></p></body></html>"""

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4e10000000049454e44ae426082")


@needs_browser
def test_check_book_passes_a_good_page_and_flags_a_bad_one(tmp_path):
    (tmp_path / "_static").mkdir()
    shutil.copytree(MATHJAX, tmp_path / "_static" / "mathjax")
    (tmp_path / "good.html").write_text(GOOD)
    (tmp_path / "bad.html").write_text(BAD)
    (tmp_path / "ok.png").write_bytes(PNG)
    shots = tmp_path / "shots"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "check_book.py"), str(tmp_path),
                           "--screenshots", str(shots)], capture_output=True, text=True, timeout=180)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "ok   good.html" in out
    assert "FAIL bad.html" in out
    for problem in ("image did not load: missing.png", "error output: ValueError: boom",
                    "1 of 1 math elements not typeset", "widget cell without a static figure: Traceback"):
        assert problem in out, out
    assert out.count("widget cell without a static figure") == 1, out  # the progress bar is fine
    assert (shots / "good.png").stat().st_size > 0


def test_check_book_explains_missing_build(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "check_book.py"), str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "build the book first" in proc.stderr or "install Debian's" in proc.stderr
