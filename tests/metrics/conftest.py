"""Fixtures of the metric tests."""

from __future__ import annotations

import pytest

PUNKT_FILES = ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab")


def _clear_punkt_cache() -> None:
    import nltk.tokenize

    nltk.tokenize._get_punkt_tokenizer.cache_clear()


@pytest.fixture
def punkt_model(tmp_path, monkeypatch):
    """NLTK's Punkt sentence splitter for rouge-score's ``split_summaries``.

    The trained English model (NLTK's ``punkt_tab`` data) is a download this machine may lack;
    where it is missing, NLTK is given an untrained Punkt model (parameter files with nothing
    learned: no abbreviations, collocations or sentence starters), so that rouge-score's own
    ``nltk.sent_tokenize`` path runs. The texts these tests split have no abbreviations: every
    Punkt model splits them at the same periods.
    """
    import nltk

    _clear_punkt_cache()
    if not nltk.tokenize.punkt_model_available():
        english = tmp_path / "tokenizers" / "punkt_tab" / "english"
        english.mkdir(parents=True)
        for name in PUNKT_FILES:
            (english / name).write_text("", encoding="utf-8")
        monkeypatch.setattr(nltk.data, "path", [str(tmp_path), *nltk.data.path])
        _clear_punkt_cache()
    yield
    _clear_punkt_cache()


@pytest.fixture
def no_punkt_model(tmp_path, monkeypatch):
    """NLTK with no Punkt model at all: its data path holds only an empty folder."""
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    _clear_punkt_cache()
    yield
    _clear_punkt_cache()
