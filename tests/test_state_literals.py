"""Issue 24, acceptance 5 (the state half): a trial's state is spelled in one module.

MLflow's run statuses and Ray's trial statuses appear as string literals only in
``tfcli/records/state.py``; elsewhere a state word is never compared, assigned or passed as a
literal: code reads :class:`~tfcli.records.state.TrialState` and asks
:func:`~tfcli.records.state.decide_state`. (Column names and dict keys that merely name a
count, such as a report's ``finished`` column, are not states and are not looked at.)
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "tfcli"
STATE_MODULE = "records/state.py"

#: MLflow's run statuses and Ray Tune's trial statuses.
STATUS_WORDS = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED", "PENDING", "PAUSED", "TERMINATED", "ERROR"}
#: The words every view prints.
STATE_WORDS = {"running", "finished", "stopped", "failed", "killed"}

#: (file, where): the literals that are not a trial's state, and why.
NOT_STATES = {
    ("cluster/jobs.py", "FAILED"): "a Ray Job's status (SUCCEEDED, FAILED, STOPPED), not a trial's",
    ("tracking/tags.py", "PHASE_RUNNING"): "a study's phase (starting, running), not a trial's state",
}


def _literals(tree: ast.AST, words: set[str]):
    """(line, word, where) of each state literal that is compared, assigned, returned or passed."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            values = [node.left, *node.comparators]
            values += [e for v in values if isinstance(v, (ast.Tuple, ast.List, ast.Set)) for e in v.elts]
            where = "comparison"
        elif isinstance(node, ast.Assign):
            values = [node.value]
            where = next((t.id for t in node.targets if isinstance(t, ast.Name)), "assignment")
        elif isinstance(node, ast.Call):
            values = [*node.args, *(k.value for k in node.keywords)]
            where = "call"
        elif isinstance(node, ast.Return):
            values = [node.value]
            where = "return"
        elif isinstance(node, ast.IfExp):
            values = [node.body, node.orelse]
            where = "expression"
        else:
            continue
        for value in values:
            if isinstance(value, ast.Constant) and value.value in words:
                yield value.lineno, value.value, where


def _every_constant(tree: ast.AST, words: set[str]):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in words:
            yield node.lineno, node.value, node.value


def offenders(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name == STATE_MODULE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, word, where in [*_every_constant(tree, STATUS_WORDS), *_literals(tree, STATE_WORDS)]:
            if (name, where) not in NOT_STATES:
                found.append(f"tfcli/{name}:{line}: {word!r} ({where})")
    return found


def test_no_state_literal_outside_the_state_module():
    assert offenders() == []


def test_the_check_bites(tmp_path):
    """It finds each kind of literal it is for, and leaves names of counts alone."""
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "state.py").write_text('RUNNING = "RUNNING"\nWORD = "running"\n')
    (tmp_path / "views.py").write_text(
        'def f(run, state):\n'
        '    if run.info.status == "FINISHED":\n'
        '        client.set_terminated(run, "KILLED")\n'
        '    if state in ("stopped", "failed"):\n'
        '        return "killed"\n'
        '    ray = trial.status != "PAUSED"\n'
        '    columns = ["trial", "finished"]\n'
        '    return {"finished": 1}\n'
    )
    assert sorted(offenders(tmp_path)) == sorted([
        "tfcli/views.py:2: 'FINISHED' (FINISHED)",
        "tfcli/views.py:3: 'KILLED' (KILLED)",
        "tfcli/views.py:6: 'PAUSED' (PAUSED)",
        "tfcli/views.py:4: 'stopped' (comparison)",
        "tfcli/views.py:4: 'failed' (comparison)",
        "tfcli/views.py:5: 'killed' (return)",
    ])
