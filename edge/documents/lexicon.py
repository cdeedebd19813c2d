"""Post-OCR repair of a bill's vendor and address: known words and address separators.

- ``Lexicon``: the words met in the training bills' vendors and addresses (with their counts)
  and the character confusions the OCR made on them (``I`` read for ``L``, ``O`` for ``D``...),
  both learned by ``models/toolkit/documents/lexicon.py`` from the training split only. A word
  the lexicon does not know is replaced by the one known word it becomes through those
  confusions or by dropping an accent (``TASÍK`` -> ``TASIK``), position by position; never when
  two known words fit about as well, never a word of fewer than 3 characters. Words of other
  regions are left alone: a German street or a French vendor becomes a Malaysian word only if it
  differs from one in a confusable character only, which the evaluation counts.
- ``address_separators``: thermal print's comma and full stop differ by a tail the recogniser
  often misses; between address parts the training addresses print a comma 869 times to 69 full
  stops, 59 of those after an abbreviation (``NO.``, ``P.T.``). A full stop that ends a word
  before the next part becomes a comma unless the word is an abbreviation."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

LEXICON_FILE = "bill_lexicon.json"
MIN_LEN = 3
WORD = re.compile(r"[^\W_]+")
ABBREVIATIONS = frozenset({"NO", "NR", "NUM", "LOT", "BLK", "APT", "CO", "PT", "ST", "STR", "RD",
                           "AVE", "DR", "JLN", "TMN", "KG", "BT", "LT", "SG", "BDR", "SDN",
                           "BHD", "MR", "MRS"})
_STOP = re.compile(r"(\S+)\.(\s+)(?=[^\W_])")
_REPEATED_STOP = re.compile(r"\.{2,}")


def fold_accent(c: str) -> str:
    return unicodedata.normalize("NFKD", c)[0]


@dataclass(frozen=True)
class Lexicon:
    words: dict[str, int] = field(default_factory=dict)
    confusions: frozenset[tuple[str, str]] = frozenset()   # (as read, as printed)

    @classmethod
    def load(cls, folder: str | Path, entry: dict | None) -> "Lexicon":
        """The lexicon the bundle's manifest names (its ``bill_lexicon`` entry), or an empty one
        (no repair) where it names none."""
        if not entry:
            return cls()
        path = Path(folder) / entry.get("file", LEXICON_FILE)
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls({str(w): int(n) for w, n in d["words"].items()},
                   frozenset((str(a), str(b)) for a, b in d["confusions"]))

    def to_json(self) -> dict:
        return {"words": dict(sorted(self.words.items())),
                "confusions": sorted(list(p) for p in self.confusions)}

    def _fits(self, read: str, known: str) -> bool:
        return len(read) == len(known) and all(
            a == b or (a, b) in self.confusions or fold_accent(a) == b
            for a, b in zip(read, known))

    def word(self, token: str) -> str:
        """``token`` (upper case), or the known word it was misread from."""
        if len(token) < MIN_LEN or token in self.words or not any(c.isalpha() for c in token):
            return token
        fits = sorted(((n, w) for w, n in self.words.items() if self._fits(token, w)),
                      reverse=True)
        if not fits or len(fits) > 1 and fits[1][0] * 2 > fits[0][0]:
            return token
        return fits[0][1]

    def correct(self, text: str) -> str:
        if not self.words:
            return text
        return WORD.sub(lambda m: self.word(m.group(0)), text)


def address_separators(text: str) -> str:
    """Full stops between address parts read as the commas they mostly are (see the module)."""
    def comma(m: re.Match) -> str:
        last = re.split(r"[^\w]", m.group(1))[-1].upper()
        if last in ABBREVIATIONS or (len(last) <= 2 and last.isalpha()):
            return m.group(0)
        return f"{m.group(1)},{m.group(2)}"
    return _STOP.sub(comma, _REPEATED_STOP.sub(".", text))
