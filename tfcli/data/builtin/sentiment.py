"""The ``sentiment`` set (classification): negation, idioms and contrast decide the label."""

from __future__ import annotations

import random

from tfcli.data.examples import ClassificationExample

SENTIMENT_LABELS = ("negative", "mixed", "positive")

_SENT_ASPECTS = (
    "food service movie plot acting staff room price music ending hotel book camera battery "
    "screen app design delivery coffee view trip concert game keyboard soundtrack dialogue"
).split()
_SENT_POS = (
    "good great excellent wonderful pleasant amazing fantastic lovely superb enjoyable "
    "impressive perfect"
).split()
_SENT_NEG = (
    "bad terrible awful poor boring disappointing horrible dreadful weak mediocre annoying dull"
).split()
_SENT_VERB_POS = "liked loved enjoyed admired".split()
_SENT_VERB_NEG = "hated disliked regretted".split()
_SENT_INTENS = "very really quite extremely rather truly".split()


def sentiment_clause(rng: random.Random, polarity: int) -> str:
    """One clause whose polarity (+1 or -1) is ``polarity``, often through a negation."""
    aspect = "the " + rng.choice(_SENT_ASPECTS)
    kind = rng.random()
    negated = rng.random() < 0.45
    base = polarity * (-1 if negated else 1)
    if kind < 0.55:
        adj = rng.choice(_SENT_POS if base > 0 else _SENT_NEG)
        intens = rng.choice(_SENT_INTENS) + " " if rng.random() < 0.3 else ""
        cop = rng.choice(("was", "is", "seemed", "felt"))
        if not negated:
            return f"{aspect} {cop} {intens}{adj}"
        if cop in ("was", "is"):
            neg = rng.choice(("not", "never", "hardly"))
            return f"{aspect} {cop} {neg} {'' if neg == 'hardly' else intens}{adj}"
        verb = {"seemed": "seem", "felt": "feel"}[cop]
        if rng.random() < 0.5:
            return f"{aspect} did not {verb} {intens}{adj}"
        return f"{aspect} never {cop} {intens}{adj}"
    if kind < 0.8:
        verb = rng.choice(_SENT_VERB_POS if base > 0 else _SENT_VERB_NEG)
        subj = rng.choice(("i", "we", "my friends"))
        if negated:
            if rng.random() < 0.5:
                return f"{subj} never {verb} {aspect}"
            return f"{subj} did not {_verb_base(verb)} {aspect}"
        return f"{subj} {verb} {aspect}"
    # idioms: "could have been better" is negative; "could not have been better" positive
    word = rng.choice(("better", "worse"))
    pol = -1 if word == "better" else 1  # without negation
    neg = rng.random() < 0.5
    if neg:
        pol = -pol
    if pol != polarity:
        word = "worse" if word == "better" else "better"
    return f"{aspect} could {'not ' if neg else ''}have been {word}"


def _verb_base(past: str) -> str:
    return {"liked": "like", "loved": "love", "enjoyed": "enjoy", "admired": "admire",
            "hated": "hate", "disliked": "dislike", "regretted": "regret"}[past]


_CONTRAST_FORMS = (
    "{a}, but {b}", "although {a}, {b}", "{b}, although {a}", "{a}. however, {b}", "{a}, yet {b}",
)
_LABEL_NAMES = {-1: "negative", 0: "mixed", 1: "positive"}


def make_sentiment(rng: random.Random) -> ClassificationExample | list[ClassificationExample]:
    """One example; sometimes a minimal pair: the same clauses swapped, the label flipped."""
    form = rng.random()
    if form < 0.2:
        pol = rng.choice((-1, 1))
        return ClassificationExample(sentiment_clause(rng, pol) + ".", _LABEL_NAMES[pol])
    if form < 0.8:  # contrast: the clause after "but"/"however", or the main clause, decides
        second = rng.choice((-1, 1))
        first = -second if rng.random() < 0.85 else second
        c1, c2 = sentiment_clause(rng, first), sentiment_clause(rng, second)
        template = rng.choice(_CONTRAST_FORMS)
        ex = ClassificationExample(template.format(a=c1, b=c2) + ".", _LABEL_NAMES[second])
        if first != second and rng.random() < 0.1:
            twin = ClassificationExample(template.format(a=c2, b=c1) + ".", _LABEL_NAMES[first])
            return [ex, twin]
        return ex
    p1, p2 = rng.choice((-1, 1)), rng.choice((-1, 1))
    text = f"{sentiment_clause(rng, p1)} and {sentiment_clause(rng, p2)}."
    return ClassificationExample(text, _LABEL_NAMES[p1 if p1 == p2 else 0])
