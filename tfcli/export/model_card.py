"""The model card: the ``README.md`` of an export folder, written from its ``config.json``."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from tfcli.metrics.notes import METEOR_NOTE


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def model_card(config: Mapping[str, Any]) -> str:
    """README.md of an export folder."""
    p = config["provenance"]
    arch = {"seq2seq": "encoder-decoder", "classifier": "encoder with a classification head", "span": "encoder with a span head"}
    kind = config["model"].get("kind")
    lines = [
        f"# {p['study']}: trial {p['trial_id']}",
        "",
        f"A {config['task']} model ({arch.get(kind, kind)} Transformer) "
        f"trained by tfcli in the study `{p['study']}`, exported from its best checkpoint (step {p['step']}).",
        "",
    ]
    for section in (_task_and_data, _metrics, _hyperparameters, _training_cost, _provenance_and_use):
        lines += section(config)
    return "\n".join(lines)


def _task_and_data(config: Mapping[str, Any]) -> list[str]:
    tok, data = config["tokenizer"], config["data"]
    lines = [
        "## Task and data",
        "",
        f"- task: {config['task']}",
        f"- data: {data.get('source')} (train {_fmt(data.get('train_size')) or 'all'}, "
        f"valid {_fmt(data.get('valid_size')) or 'all'}, seed {data.get('seed')})",
        f"- tokenizer: {tok.get('kind')}, {tok.get('vocab_size')} tokens"
        + (", lowercased" if tok.get("lowercase") else "")
        + f"; sources up to {tok.get('max_source_length')} tokens",
    ]
    if config.get("labels"):
        lines.append(f"- labels: {', '.join(config['labels'])}")
    return lines


def _metrics(config: Mapping[str, Any]) -> list[str]:
    m, dec = config["metrics"], config["decoding"]
    lines = ["", f"## Metrics (validation, {m.get('examples') or '?'} examples, step {m.get('step')})", "", "| metric | value | signature |", "| --- | --- | --- |"]
    for name, value in m["values"].items():
        signature = m["signatures"].get(name, "").replace("|", "\\|")
        lines.append(f"| {name} | {_fmt(value)} | {signature} |")
    if m.get("test"):
        lines += ["", "Held-out test split (scored after the study; never used to choose): "
                  + ", ".join(f"{name} {_fmt(value)}" for name, value in m["test"].items()) + "."]
    lines += _baseline(m.get("baseline"))
    lines += _confirmed(m.get("confirmed"))
    if "meteor" in m["values"]:
        lines += ["", f"Note: {METEOR_NOTE}"]
    return lines + [
        "",
        f"Decoding: beam size {dec['beam_size']}, length penalty {dec['length_penalty']}, "
        f"at most {dec['max_decode_length']} tokens.",
    ]


def _confirmed(confirmed: Optional[Mapping[str, Any]]) -> list[str]:
    """This configuration across fresh seeds (``tfcli study confirm``), on validation and test."""
    if not confirmed:
        return ["", "Not confirmed across seeds (`tfcli study confirm` retrains the top configurations with fresh seeds)."]
    valid, test = confirmed["valid"], confirmed.get("test")
    line = (
        f"Confirmed across {len(confirmed['seeds'])} fresh seeds: {confirmed['metric']} {_fmt(valid['mean'])} ± {_fmt(valid['std'])} "
        f"on validation (95% CI {_fmt(valid['ci_low'])} to {_fmt(valid['ci_high'])})"
    )
    if test:
        line += f", {_fmt(test['mean'])} ± {_fmt(test['std'])} on test"
    return ["", line + f"; verdict: {confirmed['verdict_text']}."]


def _baseline(baseline: Optional[Mapping[str, Any]]) -> list[str]:
    """The best baseline of the study and this model's margin over it (validation)."""
    if not baseline:
        return ["", "Best baseline: none recorded (the study was run without baselines)."]
    margin = baseline.get("margin")
    if margin is None:
        verdict = "this model has no value to compare"
    elif margin > 0:
        verdict = f"this model is {_fmt(margin)} better"
    else:
        verdict = f"this model does not beat it ({_fmt(abs(margin))} worse)" if margin else "this model only equals it"
    return [
        "",
        f"Best baseline (validation, {baseline.get('metric')}): {baseline.get('baseline')} "
        f"{_fmt(baseline.get('baseline_value'))}; {verdict}.",
    ]


def _hyperparameters(config: Mapping[str, Any]) -> list[str]:
    model, searched = config["model"], config["hyperparameters"]
    lines = ["", "## Hyperparameters", "", "| parameter | value |", "| --- | --- |"]
    for name, value in searched.items():
        lines.append(f"| {name} (searched) | {_fmt(value, 6)} |")
    for name in ("d_model", "heads", "encoder_layers", "decoder_layers", "ffn_dim", "dropout", "positional", "norm"):
        if name in model and f"model.{name}" not in searched:
            lines.append(f"| model.{name} | {_fmt(model[name])} |")
    return lines


def _training_cost(config: Mapping[str, Any]) -> list[str]:
    t = config["training"]
    return [
        "",
        "## Training cost",
        "",
        f"- parameters: {t['parameters'] if t['parameters'] is not None else 'unknown'}",
        f"- steps: {t.get('steps')} (checkpoint at step {t.get('checkpoint_step')})",
        f"- wall time of the trial: {_duration(t.get('duration_s'))}",
        f"- device: {t.get('device')} ({t.get('precision')})",
    ]


def _provenance_and_use(config: Mapping[str, Any]) -> list[str]:
    p = config["provenance"]
    return [
        "",
        "## Provenance",
        "",
        f"- study: {p['study']} (id {p['study_id']})",
        f"- trial: {p['trial_id']}, MLflow run {p['run_id']}",
        f"- tracking URI: {p['tracking_uri']}",
        f"- exported: {p['exported_at']} with tfcli {p['tfcli_version']}",
        "",
        "## Use",
        "",
        "```",
        "tfcli predict THIS_FOLDER --input inputs.txt" + (" # JSONL: {\"context\": ..., \"question\": ...}" if config["task"] == "qa" else ""),
        "```",
        "",
    ]
