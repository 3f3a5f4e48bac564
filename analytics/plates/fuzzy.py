"""Plate search that forgives what OCR gets wrong: the province character, the characters it
confuses (8/B, 0/D/Q/O, 1/I, 2/Z, 5/S), and one character missing, extra or misread.

Plates are compared on a folded form: the province dropped, each confusable pair written as
one character. Two plates match when their folded forms are at most one edit apart. To find
those among millions of sightings without scanning them, each stored plate is indexed under
its folded form and every form with one character deleted (a symmetric-deletion index, as
SymSpell does): two strings one edit apart always share one of those keys, so a search looks
up the query's keys, then keeps the candidates truly one edit away (two deletions can also
meet at distance 2).
"""

from __future__ import annotations

from analytics.plates.text import PROVINCES

_CONFUSABLE = str.maketrans({"B": "8", "D": "0", "Q": "0", "O": "0", "I": "1", "Z": "2", "S": "5"})


def fold(plate: str) -> str:
    """The folded form of a canonical plate ('皖S12345' → '512345')."""
    body = plate[1:] if plate[:1] in PROVINCES else plate
    return body.upper().translate(_CONFUSABLE)


def plate_keys(plate: str) -> set[str]:
    """The index keys of a canonical plate: its folded form and each one-deletion of it."""
    folded = fold(plate)
    return {folded} | {folded[:i] + folded[i + 1 :] for i in range(len(folded))}


def within_one_edit(a: str, b: str) -> bool:
    """Whether two strings are at most one insertion, deletion or substitution apart."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]  # one substitution at i
    return a[i:] == b[i + 1 :]  # one character of b's left out of a


def plates_match(query: str, stored: str) -> bool:
    return within_one_edit(fold(query), fold(stored))
