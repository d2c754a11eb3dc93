"""What this book reproduces: the paper's claims, each with the book's evidence and a verdict
computed from the stored sweeps by a stated rule.

Rules (every number is computed from the stored run folders of a sweep, per seed, then summarized
as mean ± standard error over seeds):

* **decline** of a metric = its mean over the first 10 % of tasks minus its mean over the last 10 %.
  A configuration *loses plasticity* when its accuracy decline exceeds ``MIN_EFFECT`` (one
  percentage point) by more than two standard errors; it *keeps plasticity* when the decline is
  below ``MIN_EFFECT`` plus two standard errors. With one seed the standard error is unknown and
  counts as zero (the verdict says "1 seed").
* **growth** of a norm = its mean over the last 10 % of tasks over its mean over the first 10 %.
* A claim about a family **holds** when every configuration of the family meets it, holds
  **partly** when some do, and is **not seen** when none does. A claim whose grid has not been run
  says so; one whose sweep is stored but unfinished is **pending**, with the provisional verdict of
  the rows so far beside it.

Introduced in: 00 · What this book reproduces
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import results, sweep
from .plotting import moving_average, summary_extent

#: The smallest accuracy change (absolute) the verdicts treat as an effect.
MIN_EFFECT = 0.01
#: Ant: an evaluation return above this means the agent walks (standing still earns about 1,000).
WALKING = 2000.0
#: Ant: a run *collapses* when it ends more than this fraction below its best average return.
COLLAPSE = 0.25
#: Ant: how many evaluations the moving average of a run's "best average return" spans.
RL_WINDOW = 5
#: The share of tasks (or evaluations) at each end that the rules compare.
FRACTION = 0.1


@dataclass
class Stat:
    """Mean and standard error over seeds of a per-seed number. Introduced in: 00 · What this book reproduces"""

    values: list

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else float("nan")

    @property
    def sem(self) -> float:
        return float(np.std(self.values, ddof=1) / np.sqrt(len(self.values))) if len(self.values) > 1 else 0.0

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.sem:.3f}" if len(self.values) > 1 else f"{self.mean:.3f} (1 seed)"


@dataclass
class Verdict:
    """One row of the claims table. Introduced in: 00 · What this book reproduces"""

    claim: str
    paper: str
    evidence: str
    numbers: str
    verdict: str
    details: list = field(default_factory=list)


def load_grid(root, grid: str):
    """``(summary, {configuration key: [Run per seed]})`` of a stored sweep (a partial one too, see
    :func:`qcl_helpers.sweep.stored_summary`), or ``(None, {})``.

    Introduced in: 00 · What this book reproduces
    """
    folder = Path(root) / grid
    summary = sweep.stored_summary(grid, root)
    if summary is None:
        return None, {}
    runs = {key: [results.load_run(folder / name, require_complete=False) for name in entry["folders"]]
            for key, entry in summary["configurations"].items()}
    return summary, runs


def _window(n: int, fraction: float = FRACTION) -> int:
    """How many of ``n`` rows make the first or last ``fraction`` of them (at least one)."""
    return max(1, int(round(fraction * n)))


def decline(runs, metric: str = "test_accuracy") -> Stat:
    """Per seed: mean of ``metric`` over the first 10 % of rows minus its mean over the last 10 %.

    Introduced in: 00 · What this book reproduces
    """
    vals = []
    for r in runs:
        y = r[metric]
        w = _window(len(y))
        vals.append(float(np.nanmean(y[:w]) - np.nanmean(y[-w:])))
    return Stat(vals)


def level(runs, metric: str = "test_accuracy") -> Stat:
    """Per seed: mean of ``metric`` over the last 10 % of rows (where a run ends up, beside how
    much it declined). Introduced in: 04 · Permuted MNIST
    """
    ys = [r[metric] for r in runs]
    return Stat([float(np.nanmean(y[-_window(len(y)):])) for y in ys])


def growth(runs, metric: str) -> Stat:
    """Per seed: mean of ``metric`` over the last 10 % of rows over its mean over the first 10 %.

    Introduced in: 00 · What this book reproduces
    """
    vals = []
    for r in runs:
        y = r[metric]
        w = _window(len(y))
        vals.append(float(np.nanmean(y[-w:]) / np.nanmean(y[:w])))
    return Stat(vals)


def eval_stats(run, window: int = RL_WINDOW, tail: float = FRACTION) -> dict:
    """What one PPO run's evaluation history says about Figure 3's claim, computed from its rows:

    * ``peak``, ``peak_steps``: the best ``window``-evaluation moving average of the evaluation
      return, and the step of that window's last evaluation;
    * ``last``, ``last_length``: the mean return and mean episode length over the last ``tail``
      fraction of the evaluations (at least one);
    * ``fall``: ``(peak - last) / max(|peak|, 1)``, how far the run ends below its best;
    * ``slope``: the least-squares slope of the return over the second half of the evaluations,
      in return per million steps (positive: still improving).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    y, steps = np.asarray(run["mean_reward"], dtype=float), np.asarray(run.steps, dtype=float)
    if y.size < 2:
        raise ValueError(f"{run.label}: eval_stats needs at least two evaluations, the run has {y.size}")
    idx, ma, _ = moving_average(y, window)
    best = int(np.argmax(ma))
    k = _window(y.size, tail)
    half = slice(y.size // 2, None)
    slope = float(np.polyfit(steps[half] / 1e6, y[half], 1)[0]) if y[half].size >= 2 else float("nan")
    peak, last = float(ma[best]), float(np.mean(y[-k:]))
    return {"peak": peak, "peak_steps": int(steps[idx[best]]), "last": last,
            "last_length": float(np.mean(np.asarray(run["mean_length"], dtype=float)[-k:])),
            "fall": (peak - last) / max(abs(peak), 1.0), "slope": slope}


@dataclass
class RLFamily:
    """Figure 3's numbers for one PPO configuration over its seeds (:func:`eval_stats` per seed):
    the best average return, the fall from it and the late slope, each as mean ± standard error.

    It *walked* on a seed whose best average exceeds :data:`WALKING`; it *collapsed* when it walked
    on average and ends more than :data:`COLLAPSE` below its best by two standard errors; it is
    *stable* when it ends within :data:`COLLAPSE` of its best by two standard errors.

    Introduced in: 06 · Reinforcement learning on Ant
    """

    label: str
    peak: Stat
    fall: Stat
    slope: Stat
    walked: int

    @property
    def fell(self) -> bool:
        """It ends more than :data:`COLLAPSE` below its best, by two standard errors."""
        return self.fall.mean - 2 * self.fall.sem > COLLAPSE

    @property
    def collapsed(self) -> bool:
        return self.peak.mean > WALKING and self.fell

    @property
    def stable(self) -> bool:
        return self.fall.mean + 2 * self.fall.sem <= COLLAPSE

    def fall_words(self) -> str:
        """The collapse verdict in words."""
        if self.fell:
            return f"it collapses (more than {COLLAPSE:.0%} below its best, by two standard errors)"
        if self.stable:
            return f"no collapse (within {COLLAPSE:.0%} of its best, by two standard errors)"
        return "undecided at two standard errors"

    def trend_words(self) -> str:
        """The sign of the late slope in words."""
        if self.slope.mean - 2 * self.slope.sem > 0:
            return "still improving"
        if self.slope.mean + 2 * self.slope.sem < 0:
            return "falling"
        return "no trend distinguishable from zero"


def rl_family(runs, window: int = RL_WINDOW) -> RLFamily | None:
    """:class:`RLFamily` of one configuration's runs (one per seed), from those with an evaluation
    after training (``None`` if none has). Introduced in: 06 · Reinforcement learning on Ant"""
    runs = [r for r in runs if len(r) >= 2]
    if not runs:
        return None
    stats = [eval_stats(r, window) for r in runs]
    peak, fall, slope = (Stat([x[k] for x in stats]) for k in ("peak", "fall", "slope"))
    return RLFamily(runs[0].label, peak, fall, slope, sum(x["peak"] > WALKING for x in stats))


def loses(stat: Stat) -> bool:
    """Accuracy declines by more than :data:`MIN_EFFECT`, beyond two standard errors."""
    return stat.mean - 2 * stat.sem > MIN_EFFECT


def keeps(stat: Stat) -> bool:
    """Accuracy does not decline by more than :data:`MIN_EFFECT`, within two standard errors."""
    return stat.mean - 2 * stat.sem <= MIN_EFFECT


def combine(flags) -> str:
    """``held`` (all), ``partly`` (some) or ``not seen`` (none). Introduced in: 00 · What this book reproduces"""
    flags = list(flags)
    if not flags:
        return "not run yet"
    return "held" if all(flags) else ("partly" if any(flags) else "not seen")


def _family(runs: dict, fam: str) -> dict:
    return {k: v for k, v in runs.items() if v and v[0].config["model"] == fam}


def _evidence(summary, grid: str, runs: dict) -> str:
    data = "; ".join(sorted({e["data_label"] for e in summary["configurations"].values()}))
    profile = next(iter(runs.values()))[0].config["profile"]
    return (f"sweep {grid} ({profile} profile): {data}; {summary_extent(summary)}"
            + (" (PARTIAL: some runs unfinished)" if summary.get("partial") else ""))


def _claim(root, grid: str, figure: str, claim: str, judge, needs: tuple = ()) -> Verdict:
    """One claims-table row: ``judge(runs) -> (numbers, verdict)`` on the stored sweep ``grid``;
    "not run yet" when it is not stored or has no run of a family in ``needs``; on an unfinished
    sweep the verdict is provisional."""
    summary, runs = load_grid(root, grid)
    if summary is None:
        return Verdict(claim, figure, f"sweep {grid}: not stored yet", "", "not run yet")
    evidence = _evidence(summary, grid, runs)
    missing = [fam for fam in needs if not _family(runs, fam)]
    if missing:
        return Verdict(claim, figure, evidence, "", f"not run yet (no {missing[0].upper()} run stored)")
    numbers, verdict = judge(runs)
    if summary.get("partial"):
        verdict = f"pending (provisional: {verdict})"
    return Verdict(claim, figure, evidence, numbers, verdict)


def plasticity_claims(root, grid: str, figure: str) -> list:
    """The two plasticity claims of a supervised figure: MLPs lose it, QNNs keep it.

    Introduced in: 00 · What this book reproduces
    """
    def judge(fam, test):
        def run(runs):
            stats = {v[0].label: decline(v) for v in _family(runs, fam).values()}
            return ("; ".join(f"{label}: decline {s}" for label, s in stats.items()),
                    combine(test(s) for s in stats.values()))
        return run

    return [_claim(root, grid, figure, "classical MLPs lose plasticity (new-task accuracy declines)",
                   judge("mlp", loses)),
            _claim(root, grid, figure, "QNNs keep plasticity (no decline of new-task accuracy)",
                   judge("qnn", keeps))]


def _growth_claim(root, grid: str, figure: str, claim: str, metric: str, name: str, mlp_rule, qnn_rule) -> list:
    def judge(runs):
        mlp = {v[0].label: growth(v, metric) for v in _family(runs, "mlp").values()}
        qnn = {v[0].label: growth(v, metric) for v in _family(runs, "qnn").values()}
        numbers = "; ".join(f"{k}: {name} last/first {s}" for k, s in {**mlp, **qnn}.items())
        return numbers, combine([mlp_rule(s) for s in mlp.values()] + [qnn_rule(s) for s in qnn.values()])

    return [_claim(root, grid, figure, claim, judge, needs=("mlp", "qnn"))]


def norm_claims(root, grid: str, figure: str) -> list:
    """MLP weight norms grow (beyond 1.1x by two standard errors) while QNN parameter norms stay
    within a factor of two. Introduced in: 00 · What this book reproduces"""
    return _growth_claim(root, grid, figure, "MLP weight norms grow without bound; QNN norms stay bounded",
                         "weight_norm", "|w|", lambda s: s.mean - 2 * s.sem > 1.1,
                         lambda s: s.mean + 2 * s.sem < 2.0)


def fisher_claims(root, grid: str, figure: str) -> list:
    """The MLP's Fisher trace collapses (falls below half, beyond two standard errors) while the
    QNN's does not. Introduced in: 00 · What this book reproduces"""
    return _growth_claim(root, grid, figure, "the MLP's Fisher-information trace collapses; the QNN's does not",
                         "fim_trace", "Tr F", lambda s: s.mean + 2 * s.sem < 0.5,
                         lambda s: s.mean - 2 * s.sem >= 0.5)


def quantum_data_claims(root, grid: str = "figure4") -> list:
    """On XXZ data the best QNN reaches a higher mean accuracy than every MLP (paired over seeds).

    Introduced in: 00 · What this book reproduces
    """
    def judge(runs):
        best = max(_family(runs, "qnn").values(), key=lambda v: v[0].config["depth"])
        diffs = {}
        for v in _family(runs, "mlp").values():
            n = min(len(best), len(v))
            diffs[v[0].label] = Stat([float(np.nanmean(a["test_accuracy"]) - np.nanmean(b["test_accuracy"]))
                                      for a, b in zip(best[:n], v[:n])])
        return ("; ".join(f"{best[0].label} - {k}: {s}" for k, s in diffs.items()),
                combine(s.mean - 2 * s.sem > 0 for s in diffs.values()))

    return [_claim(root, grid, "Fig. 4", "on quantum-native data the deepest QNN learns better than the MLPs", judge,
                   needs=("mlp", "qnn"))]


def rl_claims(root, grid: str = "figure3") -> list:
    """Figure 3: the MLP policy collapses after learning while the QNN policy does not fall by a
    quarter, by the rules of :class:`RLFamily`. Introduced in: 00 · What this book reproduces"""
    def judge(runs):
        parts, flags = [], []
        for fam in ("mlp", "qnn"):
            for v in _family(runs, fam).values():
                f = rl_family(v)
                if f is not None:
                    parts.append(f"{f.label}: best return {f.peak.mean:,.0f}, fall from best {f.fall}")
                    flags.append(f.collapsed if fam == "mlp" else f.stable)
        return "; ".join(parts), combine(flags)

    return [_claim(root, grid, "Fig. 3", "the MLP policy collapses after learning; the QNN policy stays stable",
                   judge, needs=("mlp", "qnn"))]


def table(root=None) -> list:
    """Every claim with its verdict, from the stored sweeps under ``root`` (default: the
    repository's ``results/``). Introduced in: 00 · What this book reproduces"""
    root = Path(root) if root is not None else results.stored_path("")
    return (plasticity_claims(root, "figure1", "Fig. 1b") + norm_claims(root, "figure1", "Fig. 1d-e")
            + plasticity_claims(root, "figure2", "Fig. 2b") + fisher_claims(root, "figure2", "Fig. 2c")
            + rl_claims(root) + quantum_data_claims(root) + plasticity_claims(root, "figure4", "Fig. 4"))


def saturation_claims(root, grid: str = "figure1") -> list:
    """Proposition 1 in the data: where an MLP's weight norm grows, its gradient norm falls.

    Introduced in: 00 · What this book reproduces
    """
    def judge(runs):
        flags, parts = [], []
        for v in _family(runs, "mlp").values():
            w, g = growth(v, "weight_norm"), growth(v, "grad_norm")
            parts.append(f"{v[0].label}: |w| x{w}, |grad| x{g}")
            if w.mean - 2 * w.sem > 1.1:  # the proposition speaks only of growing weights
                flags.append(g.mean + 2 * g.sem < 1.0)
        return "; ".join(parts), combine(flags) if flags else "not seen (no MLP's weights grew)"

    return [_claim(root, grid, "Prop. 1",
                   "Proposition 1 (book's version): growing weights saturate the network; gradients vanish", judge,
                   needs=("mlp",))]


def bound_claims(root, grid: str = "figure2") -> list:
    """Theorem 1 in the data: the QNN's measured Fisher trace never exceeds the book's uniform bound.

    Introduced in: 00 · What this book reproduces
    """
    from . import haar

    def judge(runs):
        flags, parts = [], []
        for v in _family(runs, "qnn").values():
            bound = haar.paper_fisher_bound(v[0].config["experiment"], v[0].config["depth"])
            peak = max(float(np.nanmax(r["fim_trace"])) for r in v)
            parts.append(f"{v[0].label}: largest Tr F {peak:.3g} of bound {bound:.3g} ({peak / bound:.2%})")
            flags.append(peak <= bound)
        return "; ".join(parts), combine(flags)

    return [_claim(root, grid, "Thm. 1",
                   "Theorem 1 (book's version): the QNN's Fisher trace is bounded uniformly in the parameters", judge)]


def all_claims(root=None) -> list:
    """:func:`table` plus the two theoretical results, checked against the same stored data.

    Introduced in: 00 · What this book reproduces
    """
    root = Path(root) if root is not None else results.stored_path("")
    return table(root) + saturation_claims(root) + bound_claims(root)


_COLORS = {"held": "#1b7a3a", "partly": "#a66a00", "not seen": "#b3261e", "not run yet": "#555555",
           "pending": "#555555"}


def html_table(rows) -> str:
    """The claims as an HTML table that wraps at the book's column width. Introduced in: 00 · What this book reproduces"""
    import html

    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("paper", "claim", "verdict", "evidence", "numbers"))
    body = []
    for r in rows:
        color = next((c for k, c in _COLORS.items() if r.verdict.startswith(k)), "#555555")
        cells = [html.escape(r.paper), html.escape(r.claim),
                 f"<b style='color:{color}'>{html.escape(r.verdict)}</b>", html.escape(r.evidence),
                 html.escape(r.numbers) or "&ndash;"]
        body.append("<tr>" + "".join(f"<td style='vertical-align:top'>{c}</td>" for c in cells) + "</tr>")
    return ("<table class='qcl-claims' style='font-size:0.85em;table-layout:auto;width:100%'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
