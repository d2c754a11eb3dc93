#!/usr/bin/env python
"""Open every page of the built book in headless Chromium and check it as a reader sees it.

    python tools/check_book.py _build/ci/_build/html --screenshots _build/screenshots

A page fails if it shows a Python traceback or error output, if an image does not load, if
its mathematics is not typeset by MathJax or MathJax reports an error ("Math input error"),
if its text shows unparsed ``$...$``, raw TeX or control characters, if a widget cell has no
static figure (the online book has no kernel, so each widget cell must also draw its
default figure) or a widget fell back to its text repr, if a notebook page lacks its Colab
button, if a figure lacks its data/profile/scale caption, or if printed output is wider than
the column (cut off).

The pages are served from a local HTTP server on 127.0.0.1 (MathJax is vendored in
book/_static, so no network is needed). Chromium is Debian's ``chromium`` package, driven
through ``chromium-driver`` by selenium, started with
``--headless --no-sandbox --disable-gpu --disable-background-networking``.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import threading
import time
from pathlib import Path

SKIP = {"genindex.html", "search.html", "py-modindex.html"}

# Collects the problems of the current page, run in the browser after MathJax has finished.
PAGE_CHECK_JS = r"""
const problems = [];
const here = location.origin;
const short = s => s.replace(/\s+/g, " ").trim().slice(0, 80);
for (const img of document.images) {
  const ok = img.complete && img.naturalWidth > 0;
  const src = img.getAttribute("src") || "";
  if (!ok && (img.src.startsWith(here) || src.startsWith("data:"))) {
    problems.push("image did not load: " + src.slice(0, 60));
  }
}
// MathJax's own error boxes ("Math input error", undefined control sequences, ...)
const mathErrors = new Set();
for (const e of document.querySelectorAll("mjx-merror, [data-mjx-error]")) {
  mathErrors.add("MathJax error: " + short(e.getAttribute("data-mjx-error") || e.textContent));
}
// An undefined macro is not an error to MathJax: it prints the macro's name in red
for (const e of document.querySelectorAll('mjx-container [style*="color: red"]')) {
  const mml = e.closest("mjx-container").querySelector("mjx-assistive-mml");
  mathErrors.add("MathJax: undefined control sequence (shown in red): "
                 + short((mml && mml.textContent) || ""));
}
problems.push(...mathErrors);
// Text a reader sees (not code, outputs or typeset maths): unparsed $...$, raw TeX, control chars
const SKIP = "script, style, code, pre, .math, mjx-container, .highlight, .cell_output, textarea, "
           + ".MathJax, nav, .bd-sidebar, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header, "
           + ".bd-header-article, head, title, kbd";
const walker = document.createTreeWalker(document.querySelector("main") || document.body,
                                         NodeFilter.SHOW_TEXT);
