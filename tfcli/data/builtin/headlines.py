"""The ``headlines`` set (summarization): a paragraph with one key event → its headline."""

from __future__ import annotations

import random

from tfcli.data.builtin.names import COMPANY_A, COMPANY_B, FIRST_F, FIRST_M, LAST
from tfcli.data.examples import Seq2SeqExample

_TOWNS = (
    "Riverton Lakeside Millbrook Ashford Bayport Eastwick Fairhaven Glenwood Harborview "
    "Ironbridge Kingsley Larkspur Maplewood Northgate Oakridge Pinehurst Redfield Stonebridge "
    "Thornbury Westmoor Willowdale Brookhaven Clearwater Dunmore Elmstead Foxborough Greenfield "
    "Highcliff Marlow Sandford"
).split()
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
            first = rng.choice(FIRST_F if female else FIRST_M)
            last = rng.choice(LAST)
            role = rng.choice(_ROLES)
            plain = f"{role} {first} {last}"
            full = plain if rng.random() < 0.6 else f"{first} {last}, the {role.lower()},"
            a = {"full": full, "plain": plain, "short": f"{role} {last}",
                 "pronoun": "she" if female else "he", "id": last}
        else:
            name = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}"
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


def make_headline(rng: random.Random) -> Seq2SeqExample:
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
