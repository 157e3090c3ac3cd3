"""The ``toylang`` set (translation): English-like sentences → an artificial SOV language."""

from __future__ import annotations

import functools
import random

from tfcli.data.examples import Seq2SeqExample

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


def make_toylang(rng: random.Random) -> Seq2SeqExample:
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