const TEX = /\\(frac|mathrm|mathbb|mathcal|operatorname|sum|prod|int|begin|end|left|right|langle|rangle|[lr]?Vert|cdot|otimes|dagger|alpha|beta|gamma|theta|lambda|sigma|partial|nabla|sqrt|le|ge|leq|geq|in|to|infty|tfrac|dfrac|text)(?![a-zA-Z])/;
const seenText = new Set();
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const t = n.nodeValue;
  if (!t || !t.trim() || (n.parentElement && n.parentElement.closest(SKIP))) continue;
  let msg = null;
  const ctrl = t.match(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/);
  if (ctrl) msg = "control character U+" + ctrl[0].charCodeAt(0).toString(16).padStart(4, "0")
                  + " in text: " + short(t.replace(/[\u0000-\u001F\u007F]/g, "?"));
  else if (/\$[^$\s][^$]*\$|\$\$/.test(t)) msg = "unparsed math ($...$) in text: " + short(t);
  else if (/\\\(|\\\[/.test(t)) msg = "unparsed math (\\( or \\[) in text: " + short(t);
  else if (TEX.test(t)) msg = "raw TeX in text: " + short(t);
  else if ((t.match(/ \| /g) || []).length >= 4 && !n.parentElement.closest("table")) {
    msg = "a markdown table shown as text (pipes in a paragraph): " + short(t);
  }
  if (msg && !seenText.has(msg)) { seenText.add(msg); problems.push(msg); }
}
// A notebook page (it has code cells) needs its Colab launch button
if (document.querySelector("div.cell") && !document.querySelector('a[href*="colab.research.google.com"]')) {
  problems.push("chapter page without its Colab button");
}
// Every figure in a cell's output carries its data/profile/scale caption as text
for (const img of document.querySelectorAll(".cell_output img")) {
  const box = img.closest("figure") || img.closest(".output") || img.parentElement;
  const text = (box && box.textContent) || "";
  if (!(text.includes("Data:") && text.includes("profile:") && text.includes("scale:"))) {
    const cell = img.closest("div.cell");
    problems.push("figure without its data/scale caption: "
                  + short((cell && cell.querySelector(".cell_input") || {}).textContent || ""));
  }
}
// Outputs: widgets that fell back to their text repr, printed text cut off at the column
const WIDGET_REPR = /^\s*(VBox|HBox|Box|interactive|IntSlider|FloatSlider|SelectionSlider|Dropdown|Output|Tab|Accordion)\((children|value|description|options|layout)=/m;
for (const out of document.querySelectorAll(".cell_output .output")) {
  const text = out.textContent || "";
  if (WIDGET_REPR.test(text)) problems.push("widget shown as a bare text repr: " + short(text));
}
for (const pre of document.querySelectorAll(".cell_input pre")) {
  if (pre.scrollWidth > pre.clientWidth + 2) {
    const wide = (pre.textContent || "").split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
    problems.push("code wider than the column (" + wide.length + " characters): " + short(wide));
  }
}
for (const pre of document.querySelectorAll(".cell_output pre")) {
  if (pre.scrollWidth > pre.clientWidth + 2) {
    problems.push("printed output wider than the column (cut off, scrolls sideways): "
                  + short((pre.textContent || "").split("\n").find(l => l.length > 60) || pre.textContent));
  }
}
const seen = new Set();
for (const out of document.querySelectorAll(".output")) {
  const cls = out.className || "";
  const text = out.textContent || "";
  if (/\btraceback\b|\berror\b/.test(cls) || text.includes("Traceback (most recent call last)")) {
    const lines = text.replace(/Copy to clipboard/g, "").trim().split("\n").filter(l => l.trim());
    const msg = "error output: " + (lines.slice(-1)[0] || "").trim().slice(0, 160);
    if (!seen.has(msg)) { seen.add(msg); problems.push(msg); }
  }
}
const maths = document.querySelectorAll("span.math, div.math");
let unrendered = 0;
for (const m of maths) { if (!m.querySelector("mjx-container")) unrendered += 1; }
if (unrendered) problems.push(unrendered + " of " + maths.length + " math elements not typeset");
// Widget cells: a cell whose widgets include an input control (slider, dropdown, ...) must also
// show a static figure. Progress bars (tqdm) are not controls.
let widgetState = {};
const stateScript = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
if (stateScript) { try { widgetState = JSON.parse(stateScript.textContent).state || {}; } catch (e) {} }
const CONTROL = /(Slider|Dropdown|Select|ToggleButton|Checkbox|Text|Button|Play|Picker|Combobox)Model$/;
function isControl(id, depth) {
  const m = widgetState[id];
  if (!m || depth > 20) return !m;  // unknown models count as controls
  if (CONTROL.test(m.model_name || "")) return true;
  const kids = (m.state && m.state.children) || [];
  return kids.some(k => isControl(String(k).replace("IPY_MODEL_", ""), depth + 1));
}
for (const cell of document.querySelectorAll("div.cell")) {
  const views = cell.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  let control = false;
  for (const v of views) {
    try { control = control || isControl(JSON.parse(v.textContent).model_id, 0); } catch (e) { control = true; }
  }
  if (control && !cell.querySelector(".cell_output img")) {
    problems.push("widget cell without a static figure: " + (cell.innerText || "").trim().slice(0, 80));
  }
}
return {problems: problems, math: maths.length, images: document.images.length,
        height: document.documentElement.scrollHeight};
"""

WAIT_MATHJAX_JS = r"""
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(() => done(true), () => done(false)); return; }
  if (!document.querySelector("span.math, div.math") && document.readyState === "complete") { done(true); return; }
  if (Date.now() - start > 15000) { done(false); return; }
  setTimeout(poll, 100);
})();
"""


def _serve(root: Path):
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the report readable
        pass


def find_pages(root: Path) -> list[Path]:
    """Every content page of the built book (index redirects and generated indices excluded)."""
    pages = []
    for p in sorted(root.rglob("*.html")):
        rel = p.relative_to(root)
        if rel.parts[0].startswith("_") or p.name in SKIP or rel.as_posix() == "index.html":
            continue
        pages.append(p)
    return pages


def make_driver(chromium: str, chromedriver: str, width: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--hide-scrollbars", f"--window-size={width},1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(chromedriver), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


def check(root: Path, screenshots: Path | None, chromium: str, chromedriver: str, width: int = 1200) -> int:
    pages = find_pages(root)
    if not pages:
        print(f"no pages found under {root}: build the book first (make book)", file=sys.stderr)
        return 2
    if screenshots:
        screenshots.mkdir(parents=True, exist_ok=True)
    server = _serve(root)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    driver = make_driver(chromium, chromedriver, width)
    failures, start = 0, time.time()
    try:
        for page in pages:
            rel = page.relative_to(root).as_posix()
            driver.get(f"{base}/{rel}")
            typeset = driver.execute_async_script(WAIT_MATHJAX_JS)
            report = driver.execute_script(PAGE_CHECK_JS)
            problems = list(report["problems"])
            if not typeset:
                problems.append("MathJax did not finish typesetting")
            if screenshots:
                driver.set_window_size(width, min(int(report["height"]) + 50, 20000))
                driver.save_screenshot(str(screenshots / (rel.replace("/", "__")[:-5] + ".png")))
                driver.set_window_size(width, 1000)
            status = "FAIL" if problems else "ok"
            print(f"{status:4s} {rel}  ({report['images']} images, {report['math']} math)")
            for p in problems:
                print(f"     - {p}")
            failures += bool(problems)
    finally:
        driver.quit()
        server.shutdown()
    print(f"{len(pages)} pages checked in {time.time() - start:.1f} s; {failures} with problems"
          + (f"; screenshots in {screenshots}" if screenshots else ""))
    return 1 if failures else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", type=Path, help="the built HTML folder, e.g. _build/ci/_build/html")
    ap.add_argument("--screenshots", type=Path, default=None, help="save a full-page PNG of each page here")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    ap.add_argument("--width", type=int, default=1200)
    args = ap.parse_args(argv)
    for exe, pkg in ((args.chromium, "chromium"), (args.chromedriver, "chromium-driver")):
        if not Path(exe).exists():
            print(f"{exe} not found: install Debian's {pkg} package (apt-get install chromium chromium-driver)",
                  file=sys.stderr)
            return 2
    if not args.html.is_dir():
        print(f"{args.html} is not a folder: build the book first (make book)", file=sys.stderr)
        return 2
    return check(args.html, args.screenshots, args.chromium, args.chromedriver, args.width)


if __name__ == "__main__":
    sys.exit(main())
