"""The ``facts`` set (qa): a paragraph about a few people, one question, a span answer."""

from __future__ import annotations

import random

from tfcli.data.builtin.names import COMPANY_A, COMPANY_B, FIRST_F, FIRST_M, LAST
from tfcli.data.examples import QAExample

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


def make_fact(rng: random.Random) -> QAExample:
    n_people = rng.choice((2, 3, 3))
    cities = rng.sample(_CITIES, 2 * n_people + 1)
    births = rng.sample(range(1940, 1995), n_people)
    moves: list[int] = []
    for b in births:  # a move after the person's 18th birthday, no year used twice
        moves.append(rng.choice([y for y in range(b + 18, b + 30) if y not in births + moves]))
    jobs = rng.sample(_JOBS, n_people)
    firms = rng.sample(
        [f"{a} {b}" for a in COMPANY_A for b in COMPANY_B], n_people
    )
    firsts: set[str] = set()
    lasts = rng.sample(LAST, n_people)
    people = []
    for i in range(n_people):
        female = rng.random() < 0.5
        first = rng.choice([f for f in (FIRST_F if female else FIRST_M) if f not in firsts])
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
