"""The report's warning when a study's valid or test examples also appear in its training data
(counted when the study started: :func:`tfcli.tracking.parent.log_data_summary`)."""

from __future__ import annotations

from typing import Mapping, Optional


def leakage_warning(leaks: Mapping[str, Mapping[str, int]]) -> Optional[str]:
    """One line naming each held-out split that shares inputs with train, or None."""
    parts = []
    for split, kinds in leaks.items():
        total = sum(kinds.values())
        if total:
            detail = ", ".join(f"{n} {kind}" for kind, n in kinds.items() if n)
            parts.append(f"{split} shares {total} example{'s' if total != 1 else ''} with train ({detail})")
    if not parts:
        return None
    return (
        f"{'; '.join(parts)}: scores on them are optimistic; `tfcli data inspect` on the study file "
        "lists the pairs with FILE:LINE"
    )
