"""The ``dates`` set (translation): a date in one of many surface forms → its ISO form."""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Callable

from tfcli.data.builtin.words import number_words, ordinal_suffix, ordinal_words
from tfcli.data.examples import Seq2SeqExample

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


def make_date(rng: random.Random) -> Seq2SeqExample:
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
