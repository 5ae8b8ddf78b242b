#!/usr/bin/python3
"""Generate cron test cases and their expected fire times from croniter.

Writes two files into OUTDIR:
  cases.tsv     EXPRESSION<TAB>FROM<TAB>COUNT per line, the input of
                `agora schedule next --batch`
  expected.txt  one line per case: COUNT fire times (ISO 8601 UTC) separated
                by spaces, or "error" when croniter rejects the expression or
                finds no fire time. A tab and the case's class (below)
                follow.

The cases are random but reproducible (fixed seed). They mix '*', lists,
ranges, steps, month and weekday names in random case, 7 for Sunday, both
day fields restricted, month ends, leap days (start times around February
28/29 of 2024, 2028 and 2100) and December 31.

Every croniter result is checked against a day-by-day scan that uses
croniter's own field expansion (croniter.expand), so it shares croniter's
reading of the syntax but not its search. croniter 1.3.5 has two known
search faults, and the class column of expected.txt marks the cases they
touch ("croniter" for all others):
  croniter-skips    a day-of-month list with a day that the current month
                    lacks (31 in February) makes croniter jump past the end
                    of the month and skip the first days of the next one;
                    the expected times are the scan's
  croniter-rejects  both day fields are restricted and the day-of-month
                    field alone can never fire in the selected months;
                    croniter raises instead of firing on the weekdays, and
                    agora rejects such an expression too, so the expected
                    line is "error"

Run with the Debian interpreter, which has python3-croniter (1.3.5 on
Debian 12): /usr/bin/python3 cron_oracle.py OUTDIR [CASES]
Prints how many cases fell in each class.
"""
import datetime
import os
import random
import sys

from croniter import croniter
from croniter.croniter import CroniterError

SEED = 20260304
COUNT = 3

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun",
          "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

# (min, max, names or None, first named value)
FIELDS = [
    (0, 59, None, 0),
    (0, 23, None, 0),
    (1, 31, None, 0),
    (1, 12, MONTHS, 1),
    (0, 7, WEEKDAYS, 0),
]


def random_case(rng, word):
    """Return word in lower, upper or title case."""
    return rng.choice([word.lower(), word.upper(), word.title()])


def value_text(rng, field, value):
    """Write value as a number or, in the month and weekday fields, a name."""
    low, high, names, first = FIELDS[field]
    if names is not None and rng.random() < 0.4:
        index = value - first
        if field == 4 and value == 7:
            index = 0
        return random_case(rng, names[index])
    return str(value)


