"""Lint of the book's prose: every markdown cell of every notebook under book/, and book/*.md.

Three checks.

1. **Control characters.** A markdown cell must not contain characters below U+0020 other than
   the newline. They appear when TeX is written through a string that interprets escapes
   (``"\\rVert"`` written as ``"\rVert"`` becomes a carriage return plus ``Vert``; ``\tanh``
   becomes TAB + ``anh``; ``\approx`` becomes BEL + ``pprox``).
2. **Double-escaped TeX.** Inside math (``$...$`` or ``$$...$$``) a TeX command is written with
   one backslash. ``\\sigma`` in the cell *source* renders as a line break followed by the word
   "sigma": it is the same escaping accident the other way round.
3. **No outcomes typed into prose** (experiment chapters only, :data:`OUTCOME_CHAPTERS`). A
   number that describes what a run produced (an accuracy, a drop, a ratio, a time) must be
   printed by a code cell from the data the figure shows, because a reader who reruns the
   chapter gets other data. The lint flags, outside code and outside exercise/solution blocks
   (whose numbers are derivations from settings, checked by the self-check functions):

   * decimals such as ``0.73`` or ``1.5``;
   * percentages such as ``13%`` or ``0.7 %``;
   * multipliers such as ``×2.3``, ``x2.3``, ``2.3×``, ``2.3x``;
   * durations such as ``85 s``, ``8 ms``, ``3 min``, ``2 h``.

   Settings of the paper's released code and of the profiles may be typed (1,000 tasks,
   learning rate 0.03): they are listed, per chapter, in :data:`SETTINGS`. Integers that are
   not percentages, multipliers or durations are not flagged (task counts, qubit counts).
   The lint cannot tell a setting from an outcome by itself; the allowlist is the explicit,
   reviewed list of exceptions, and each entry must still occur in its chapter (a stale entry
   fails :func:`test_settings_allowlist_is_used`).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"

# Chapters whose prose describes runs (the outcome lint applies to them).
OUTCOME_CHAPTERS = ("04", "05", "06", "07")

# Typed numbers that are settings (of the paper's released code, of the profiles, of a data
# format or of an environment), not outcomes, per chapter. Matched against the flagged token.
SETTINGS = {
    "04": {
        "0.03", "0.001",  # Adam learning rates of the released code (QNN, MLP)
        "0.99", "0.9",  # Shrink & Perturb factors lambda (settings of the remedies)
        "1 %",  # the dormant-unit threshold tau = 0.01 of Sokar et al. (a definition)
    },
    "05": {
        "0.2989", "0.5870", "0.1140",  # ITU-R 601 luma weights (the grayscale conversion)
    },
    "06": {
        "0.2", "1.0",  # Ant's healthy height range (environment setting)
        "0.5",  # Ant's control-cost weight
        "0.99", "0.95", "0.2",  # PPO: gamma, GAE lambda, clip range
        "0.01",  # tanh(5p) ~ 5p ~ 0.01 at p = 1/512 (arithmetic on settings)
        "0.37",  # the initial exploration noise sigma = e^-1 (a setting)
        "10 %",  # the claims rule: the last 10 % of evaluations (a definition)
    },
    "07": {
        "80%",  # the released train/validation split (80/20)
        "0.1",  # the released QNN initialization U(-0.1, 0.1)
        "8.7",  # (-i)^2 in complex64 is -1 + 8.7e-8 i: float arithmetic, not a run
        "64x",  # summing instead of averaging 64 per-sample gradients (the batch size)
        "10 %",  # the claims rule's window: first and last 10 % of the tasks
    },
}

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", re.S)
_DOUBLE_ESCAPE = re.compile(r"\\\\[A-Za-z]+")
_OUTCOME = re.compile(
    r"(?P<mult>(?<![\d\s])\s?×\s?\d+(?:\.\d+)?|(?<![\w])x\d+(?:\.\d+)?\b"
    r"|\b\d+(?:\.\d+)?\s?[×x](?!\s?\d)(?![a-zA-Z]))"
    r"|(?P<pct>\b\d+(?:\.\d+)?\s?%)"
    r"|(?P<time>\b\d+(?:\.\d+)?\s?(?:ms|s|min|h|seconds|minutes|hours)\b)"
    r"|(?P<dec>(?<![\w.])\d+\.\d+(?![\w.]))"
)
_DIRECTIVE_OPEN = re.compile(r"^\s*(`{3,}|:{3,})\s*\{(exercise|solution)\}")


def markdown_sources() -> list[tuple[str, str]]:
    """``(where, source)`` for every markdown cell of book/*.ipynb and every book/*.md file."""
    out = []
    for nb_path in sorted(BOOK.glob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                src = cell["source"]
                out.append((f"{nb_path.name} cell {i} ({cell.get('id')})",
                            "".join(src) if isinstance(src, list) else src))
    for md in sorted(BOOK.glob("*.md")):
        out.append((md.name, md.read_text(encoding="utf-8")))
    return out


def chapter_cells(prefix: str) -> list[tuple[str, str]]:
    """The markdown cells of the notebook whose name starts with ``prefix``."""
    return [(w, s) for w, s in markdown_sources() if w.startswith(prefix + "-") and ".ipynb" in w]


def strip_code(text: str, drop_exercises: bool = False) -> str:
    """``text`` without fenced code blocks and inline code (and, optionally, without
    ``{exercise}``/``{solution}`` blocks)."""
    lines, out = text.split("\n"), []
    fence = None  # the closing marker of the block we are in
    skip = False
    for line in lines:
        if fence is None:
            directive = _DIRECTIVE_OPEN.match(line)
            m = _FENCE.match(line)
            if directive:
                fence, skip = directive.group(1), drop_exercises
                continue
            if m and "{" not in line[m.end():m.end() + 1]:
                fence, skip = m.group(2), True
                continue
            if m:  # another directive (prf:..., figure): keep its body
                fence, skip = m.group(2), False
                continue
            out.append(line)
        else:
            stripped = line.strip()
            if stripped and stripped == fence[0] * len(stripped) and len(stripped) >= len(fence):
                fence, skip = None, False
                continue
            if not skip:
                out.append(line)
    return _INLINE_CODE.sub(" ", "\n".join(out))


def control_characters(text: str) -> list[str]:
    """The control characters (other than newline) in ``text``, as ``repr`` with context."""
    return [repr(text[max(0, m.start() - 12):m.end() + 12]) for m in _CONTROL.finditer(text)]


# What is left of a TeX command whose backslash and first letter became a newline ("\\rVert",
# "\\rangle", "\\right", "\\rho", "\\nabla", "\\neq", "\\newline" written through an escaping string).
_AFTER_LOST_NEWLINE = re.compile(r"^\s*(Vert|angle|ight[(\[|.)\]]|ho\b|abla\b|eq\b|ewline\b)")


def lost_newline_escapes(text: str) -> list[str]:
    """Lines that continue an open inline formula with the remainder of a TeX command whose
    ``\\r`` or ``\\n`` was turned into a line break (``$\\lVert a`` + newline + ``Vert^2$``)."""
    hits, lines = [], strip_code(text).split("\n")
    for prev, line in zip(lines, lines[1:]):
        open_inline = len(re.findall(r"(?<!\$)\$(?!\$)", prev)) % 2 == 1
        if open_inline and _AFTER_LOST_NEWLINE.match(line):
            hits.append(prev[-20:] + "\u21b5" + line[:20])
    return hits


def double_escaped_tex(text: str) -> list[str]:
    """TeX commands written with two backslashes inside math, e.g. ``$\\\\sigma$``."""
    hits = []
    for m in _MATH.finditer(strip_code(text)):
        body = m.group(1) if m.group(1) is not None else m.group(2)
        hits += _DOUBLE_ESCAPE.findall(body)
    return hits


def outcome_numbers(text: str, allowed=frozenset()) -> list[str]:
    """Numbers in prose that look like run outcomes (see the module docstring), minus ``allowed``."""
    prose = strip_code(text, drop_exercises=True)
    prose = re.sub(r"\([^()]*~\d+ min\)", " ", prose)  # "(~10 min)": a reading-time estimate
    hits = []
    for m in _OUTCOME.finditer(prose):
        token = m.group(0)
        number = re.search(r"\d+(?:\.\d+)?", token).group(0)
        if number in allowed or token in allowed:
            continue
        hits.append(token.strip())
    return hits


# ---------------------------------------------------------------------------------------------

ALL_CELLS = markdown_sources()


@pytest.mark.parametrize("where,source", ALL_CELLS, ids=[w for w, _ in ALL_CELLS])
def test_no_control_characters(where, source):
    bad = control_characters(source)
    assert not bad, f"{where}: control characters (a TeX command lost to string escaping?): {bad}"


@pytest.mark.parametrize("where,source", ALL_CELLS, ids=[w for w, _ in ALL_CELLS])
def test_no_tex_command_lost_to_a_newline(where, source):
    bad = lost_newline_escapes(source)
    assert not bad, f"{where}: a TeX command became a line break (write \\rVert, \\nabla ...): {bad}"


@pytest.mark.parametrize("where,source", ALL_CELLS, ids=[w for w, _ in ALL_CELLS])
def test_no_double_escaped_tex(where, source):
    bad = double_escaped_tex(source)
    assert not bad, f"{where}: write TeX commands with one backslash inside math: {bad}"


@pytest.mark.parametrize("chapter", OUTCOME_CHAPTERS)
def test_no_outcomes_in_experiment_prose(chapter):
    cells = chapter_cells(chapter)
    assert cells, f"no notebook book/{chapter}-*.ipynb"
    bad = {w: h for w, s in cells if (h := outcome_numbers(s, SETTINGS[chapter]))}
    assert not bad, ("numbers describing run outcomes are typed into markdown; print them from a "
                     f"code cell (or glue them) and refer to them in words: {bad}")


@pytest.mark.parametrize("chapter", OUTCOME_CHAPTERS)
def test_settings_allowlist_is_used(chapter):
    text = "\n".join(strip_code(s, drop_exercises=True) for _, s in chapter_cells(chapter))
    stale = sorted(v for v in SETTINGS[chapter] if not re.search(rf"(?<![\d.]){re.escape(v)}(?![\d])", text))
    assert not stale, f"allowlisted settings no longer in chapter {chapter}'s prose: {stale}"


# --- the lint itself must fail on bad cells ------------------------------------------------------

def test_lint_catches_control_characters():
    bad = "norm $\\lVert w \rVert$ and $\tanh$ and $a \approx b$"  # \r, \t, \a: escapes gone wrong
    assert len(control_characters(bad)) == 3
    assert control_characters("line one\nline two $\\lVert w \\rVert$") == []
    assert len(lost_newline_escapes("cost $0.5\\,\\lVert a\nVert^2$ per step")) == 1
    assert lost_newline_escapes("cost $0.5\\,\\lVert a\\rVert^2$\nVert is a name") == []


def test_lint_catches_double_escapes_in_math_only():
    assert double_escaped_tex("noise $\\\\sigma \\approx 0.27$") == ["\\\\sigma"]
    assert double_escaped_tex("$$a \\\\\n b$$ and `print('\\\\n')`") == []  # a line break; code
    assert double_escaped_tex("```python\nx = '$\\\\sigma$'\n```") == []


def test_lint_catches_outcomes():
    cell = ("The MLP fell from 0.46 to 0.27 accuracy while 13% of its units died; its norm grew "
            "×2.3 (the QNN's 1.4x) and a step took 85 s, or 8 ms on the batched path.")
    assert outcome_numbers(cell) == ["0.46", "0.27", "13%", "×2.3", "1.4x", "85 s", "8 ms"]
    assert outcome_numbers(cell, {"0.46", "0.27"}) == ["13%", "×2.3", "1.4x", "85 s", "8 ms"]


def test_lint_ignores_settings_code_integers_and_exercises():
    cell = ("Train 1,000 tasks with learning rate 0.03 on 10 qubits (~10 min). `lr=0.001` "
            "and\n```python\nprint(0.73)\n```\n"
            "````{solution} ex-1\n:class: dropdown\n\nAbout 0.3 per step.\n````\nafter.")
    assert outcome_numbers(cell, {"0.03"}) == []
    assert outcome_numbers(cell) == ["0.03"]


# --- cross-references from the course page -------------------------------------------------------

def _labels() -> set[str]:
    found = set()
    for _, source in markdown_sources():
        found |= set(re.findall(r"^:label:\s*(\S+)", source, flags=re.M))
    return found


def test_course_page_points_only_at_existing_exercises():
    course = (BOOK / "course.md").read_text(encoding="utf-8")
    refs = set(re.findall(r"\{ref\}`([^`<>]+)`", course))
    assert refs, "the course page should link its exercises with {ref}`label`"
    missing = sorted(refs - _labels())
    assert not missing, f"course.md points at exercises that do not exist: {missing}"
    assert not re.search(r"the [\w-]+ exercise of chapter", course), \
        "name exercises by {ref}`label`, not in words (words cannot be checked)"


def test_course_schedule_matches_chapter_estimates():
    """Each session row quotes a chapter's time as the sum of the chapter's own '(~N min)' estimates."""
    course = (BOOK / "course.md").read_text(encoding="utf-8")
    quoted = re.findall(r"\{doc\}`(\d\d-[\w-]+)` \((\d+) min\)", course)
    assert quoted
    for doc, minutes in quoted:
        nb = next(BOOK.glob(f"{doc}.ipynb"))
        first = json.loads(nb.read_text(encoding="utf-8"))["cells"][0]
        text = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
        estimate = sum(int(m) for m in re.findall(r"\(~(\d+) min\)", text))
        assert int(minutes) == estimate, f"course.md gives {doc} {minutes} min, its sections add to {estimate}"
