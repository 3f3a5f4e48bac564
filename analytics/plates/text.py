"""Chinese plate text: normalise what OCR read into the canonical plate, or reject it.

Formats (GA 36): province character, issuing-authority letter, then
- 5 characters (letters without I/O, digits; the last may be 挂 学 警 港 澳) — blue/yellow;
- 6 characters for new-energy (green) plates: D or F then 5 (small cars: 皖AD12345) or
  5 digits then D or F (large vehicles: 皖A12345D).
Canonical text has no separator ("皖S12345"); `display` adds the dot ("皖S·12345").
"""

from __future__ import annotations

import re

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTER = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are never issued
_ALNUM = LETTER + "0123456789"
_STANDARD = re.compile(f"^[{PROVINCES}][{LETTER}][{_ALNUM}]{{4}}[{_ALNUM}挂学警港澳]$")
_NEW_ENERGY_SMALL = re.compile(f"^[{PROVINCES}][{LETTER}][DF][{_ALNUM}][0-9]{{4}}$")
_NEW_ENERGY_LARGE = re.compile(f"^[{PROVINCES}][{LETTER}][0-9]{{5}}[DF]$")
# OCR confusions: I/O are never on plates, so read them as 1/0 after the authority letter.
_AFTER_LETTER = str.maketrans({"O": "0", "I": "1", "Q": "0"})
_SEPARATORS = re.compile(r"[\s·•.\-_:：,，。]")


def plate_kind(text: str) -> str | None:
    """'standard', 'new_energy' or None when `text` (canonical) is not a plate."""
    if _NEW_ENERGY_SMALL.match(text) or _NEW_ENERGY_LARGE.match(text):
        return "new_energy"
    if _STANDARD.match(text):
        return "standard"
    return None


def normalise_plate(raw: str) -> str | None:
    """Canonical plate text from an OCR reading, or None if it cannot be a plate."""
    s = _SEPARATORS.sub("", raw).upper()
    # OCR sometimes adds stray characters before the province (frame edges, rivets).
    start = next((i for i, ch in enumerate(s) if ch in PROVINCES), None)
    if start is None:
        return None
    s = s[start:]
    if len(s) < 7:
        return None
    s = s[:2] + s[2:].translate(_AFTER_LETTER)
    for length in (8, 7):  # prefer the longer (new-energy) reading when both fit
        if len(s) >= length and plate_kind(s[:length]) is not None:
            return s[:length]
    return None


def loose_plate(raw: str) -> str | None:
    """A partial reading for an OCR-tolerant search: separators dropped, upper case, 5 to 9
    plate characters (a province optional); None otherwise."""
    s = _SEPARATORS.sub("", raw).upper()
    allowed = PROVINCES + _ALNUM + "IO挂学警港澳"
    return s if 5 <= len(s) <= 9 and all(ch in allowed for ch in s) else None


def display(text: str) -> str:
    return f"{text[:2]}·{text[2:]}"
