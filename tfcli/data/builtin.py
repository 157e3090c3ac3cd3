"""Built-in generated data sets, one or two per task, and :func:`load_data`.

Every set is generated from rules, deterministically by seed, and built to be learnable by a
small Transformer on a laptop CPU in minutes while leaving room between a weak and a good model:

* ``dates`` (translation): a date written in one of many surface forms, in words or digits
  (``the third of march nineteen ninety-four``, ``March 3rd, 1994``, ``03.03.1994``) → its
  ISO form as separate tokens, ``1994 - 03 - 03``. Copying the source scores nothing.
* ``toylang`` (translation): English-like sentences → an artificial language with SOV word
  order, postpositions, adjectives after the noun (mirrored) and agreement of adjectives
  (gender, number) and verbs (subject gender/number, tense).
* ``headlines`` (summarization): a paragraph with one key event among distractor sentences
  (past events, plans, quotes) → a headline naming who did what, how many, where, with the
  verb in the headline present tense and a person named by role and surname.
* ``sentiment`` (classification, labels ``negative``/``mixed``/``positive``): clauses with
  negation, idioms (``could not have been better``) and contrast (``X, but Y``; ``although X, Y``),
  so the label depends on word order and scope, not on the bag of words.
* ``facts`` (qa): a paragraph about two to four people (birthplace, home, birth year, job,
  employer), with one question about one of them; the answer is a span of the paragraph.

Splits are generated test first, then valid, then train, each from its own random stream,
and no example (same source/text/question and context) appears in two splits. The test and
valid sets for a seed therefore do not change when ``train_size`` changes.
"""

from __future__ import annotations

import datetime as _dt
import functools
import random
from collections.abc import Callable, Hashable

from tfcli.data.examples import (
    ClassificationExample,
    QAExample,
    Seq2SeqExample,
    Splits,
)
from tfcli.data.tasks import TASK_TYPES, TASKS
from tfcli.errors import DataError

#: builtin set name → task type (from the task metadata in :mod:`tfcli.data.tasks`).
BUILTIN_TASKS: dict[str, str] = {
    name: task for task, info in TASKS.items() for name in info.builtin_sets
}

#: (train, valid, test) sizes used when a size is not given. Each trains in minutes on 2 CPU
#: cores with a small model.
DEFAULT_SIZES: dict[str, tuple[int, int, int]] = {
    "dates": (6000, 500, 500),
    "toylang": (8000, 500, 500),
    "headlines": (4000, 300, 300),
    "sentiment": (6000, 500, 500),
    "facts": (5000, 400, 400),
}


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _generate_splits(
    name: str,
    make: Callable[[random.Random], object],
    key: Callable[[object], Hashable],
    sizes: tuple[int, int, int],
    seed: int,
) -> Splits:
    """Draw unique examples: test, then valid, then train, each from its own stream.

    ``make`` returns one example or a list of examples that belong together (kept in order).
    """
    seen: set[Hashable] = set()
    out: dict[str, list] = {}
    for split, n in (("test", sizes[2]), ("valid", sizes[1]), ("train", sizes[0])):
        rng = random.Random(f"tfcli-builtin:{name}:{seed}:{split}")
        got: list = []
        misses = 0
        while len(got) < n:
            made = make(rng)
            for ex in made if isinstance(made, list) else [made]:
                k = key(ex)
                if k in seen:
                    misses += 1
                    if misses > 20 * n + 1000:
                        raise DataError(
                            f"builtin:{name} cannot generate {sum(sizes)} distinct examples; "
                            f"it ran out after {len(seen)}, use smaller sizes"
                        )
                    continue
                if len(got) < n:
                    seen.add(k)
                    got.append(ex)
        out[split] = got
    return Splits(train=out["train"], valid=out["valid"], test=out["test"])


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}


def number_words(n: int) -> str:
    """0..99 in words: ``94`` → ``ninety-four``."""
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def ordinal_words(n: int) -> str:
    """1..99 as an ordinal in words: ``23`` → ``twenty-third``."""
    head, sep, last = number_words(n).rpartition("-")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def ordinal_suffix(n: int) -> str:
    if 11 <= n % 100 <= 13:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


# ---------------------------------------------------------------------------------------------
# dates (translation)

_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_MONTH_ABBR = [m[:3] for m in _MONTHS]
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()


