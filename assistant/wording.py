"""How messages say numbers, for people: a count with its noun ("1 document", "3 passages") and a large
amount rounded ("2.4k characters"). The CLI, the browser app, the APIs and the progress lines use these."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str = "") -> str:
    """``n`` with its noun, singular for one: "1 document", "2 documents", "0 passages", "1,204 files"."""
    return f"{n:,} {agreeing(n, noun, plural)}"


def agreeing(n: float, noun: str, plural: str = "") -> str:
    """``noun`` as it goes with ``n``: singular for one, else ``plural`` (by default ``noun`` + "s")."""
    return noun if n == 1 else plural or noun + "s"


def amount(n: float) -> str:
    """A count or rate rounded as people read it: "0", "7", "0.5", "282", "2.4k", "438k", "5.2M"."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            scaled = round(n / size, 1)
            return f"{scaled:.1f}{suffix}" if abs(scaled) < 10 else f"{n / size:.0f}{suffix}"
    if n == int(n):
        return str(int(n))
    return f"{n:.1f}" if abs(n) < 10 else f"{n:.0f}"
