"""The report's sections beyond the ranking (Pareto front, importance, significance, the
confirmed block, the baselines) as titles, headers and rows of text: what the table, the
Markdown and the HTML page each lay out in their own way."""

from __future__ import annotations

from tfcli.report.build import Report
from tfcli.report.cells import fmt_number


def apart_title(report: Report) -> str:
    """The title of the trials listed apart from the ranking."""
    title = "Failed, killed and without a value"
    if any(row.record.infeasible for row in report.ranking.apart):
        title += ", or infeasible (broke search.constraints)"
    return title


def pareto_title(report: Report) -> str:
    p = report.pareto
    names = ", ".join(f"{o.metric} ({o.mode})" for o in p.objectives)
    return f"Pareto front: {names}; {len(p.front)} non-dominated of {len(p.points)} trials"


def pareto_headers(report: Report) -> list[str]:
    return ["front", "trial", *[o.metric for o in report.pareto.objectives], "step", "trial_id"]


def pareto_rows(report: Report) -> list[list[str]]:
    """Every point, the non-dominated ones (front 1) first."""
    return [
        [str(p.rank), str(p.number) if p.number is not None else p.trial_id, *[fmt_number(v) for v in p.values], fmt_number(p.step), p.trial_id]
        for p in report.pareto.points
    ]


def hypervolume_line(report: Report) -> str:
    p = report.pareto
    if p.hypervolume is None:
        return "Hypervolume: none (no trial has a value of every objective)"
    return f"Hypervolume of the first front: {p.hypervolume:.6g}, against the {p.reference_text()}"


def importance_title(imp) -> str:
    return f"Hyperparameter importance ({imp.label}) over {imp.trials} finished trials"


def importance_notes(imp) -> list[str]:
    """What goes under an importance table: the caveat, and what was left out."""
    notes = []
    if imp.caveat:
        notes.append(f"Caveat: {imp.caveat}.")
    if imp.inactive:
        notes.append(f"Left out of {imp.kind}, as inactive in some trials (the conditional search did not set them): {', '.join(imp.inactive)}.")
    return notes


def _pair_label(top: str, other: str, rank) -> str:
    """``top vs other (#rank)``; a baseline has no rank."""
    return f"{top} vs {other}" + (f" (#{rank})" if rank is not None else "")


def significance_rows(report: Report) -> list[list[str]]:
    """One row per test; trials by number, as the ranking names them (a baseline by its name)."""
    s = report.significance
    labels = {row.trial_id: f"trial {row.record.label}" for row in [*report.all_ranked, *report.ranking.ranked]}
    rows = []
    for t in s.tests if s else []:
        pair = _pair_label(labels.get(s.top_trial, s.top_trial), labels.get(t.other_trial, t.other_trial), t.other_rank)
        if t.note:
            rows.append([pair, "", "", "", "", t.note])
            continue
        rows.append(
            [
                pair,
                f"{fmt_number(t.score_top)} vs {fmt_number(t.score_other)}",
                fmt_number(t.diff),
                f"[{fmt_number(t.ci_low)}, {fmt_number(t.ci_high)}]",
                f"{t.p_value:.4f}",
                "yes" if t.significant else "no",
            ]
        )
    return rows


CONFIRMED_HEADERS = ("configuration of", "seeds", "valid mean ± sd", "valid 95% CI", "test mean ± sd", "winner vs it: Welch p", "two-level bootstrap p")


def confirmed_title(report: Report) -> str:
    return f"Confirmed across seeds: {report.confirmed.metric} ({report.confirmed.mode}), winner {report.confirmed.winner}"


def _mean_sd(summary) -> str:
    return f"{fmt_number(summary.mean)} ± {fmt_number(summary.std)}" if summary is not None else ""


def confirmed_rows(report: Report) -> list[list[str]]:
    block = report.confirmed
    tests = {c.other: c for c in block.comparisons}
    rows = []
    for config in block.configs:
        test = tests.get(config.trial_id)
        welch = f"{test.welch['p_value']:.4f}" if test else ("(the winner)" if config.trial_id == block.winner else "")
        boot = f"{test.bootstrap['p_value']:.4f}" if test and test.bootstrap else (test.note if test and test.note else "")
        rows.append([
            config.trial_id, str(len(config.seeds)), _mean_sd(config.valid),
            f"[{fmt_number(config.valid.ci_low)}, {fmt_number(config.valid.ci_high)}]", _mean_sd(config.test), welch, boot,
        ])
    return rows


SIGNIFICANCE_HEADERS = ("top vs other", "scores", "difference", "95% CI", "p-value", "significant (p < 0.05)")

BASELINE_TITLE = "Baselines (not ranked; the same splits and metric code as the trials)"


def baseline_headers(report: Report) -> list[str]:
    return ["baseline", f"{report.metric} (valid)", f"{report.metric} (test)", "best trial's margin (+: better)"]


def baseline_rows(report: Report) -> list[list[str]]:
    """One row per baseline: its value of the ranking metric on valid and test, and how far the
    best trial is above it (in the direction of the mode: positive is better)."""
    rows = []
    best = report.ranking.best
    for name in dict.fromkeys(b.name for b in report.baselines):
        scores = {b.split: b.metrics.get(report.metric) for b in report.baselines if b.name == name}
        valid = scores.get("valid")
        margin = ""
        if best is not None and valid is not None and best.value is not None:
            margin = fmt_number(report.objective.margin(best.value, valid))
        rows.append([name, fmt_number(valid), fmt_number(scores.get("test")), margin])
    return rows
