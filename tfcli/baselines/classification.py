"""Classification baselines: the majority class, and TF-IDF + logistic regression."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Sequence

from tfcli.data.examples import ClassificationExample

Predict = Callable[[Sequence[ClassificationExample]], list[str]]

#: The TF-IDF features: word unigrams and bigrams, scikit-learn's defaults otherwise
#: (lowercased, its word pattern, smoothed idf, l2-normalised rows).
TFIDF_NGRAMS = (1, 2)
#: Logistic regression: scikit-learn's defaults (lbfgs, L2, C=1) with room to converge.
LOGREG_MAX_ITER = 1000


def majority_label(train: Sequence[ClassificationExample]) -> str:
    """The most frequent training label; a tie goes to the label that sorts first."""
    counts = Counter(e.label for e in train)
    return min(counts, key=lambda label: (-counts[label], label))


def majority_class(train: Sequence[ClassificationExample]) -> tuple[Predict, str]:
    label = majority_label(train)
    return (lambda examples: [label] * len(examples)), f"always {label!r}"


def tfidf_logreg(train: Sequence[ClassificationExample]) -> tuple[Predict, str]:
    """TF-IDF of word 1-2 grams and a logistic regression, fitted on the training texts.

    A training split with one label leaves nothing to learn: it predicts that label.
    """
    labels = [e.label for e in train]
    if len(set(labels)) < 2:
        return majority_class(train)[0], "one training label: always it"
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(ngram_range=TFIDF_NGRAMS), LogisticRegression(max_iter=LOGREG_MAX_ITER))
    model.fit([e.text for e in train], labels)
    vocabulary = len(model.steps[0][1].vocabulary_)

    def predict(examples: Sequence[ClassificationExample]) -> list[str]:
        return [str(label) for label in model.predict([e.text for e in examples])]

    return predict, f"{vocabulary} word 1-2 grams"