def random_element(rng, field):
    low, high, names, first = FIELDS[field]
    kind = rng.choice(["value", "value", "range", "star_step", "range_step",
                       "start_step"])
    if kind == "value":
        return value_text(rng, field, rng.randint(low, high))
    if kind == "star_step":
        return "*/%d" % rng.randint(1, max(2, (high - low) // 2 + 2))
    a = rng.randint(low, high)
    b = rng.randint(a, high)
    if kind == "range":
        return "%s-%s" % (value_text(rng, field, a), value_text(rng, field, b))
    step = rng.randint(1, max(2, (high - low) // 3))
    if kind == "range_step":
        return "%s-%s/%d" % (value_text(rng, field, a),
                             value_text(rng, field, b), step)
    # "a/n", which croniter reads as a-max/n. Names are fine here too.
    return "%s/%d" % (value_text(rng, field, a), step)


def random_field(rng, field):
    roll = rng.random()
    if roll < 0.3:
        return "*"
    if roll < 0.75:
        return random_element(rng, field)
    return ",".join(random_element(rng, field) for _ in range(rng.randint(2, 4)))


def special_days(rng):
    """Day fields that hit month ends, leap days and the OR rule."""
    return rng.choice([
        ("29", "2", "*"),
        ("29", "feb", "*"),
        ("28,29", "2", "*"),
        ("31", "*", "*"),
        ("30,31", "*", "*"),
        ("31", "1,3,5,7,8,10,12", "*"),
        ("31", "dec", "*"),
        ("1", "*", "7"),
        ("13", "*", "fri"),
        ("29", "2", "1"),
        ("29", "2", "sun"),
        ("*/2", "*", "mon"),
        ("*/1", "*", "mon"),
        ("1-31", "*", "Sun"),
        ("15", "*", "*/2"),
        ("25-31", "*", "5-0"),
        ("1,15", "*", "sat-sun"),
        ("*", "*", "1/2"),
        ("31", "4-12", "*"),
        ("30", "1-3", "*"),
    ])


def random_expression(rng):
    fields = [random_field(rng, i) for i in range(5)]
    roll = rng.random()
    if roll < 0.25:
        fields[2], fields[3], fields[4] = special_days(rng)
    elif roll < 0.45:
        # Both day fields restricted: the OR rule.
        fields[2] = random_element(rng, 2)
        fields[4] = random_element(rng, 4)
    if rng.random() < 0.3:
        fields[0] = str(rng.randint(0, 59))
        fields[1] = rng.choice([str(rng.randint(0, 23)), fields[1]])
    return " ".join(fields)


def random_start(rng):
    utc = datetime.timezone.utc
    roll = rng.random()
    if roll < 0.35:
        year = rng.choice([2024, 2028, 2100, 2096, 2099])
        base = datetime.datetime(year, 2, 27, tzinfo=utc)
        return base + datetime.timedelta(seconds=rng.randint(0, 3 * 86400))
    if roll < 0.5:
        year = rng.randint(2020, 2040)
        base = datetime.datetime(year, 12, 31, 22, 0, tzinfo=utc)
        return base + datetime.timedelta(seconds=rng.randint(0, 3 * 3600))
    if roll < 0.65:
        year = rng.randint(2020, 2040)
        month = rng.randint(1, 12)
        first_next = datetime.datetime(year + (month == 12), month % 12 + 1, 1,
                                       tzinfo=utc)
        return first_next - datetime.timedelta(seconds=rng.randint(1, 2 * 86400))
    start = datetime.datetime(2020, 1, 1, tzinfo=utc)
    return start + datetime.timedelta(seconds=rng.randint(0, 20 * 366 * 86400))


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def croniter_times(expression, start):
    """Return COUNT chained croniter fire times as datetimes, or None."""
    try:
        it = croniter(expression, start.timestamp())
        return [datetime.datetime.fromtimestamp(it.get_next(float),
                                                datetime.timezone.utc)
                for _ in range(COUNT)]
    except (CroniterError, ValueError):
        return None


def scan_times(expression, start):
    """Return COUNT fire times found by scanning day by day, or None.

    Uses croniter.expand for the field values and croniter's rule for the
    day fields: a field expanded to ['*'] is unrestricted, and when both
    are restricted a day matches if either does.
    """
    try:
        expanded, _ = croniter.expand(expression)
    except (CroniterError, ValueError):
        return None
    minute, hour, day, month, weekday = (
        None if values == ["*"] else set(values) for values in expanded)

    def day_matches(date):
        if month is not None and date.month not in month:
            return False
        by_day = day is None or date.day in day
        by_weekday = weekday is None or date.isoweekday() % 7 in weekday
        if day is not None and weekday is not None:
            return by_day or by_weekday
        return by_day and by_weekday

    times = []
    moment = start
    for _ in range(COUNT):
        # The first whole minute strictly after moment.
        candidate = (moment.replace(second=0, microsecond=0) +
                     datetime.timedelta(minutes=1))
        date = candidate.date()
        found = None
        for _ in range(9 * 366):
            if day_matches(date):
                for h in range(24):
                    if hour is not None and h not in hour:
                        continue
                    for m in range(60):
                        if minute is not None and m not in minute:
                            continue
                        t = datetime.datetime(date.year, date.month, date.day,
                                              h, m, tzinfo=datetime.timezone.utc)
                        if t >= candidate:
                            found = t
                            break
                    if found:
                        break
            if found:
                break
            date += datetime.timedelta(days=1)
        if found is None:
            return times or None
        times.append(found)
        moment = found
    return times


def expected_case(expression, start):
    """Return (expected line, class) for one case."""
    by_croniter = croniter_times(expression, start)
    by_scan = scan_times(expression, start)
    if by_croniter == by_scan:
        line = "error" if by_croniter is None else " ".join(map(iso, by_croniter))
        return line, "croniter"
    if by_croniter is None:
        return "error", "croniter-rejects"
    if by_scan is None or len(by_scan) < COUNT:
        sys.exit("croniter found %s for '%s' from %s but the scan did not"
                 % (by_croniter, expression, iso(start)))
    return " ".join(map(iso, by_scan)), "croniter-skips"


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: cron_oracle.py OUTDIR [CASES]")
    outdir = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) == 3 else 2400
    rng = random.Random(SEED)
    classes = {"croniter": 0, "croniter-skips": 0, "croniter-rejects": 0}
    with open(os.path.join(outdir, "cases.tsv"), "w") as cases, \
            open(os.path.join(outdir, "expected.txt"), "w") as expected:
        for _ in range(total):
            expression = random_expression(rng)
            start = random_start(rng)
            line, kind = expected_case(expression, start)
            classes[kind] += 1
            cases.write("%s\t%s\t%d\n" % (expression, iso(start), COUNT))
            expected.write("%s\t%s\n" % (line, kind))
    print(" ".join("%s=%d" % item for item in classes.items()))


if __name__ == "__main__":
    main()