def _year_words(year: int, rng: random.Random) -> str:
    century, rest = divmod(year, 100)
    options = []
    if year >= 2000 and year < 2100:
        options.append("two thousand" + (f" {number_words(rest)}" if rest else ""))
        if rest >= 10:
            options.append(f"twenty {number_words(rest)}")
    else:
        if rest == 0:
            options.append(f"{number_words(century)} hundred")
        elif rest < 10:
            options.append(f"{number_words(century)} oh {number_words(rest)}")
        else:
            options.append(f"{number_words(century)} {number_words(rest)}")
    return rng.choice(options)


def _make_date(rng: random.Random) -> Seq2SeqExample:
    year = rng.randint(1900, 2099)
    month = rng.randint(1, 12)
    days_in_month = (_dt.date(year + month // 12, month % 12 + 1, 1) - _dt.timedelta(days=1)).day
    day = rng.randint(1, days_in_month)
    mname = _MONTHS[month - 1]
    if rng.random() < 0.3:
        mname = mname.capitalize()
    abbr = _MONTH_ABBR[month - 1]
    weekday = _WEEKDAYS[_dt.date(year, month, day).weekday()]
    forms: list[Callable[[], str]] = [
        lambda: f"the {ordinal_words(day)} of {mname} {_year_words(year, rng)}",
        lambda: f"{mname} {ordinal_words(day)}, {_year_words(year, rng)}",
        lambda: f"{mname} the {ordinal_words(day)} {_year_words(year, rng)}",
        lambda: f"{ordinal_suffix(day)} of {mname} {_year_words(year, rng)}",
        lambda: f"{mname} {ordinal_suffix(day)}, {year}",
        lambda: f"{day} {mname} {year}",
        lambda: f"{abbr} {day} {year}",
        lambda: f"{day} {abbr}. {year}",
        lambda: f"{month}/{day}/{year}",
        lambda: f"{day:02d}.{month:02d}.{year}",
        lambda: f"{weekday}, {mname} {day}, {year}",
        lambda: f"{weekday} the {ordinal_words(day)} of {mname}, {year}",
    ]
    source = rng.choice(forms)()
    return Seq2SeqExample(source=source, target=f"{year} - {month:02d} - {day:02d}")


# ---------------------------------------------------------------------------------------------
# toylang (translation)

_TL_NOUNS = (
    "dog cat bird horse cow goat fox rabbit bear lion tiger monkey snake frog duck chicken pig "
    "donkey camel whale farmer teacher doctor student baker singer painter writer soldier sailor "
    "pilot driver nurse king queen prince princess girl boy friend neighbor guest stranger hunter "
    "thief judge lawyer artist dancer poet cook waiter clerk miner tailor book letter apple table "
    "chair house garden river forest road bridge car boat train window door key box bottle cup "
    "plate knife rope ball hat coat shoe bag basket lamp candle stone flower tree field hill "
    "village city market school church tower castle ship wagon bell drum map coin ring clock mirror"
).split()
_TL_PLACES = (
    "house garden river forest road bridge field hill village city market school church tower "
    "castle ship boat train car wagon"
).split()
_TL_ADJECTIVES = (
    "big small old young red blue green black white happy sad tall short brave quiet loud fast "
    "slow angry kind clever lazy rich poor strong weak hungry tired proud wild gentle cold warm "
    "dark bright heavy light clean dirty new ancient strange famous lonely noisy busy calm honest "
    "cruel shy friendly"
).split()
_TL_TRANSITIVE = [
    tuple(pair.split(":"))
    for pair in (
        "see:saw chase:chased follow:followed find:found help:helped watch:watched "
        "carry:carried push:pushed pull:pulled take:took visit:visited paint:painted draw:drew "
        "build:built clean:cleaned open:opened close:closed break:broke buy:bought sell:sold "
        "catch:caught hold:held throw:threw love:loved hate:hated call:called meet:met "
        "teach:taught feed:fed wash:washed kick:kicked lift:lifted hide:hid bring:brought "
        "steal:stole read:read write:wrote fix:fixed touch:touched greet:greeted thank:thanked "
        "protect:protected attack:attacked"
    ).split()
]
_TL_INTRANSITIVE = [
    tuple(pair.split(":"))
    for pair in (
        "sleep:slept run:ran walk:walked sing:sang dance:danced laugh:laughed cry:cried "
        "swim:swam fly:flew jump:jumped wait:waited smile:smiled shout:shouted fall:fell sit:sat "
        "rest:rested work:worked play:played arrive:arrived"
    ).split()
]
_TL_ADVERBS = (
    "quickly slowly quietly loudly happily sadly carefully suddenly often rarely secretly "
    "gladly proudly"
).split()
_TL_PREPOSITIONS = "in on near behind under with beside".split()
_TL_NUMERALS = "two three four five many".split()


def _third_singular(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _plural(noun: str) -> str:
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun == "knife":
        return "knives"
    return noun + "s"


@functools.cache
def _toylang_lexicon() -> dict:
    """The fixed target-language lexicon: the same for every seed."""
    rng = random.Random("tfcli-toylang-lexicon-v1")
    consonants, vowels = "ptkbdgmnlrsvzfh", "aeiou"
    used: set[str] = set()

    def word(syllables: int, end: str = "nrlmkst") -> str:
        while True:
            w = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))
            w += rng.choice(end) if end else ""
            if w not in used:
                used.add(w)
                return w

    # function words are fixed; no content word may collide with them
    used.update({"lo", "la", "li", "un", "una", "kem", "ne"})
    return {
        "noun": {n: (word(rng.choice((1, 2))), rng.choice("mf")) for n in _TL_NOUNS},
        "adj": {a: word(rng.choice((1, 2))) for a in _TL_ADJECTIVES},
        "verb": {v: word(2) for v, _ in _TL_TRANSITIVE + _TL_INTRANSITIVE},
        "adv": {a: word(2, "") + "e" for a in _TL_ADVERBS},
        "prep": {p: word(1, "") for p in _TL_PREPOSITIONS},
        "num": {n: word(1, "") + "i" for n in _TL_NUMERALS},
    }


def _tl_noun_phrase(rng: random.Random, nouns: list[str]) -> tuple[str, str, str, bool]:
    """(english, target, gender, plural) for a random noun phrase."""
    lex = _toylang_lexicon()
    noun = rng.choice(nouns)
    stem, gender = lex["noun"][noun]
    plural = rng.random() < 0.35
    adjs = rng.sample(_TL_ADJECTIVES, rng.choices((0, 1, 2), (0.45, 0.4, 0.15))[0])
    numeral = rng.choice(_TL_NUMERALS) if plural and rng.random() < 0.4 else None
    if plural:
        det = rng.choice(["the", "", "some"] if numeral is None else ["the", ""])
    else:
        det = rng.choice(["the", "a"])
    if det == "a" and (adjs[0] if adjs else noun)[0] in "aeiou":
        det = "an"
    en = [w for w in (det, numeral) if w] + adjs + [_plural(noun) if plural else noun]
    agree = {("m", False): "o", ("f", False): "a", ("m", True): "os", ("f", True): "as"}
    tdet = {
        "the": "li" if plural else ("lo" if gender == "m" else "la"),
        "a": "un" if gender == "m" else "una",
        "an": "un" if gender == "m" else "una",
        "some": "kem",
        "": "",
    }[det]
    tg = [w for w in (tdet,) if w] + [stem + ("en" if plural else "")]
    tg += [lex["adj"][a] + agree[(gender, plural)] for a in reversed(adjs)]
    if numeral:
        tg.append(lex["num"][numeral])
    return " ".join(en), " ".join(tg), gender, plural


def _make_toylang(rng: random.Random) -> Seq2SeqExample:
    lex = _toylang_lexicon()
    animate = _TL_NOUNS[: _TL_NOUNS.index("book")]
    subj_en, subj_tg, gender, plural = _tl_noun_phrase(rng, animate)
    transitive = rng.random() < 0.7
    verb, past = rng.choice(_TL_TRANSITIVE if transitive else _TL_INTRANSITIVE)
    tense = rng.choice(("present", "past", "future"))
    negated = rng.random() < 0.25
    if tense == "present":
        if negated:
            en_verb = f"{'do' if plural else 'does'} not {verb}"
        else:
            en_verb = verb if plural else _third_singular(verb)
    elif tense == "past":
        en_verb = f"did not {verb}" if negated else past
    else:
        en_verb = f"will not {verb}" if negated else f"will {verb}"
    obj_en = obj_tg = pp_en = pp_tg = adv = ""
    if transitive:
        obj_en, obj_tg, _, _ = _tl_noun_phrase(rng, _TL_NOUNS)
    if rng.random() < 0.4:
        prep = rng.choice(_TL_PREPOSITIONS)
        place_en, place_tg, _, _ = _tl_noun_phrase(rng, _TL_PLACES)
        pp_en, pp_tg = f"{prep} {place_en}", f"{place_tg} {lex['prep'][prep]}"
    if rng.random() < 0.3:
        adv = rng.choice(_TL_ADVERBS)
    en = " ".join(w for w in (subj_en, en_verb, obj_en, pp_en, adv) if w)
    suffix = {"present": "", "past": "ek", "future": "or"}[tense]
    agreement = "ant" if plural else ("us" if gender == "m" else "is")
    tg_verb = lex["verb"][verb] + suffix + agreement
    tg = " ".join(
        w
        for w in (subj_tg, pp_tg, obj_tg, lex["adv"][adv] if adv else "", "ne" if negated else "", tg_verb)
        if w
    )
    return Seq2SeqExample(source=en, target=tg)


# ---------------------------------------------------------------------------------------------
# headlines (summarization)

_FIRST_F = (
    "Maria Lena Sara Anna Julia Nora Emma Olivia Grace Chloe Hannah Leila Mei Priya Amara Ines "
    "Clara Rosa Elena Zoe"
).split()
_FIRST_M = (
    "Tom David Omar Lucas Marco Daniel Samuel Jonas Victor Leo Ravi Kenji Hugo Felix Mateo Adam "
    "Ivan Noah Peter Yusuf"
).split()
_LAST = (
    "Park Lopez Novak Okafor Schmidt Rossi Tanaka Kowalski Silva Haddad Nguyen Fischer Moreau "
    "Jensen Costa Patel Berg Walsh Romero Sato Dubois Larsen Mendes Keller Brennan Ortiz Hale "
    "Quinn Varga Lindqvist Adeyemi Chen Murphy Rahman Weber Castillo Marsh Ibarra Hughes Stone"
).split()
_TOWNS = (
    "Riverton Lakeside Millbrook Ashford Bayport Eastwick Fairhaven Glenwood Harborview "
    "Ironbridge Kingsley Larkspur Maplewood Northgate Oakridge Pinehurst Redfield Stonebridge "
    "Thornbury Westmoor Willowdale Brookhaven Clearwater Dunmore Elmstead Foxborough Greenfield "
    "Highcliff Marlow Sandford"
).split()
_COMPANY_A = (
    "Northwind Bluepeak Silverline Greenleaf Redstone Brightwater Ironwood Suncrest Clearpath "
    "Highland Oakmont Starfield Riverbend Goldcrest Westbrook"
).split()
_COMPANY_B = "Foods Motors Energy Bank Systems Logistics Pharma Textiles Airlines Media".split()
_ROLES = "Mayor Governor Minister Senator Director".split()
_ACTIONS = {  # base verb → (past, objects)
    "open": ("opened", "schools clinics libraries stores parks offices".split()),
    "close": ("closed", "schools clinics libraries stores factories offices".split()),
    "hire": ("hired", "workers nurses teachers engineers drivers".split()),
    "cut": ("cut", "jobs routes flights".split()),
    "sell": ("sold", "buildings buses farms hotels".split()),
    "buy": ("bought", "buses farms buildings hotels trucks".split()),
    "approve": ("approved", "homes bridges schools parks".split()),
    "build": ("built", "bridges homes schools towers".split()),
    "donate": ("donated", "computers books ambulances".split()),
}
_TIMES_NOW = "on Monday|on Tuesday|on Wednesday|on Thursday|on Friday|this week|today".split("|")
_TIMES_PAST = "last year|in 2019|two years ago|last spring|in 2015|a decade ago".split("|")
_QUOTES = (
    "This is a great day for {town}|We have waited a long time for this|Nobody expected this"
    "|It is only the beginning|We will keep our promises|People here deserve better"
).split("|")


def _actor(rng: random.Random, exclude: set[str]) -> dict:
    """A person with a role or a company: full mention, short headline mention, pronoun."""
    while True:
        if rng.random() < 0.5:
            female = rng.random() < 0.5
            first = rng.choice(_FIRST_F if female else _FIRST_M)
            last = rng.choice(_LAST)
            role = rng.choice(_ROLES)
            plain = f"{role} {first} {last}"
            full = plain if rng.random() < 0.6 else f"{first} {last}, the {role.lower()},"
            a = {"full": full, "plain": plain, "short": f"{role} {last}",
                 "pronoun": "she" if female else "he", "id": last}
        else:
            name = f"{rng.choice(_COMPANY_A)} {rng.choice(_COMPANY_B)}"
            full = name if rng.random() < 0.7 else f"the company {name}"
            a = {"full": full, "plain": full, "short": name, "pronoun": "the company",
                 "id": name}
        if a["id"] not in exclude:
            exclude.add(a["id"])
            return a


def _event(rng: random.Random, towns: set[str], actors: set[str], objects: set[str]) -> dict:
    base = rng.choice(list(_ACTIONS))
    past, objs = _ACTIONS[base]
    obj = rng.choice([o for o in objs if o not in objects] or objs)
    objects.add(obj)
    town = rng.choice([t for t in _TOWNS if t not in towns])
    towns.add(town)
    return {
        "actor": _actor(rng, actors), "base": base, "past": past, "obj": obj, "town": town,
        "n": rng.choice((rng.randint(2, 20), rng.randint(2, 400))),
    }


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _make_headline(rng: random.Random) -> Seq2SeqExample:
    towns: set[str] = set()
    actors: set[str] = set()
    objects: set[str] = set()
    key = _event(rng, towns, actors, objects)
    a, n, obj, town, past = key["actor"], key["n"], key["obj"], key["town"], key["past"]
    when = rng.choice(_TIMES_NOW)
    full = a["full"]
    lead = rng.choice([
        f"{_cap(when)}, {full} {past} {n} {obj} in {town}.",
        f"{_cap(full)} {past} {n} {obj} in {town} {when}.",
        f"{n} {obj} in {town} were {past} by {a['plain']} {when}.",
        f"In {town}, {full} {past} {n} {obj} {when}.",
        f"{_cap(full)} visited {town} {when}. "
        f"During the visit, {a['pronoun']} {past} {n} {obj} there.",
    ])

    def past_event() -> str:
        e = _event(rng, towns, actors, objects)
        when = _cap(rng.choice(_TIMES_PAST))
        return f"{when}, {e['actor']['full']} {e['past']} {e['n']} {e['obj']} in {e['town']}."

    def plan() -> str:
        e = _event(rng, towns, actors, objects)
        who = _cap(e["actor"]["plain"])
        return f"{who} plans to {e['base']} {e['n']} {e['obj']} in {e['town']} next year."

    def quote() -> str:
        speaker = _actor(rng, actors)["plain"]
        return f'"{rng.choice(_QUOTES).format(town=town)}," said {speaker}.'

    def background() -> str:
        return f"{town} has about {rng.randint(3, 250)},{rng.randint(0, 999):03d} residents."

    def cost() -> str:
        return f"The move will cost about {rng.randint(2, 90)} million dollars."

    def critics() -> str:
        why = rng.choice(["too expensive", "too late", "rushed"])
        return f"Critics in {town} said the plan was {why}."

    kinds = [past_event, plan, quote, background, cost, critics]
    distractors = [f() for f in rng.sample(kinds, rng.randint(2, 4))]
    pos = rng.choice((0, 0, 0, 1, 2)) if len(distractors) >= 2 else 0
    sentences = distractors[:pos] + [lead] + distractors[pos:]
    headline = f"{a['short']} {key['base']}s {n} {obj} in {town}"
    return Seq2SeqExample(source=" ".join(sentences), target=headline)


# ---------------------------------------------------------------------------------------------
# sentiment (classification)

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


def _make_sentiment(rng: random.Random) -> ClassificationExample | list[ClassificationExample]:
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


# ---------------------------------------------------------------------------------------------
# facts (qa)

_CITIES = (
    "Oslo Lima Cairo Lyon Porto Kyoto Quito Dublin Nairobi Krakow Hanoi Austin Perth Bergen "
    "Tunis Accra Seville Geneva Havana Manila Lisbon Bogota Riga Tallinn Dakar Osaka Denver "
    "Malmo Turin Leeds"
).split()
_JOBS = (
    "nurse engineer teacher pilot architect chef lawyer pharmacist journalist librarian dentist "
    "carpenter electrician accountant photographer plumber veterinarian translator firefighter "
    "geologist baker musician farmer surgeon programmer mechanic designer economist biologist "
    "painter"
).split()
_FACTS_QUESTIONS = {
    "born_city": ["Where was {name} born?", "In which city was {name} born?",
                  "What is the birthplace of {name}?"],
    "year": ["When was {name} born?", "In what year was {name} born?"],
    "home": ["Where does {name} live now?", "In which city does {name} live?"],
    "job": ["What does {name} do for a living?", "What is the job of {name}?",
            "What is {name}'s profession?"],
    "employer": ["Who does {name} work for?", "Which company employs {name}?"],
}


class _SpanText:
    """Builds a text from pieces and remembers where tagged pieces start."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.spans: dict[tuple, tuple[int, str]] = {}

    def add(self, text: str, tag: tuple | None = None) -> None:
        if tag is not None and tag not in self.spans:
            self.spans[tag] = (self.length, text)
        self.parts.append(text)
        self.length += len(text)

    def sentence(self, template: list) -> None:
        """``template``: strings, and (text, tag) pairs for answer candidates."""
        if self.parts:
            self.add(" ")
        for piece in template:
            if isinstance(piece, tuple):
                self.add(*piece)
            else:
                self.add(piece)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _make_fact(rng: random.Random) -> QAExample:
    n_people = rng.choice((2, 3, 3))
    cities = rng.sample(_CITIES, 2 * n_people + 1)
    births = rng.sample(range(1940, 1995), n_people)
    moves: list[int] = []
    for b in births:  # a move after the person's 18th birthday, no year used twice
        moves.append(rng.choice([y for y in range(b + 18, b + 30) if y not in births + moves]))
    jobs = rng.sample(_JOBS, n_people)
    firms = rng.sample(
        [f"{a} {b}" for a in _COMPANY_A for b in _COMPANY_B], n_people
    )
    firsts: set[str] = set()
    lasts = rng.sample(_LAST, n_people)
    people = []
    for i in range(n_people):
        female = rng.random() < 0.5
        first = rng.choice([f for f in (_FIRST_F if female else _FIRST_M) if f not in firsts])
        firsts.add(first)
        people.append({
            "name": f"{first} {lasts[i]}", "first": first,
            "pron": "She" if female else "He", "poss": "Her" if female else "His",
            "born_city": cities[2 * i], "home": cities[2 * i + 1], "year": str(births[i]),
            "move": str(moves[i]), "job": jobs[i], "employer": firms[i],
        })
    doc = _SpanText()
    for i, p in enumerate(people):
        name = p["name"]
        def t(attr: str) -> tuple[str, tuple]:
            return (p[attr], (i, attr))
        an = "an" if p["job"][0] in "aeiou" else "a"
        birth = rng.choice([
            [name, " was born in ", t("born_city"), " in ", t("year"), "."],
            ["Born in ", t("year"), " in ", t("born_city"), ", ", name, " grew up there."],
            [name, " was born in ", t("year"), ". ", p["poss"], " hometown is ", t("born_city"), "."],
        ])
        home = rng.choice([
            [p["pron"], " moved to ", t("home"), " in ", p["move"], "."],
            [p["pron"], " has lived in ", t("home"), " since ", p["move"], "."],
            ["Since ", p["move"], ", ", p["first"], " has lived in ", t("home"), "."],
        ])
        work = rng.choice([
            [p["pron"], " works as ", an, " ", t("job"), " for ", t("employer"), "."],
            [p["first"], " is ", an, " ", t("job"), " at ", t("employer"), "."],
            [t("employer"), " employs ", p["first"], " as ", an, " ", t("job"), "."],
        ])
        order = [birth, home, work] if rng.random() < 0.6 else [birth, work, home]
        for s in order:
            doc.sentence(s)
        if rng.random() < 0.2:
            sight = rng.choice(["museums", "harbor", "old bridges", "food markets"])
            doc.sentence([f"{rng.choice(cities)} is known for its {sight}."])
    i = rng.randrange(n_people)
    attr = rng.choice(list(_FACTS_QUESTIONS))
    person = people[i]
    ask_name = person["name"] if rng.random() < 0.7 else person["first"]
    question = rng.choice(_FACTS_QUESTIONS[attr]).format(name=ask_name)
    start, answer = doc.spans[(i, attr)]
    return QAExample(context=doc.text, question=question, answers=(answer,), answer_starts=(start,))


# ---------------------------------------------------------------------------------------------
# Registry and loaders

_MAKERS: dict[str, tuple[Callable[[random.Random], object], Callable[[object], Hashable]]] = {
    "dates": (_make_date, lambda e: e.source),
    "toylang": (_make_toylang, lambda e: e.source),
    "headlines": (_make_headline, lambda e: e.source),
    "sentiment": (_make_sentiment, lambda e: e.text),
    "facts": (_make_fact, lambda e: (e.context, e.question)),
}
assert set(_MAKERS) == set(BUILTIN_TASKS) == set(DEFAULT_SIZES)


def _check_size(what: str, value: int | None, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(f"{what} must be a positive integer, but got {value!r}")
    return value


def load_builtin(
    name: str,
    *,
    train_size: int | None = None,
    valid_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> Splits:
    """Generate the built-in set ``name``; sizes default to :data:`DEFAULT_SIZES`.

    Deterministic by ``seed``; the valid and test sets do not depend on ``train_size``.
    """
    if name.startswith("builtin:"):
        name = name[len("builtin:"):]
    if name not in _MAKERS:
        raise DataError(
            f"unknown builtin data set, expected one of {', '.join(sorted(_MAKERS))}, "
            f"but got {name!r}"
        )
    d_train, d_valid, d_test = DEFAULT_SIZES[name]
    sizes = (
        _check_size("train_size", train_size, d_train),
        _check_size("valid_size", valid_size, d_valid),
        _check_size("test_size", test_size, d_test),
    )
    make, key = _MAKERS[name]
    splits = _generate_splits(name, make, key, sizes, seed)
    if name == "facts":
        for split, examples in splits:
            for j, ex in enumerate(examples):
                examples[j] = QAExample(ex.context, ex.question, ex.answers, ex.answer_starts,
                                        id=f"facts-{split}-{j}")
    return splits


_FILE_KEYS = ("train", "valid", "test", "format", "columns")


def load_data(
    task: str,
    source: str | dict,
    *,
    train_size: int | None = None,
    valid_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> Splits:
    """Load a task's data from ``"builtin:NAME"`` or from files.

    ``source`` is either ``"builtin:NAME"`` (a set made for ``task``) or a mapping with
    ``train`` and optionally ``valid``, ``test``, ``format`` and ``columns`` (see
    :func:`tfcli.data.files.load_files`). With files, a size caps that split at its first
    ``size`` examples (after any valid/test carving).
    """
    if task not in TASK_TYPES:
        raise DataError(f"task must be one of {', '.join(TASK_TYPES)}, but got {task!r}")
    if isinstance(source, str):
        if not source.startswith("builtin:"):
            raise DataError(
                "data must be 'builtin:NAME' or a mapping with train/valid/test file paths, "
                f"but got {source!r}"
            )
        name = source[len("builtin:"):]
        if name in BUILTIN_TASKS and BUILTIN_TASKS[name] != task:
            fits = ", ".join(f"builtin:{n}" for n in TASKS[task].builtin_sets)
            raise DataError(
                f"builtin:{name} is a {BUILTIN_TASKS[name]} data set and cannot be used for "
                f"task {task!r}; use one of {fits}"
            )
        return load_builtin(
            name, train_size=train_size, valid_size=valid_size, test_size=test_size, seed=seed
        )
    if not isinstance(source, dict):
        raise DataError(
            "data must be 'builtin:NAME' or a mapping with train/valid/test file paths, "
            f"but got {source!r}"
        )
    unknown = sorted(set(source) - set(_FILE_KEYS))
    if unknown:
        raise DataError(
            f"data files take the keys {', '.join(_FILE_KEYS)}, but got {', '.join(map(str, unknown))}"
        )
    if not source.get("train"):
        raise DataError(f"data files need a 'train' path, but got {source!r}")
    from tfcli.data.files import load_files

    splits = load_files(
        task,
        train=str(source["train"]),
        valid=str(source["valid"]) if source.get("valid") else None,
        test=str(source["test"]) if source.get("test") else None,
        format=source.get("format"),
        columns=source.get("columns"),
        seed=seed,
    )
    for split, size in (("train", train_size), ("valid", valid_size), ("test", test_size)):
        if size is not None:
            size = _check_size(f"{split}_size", size, 0)
            setattr(splits, split, getattr(splits, split)[:size])
    return splits


__all__ = [
    "BUILTIN_TASKS",
    "DEFAULT_SIZES",
    "SENTIMENT_LABELS",
    "load_builtin",
    "load_data",
]
