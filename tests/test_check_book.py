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

GOOD = """<html><head><script defer src="_static/mathjax/tex-mml-chtml.js"></script></head><body><main>
<a href="https://colab.research.google.com/github/o/r/blob/main/book/x.ipynb">Colab</a>
<div class="cell"><div class="cell_input"><pre>plot()</pre></div><div class="cell_output">
<div class="output text_plain"><pre>fine</pre></div>
<div class="output text_html"><figure class="qcl-figure"><img src="ok.png">
<figcaption>Data: MNIST · profile: ci · scale: 3 tasks</figcaption></figure></div>
<script type="application/vnd.jupyter.widget-view+json">{}</script></div></div>
<p>The cost is 5 dollars; <span class="math">\\(x^2\\)</span> typeset.</p></main></body></html>"""

STATE = """<script type="application/vnd.jupyter.widget-state+json">{"state": {
"s1": {"model_name": "IntSliderModel", "state": {}},
"p1": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_p2"]}},
"p2": {"model_name": "FloatProgressModel", "state": {}}}}</script>"""

BAD = """<html><body><main><img src="missing.png">""" + STATE + """
<div class="cell"><div class="cell_output"><div class="output traceback">Traceback (most recent call last)
ValueError: boom</div><script type="application/vnd.jupyter.widget-view+json">{"model_id": "s1"}</script></div></div>
<div class="cell"><div class="cell_output"><p>a progress bar needs no figure</p>
<script type="application/vnd.jupyter.widget-view+json">{"model_id": "p1"}</script></div></div>
<div class="cell"><div class="cell_input"><pre style="width: 200px; overflow-x: auto">fig_without_caption()  # """ + "x" * 80 + """</pre></div>
<div class="cell_output"><div class="output"><img src="ok.png"></div></div></div>
<div class="cell"><div class="cell_output"><div class="output text_plain">
<pre>VBox(children=(HBox(children=(IntSlider(value=2, description='depth'),)), Output()))</pre></div>
<div class="output text_plain"><pre style="width: 200px; overflow-x: auto">""" + "| col " * 60 + """</pre></div>
</div></div>
<p><span class="math">\\(x^2\\)</span></p>
<p>A norm $\\|v\\|$ left unparsed.</p>
<p>The bound \\frac{1}{2} shown raw.</p>
<p>A stray \x07 bell.</p>
<p>| run | accuracy | | --- | --- | | QNN | 0.9 | | MLP | 0.5 |</p>
</main></body></html>"""

# MathJax runs here, but one formula is broken: its red "Math input error" box must fail the page
MATH_ERROR = """<html><head><script defer src="_static/mathjax/tex-mml-chtml.js"></script></head><body><main>
<p><span class="math">\\(\\|v\\| = 1\\)</span> and <span class="math">\\(\\frac{1}\\)</span></p>
<p>and <span class="math">\\(\\undefinedmacro{x}\\)</span></p>
</main></body></html>"""

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4e10000000049454e44ae426082")


@needs_browser
def test_check_book_passes_a_good_page_and_flags_a_bad_one(tmp_path):
    (tmp_path / "_static").mkdir()
    shutil.copytree(MATHJAX, tmp_path / "_static" / "mathjax")
    (tmp_path / "good.html").write_text(GOOD)
    (tmp_path / "bad.html").write_text(BAD)
    (tmp_path / "matherr.html").write_text(MATH_ERROR)
    (tmp_path / "ok.png").write_bytes(PNG)
    shots = tmp_path / "shots"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "check_book.py"), str(tmp_path),
                           "--screenshots", str(shots)], capture_output=True, text=True, timeout=180)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "ok   good.html" in out
    assert "FAIL bad.html" in out
    for problem in ("image did not load: missing.png", "error output: ValueError: boom",
                    "widget cell without a static figure: Traceback",
                    "figure without its data/scale caption: fig_without_caption() # xxx",
                    "widget shown as a bare text repr: VBox(children=",
                    "printed output wider than the column", "unparsed math ($...$) in text: A norm",
                    "raw TeX in text: The bound", "control character U+0007 in text: A stray",
                    "chapter page without its Colab button",
                    "a markdown table shown as text (pipes in a paragraph): | run | accuracy",
                    "code wider than the column (105 characters)"):
        assert problem in out, f"{problem!r} not reported:\n{out}"
    assert out.count("widget cell without a static figure") == 1, out  # the progress bar is fine
    matherr = out[out.index("matherr.html"):].split("FAIL")[0]
    assert out.count("MathJax error: ") == 1 and "MathJax error: Missing argument for" in matherr, out
    assert "MathJax: undefined control sequence" in matherr, out
    assert "FAIL matherr.html" in out and "math elements not typeset" not in matherr, out
    assert (shots / "good.png").stat().st_size > 0


def test_check_book_explains_missing_build(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "check_book.py"), str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "build the book first" in proc.stderr or "install Debian's" in proc.stderr
