"""How catalogue text becomes search terms, the same way for documents and for queries.

PostgreSQL's `simple` configuration splits Latin text into words well, but it keeps a run of
Chinese (or Japanese, or Korean) characters as one "word": `天气预报服务` would be a single
lexeme that the query `天气` never matches. So text is cut into terms here, before PostgreSQL
sees it: words of letters and digits, lowercased; runs of CJK characters become their single
characters and overlapping pairs (`天 气 预 报 天气 气预 预报`), as a CJK bigram analyser does.
A query's CJK run must then match all of its pairs, so `天气预报` finds `…天气预报…` and not
`天气` and `预报` far apart. Documents are stored as the space-joined terms, so the parser only
ever sees plain words and cannot split them differently from the query.
"""

from __future__ import annotations

import re

#: Letters and digits of any script (`_` is a separator, as it is for PostgreSQL's parser).
_WORD = re.compile(r"[^\W_]+")
#: Scripts written without spaces between words: CJK ideographs, kana, hangul syllables.
_CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]+"
)
#: At most this many query terms are matched; the rest of a very long query is ignored.
MAX_QUERY_TERMS = 16
#: PostgreSQL refuses lexemes over 2 KiB; no real word is this long.
MAX_TERM = 100


def _pieces(text: str) -> list[tuple[str, bool]]:
    """(piece, is_cjk) for every word of `text`, with CJK runs cut out of mixed words."""
    pieces: list[tuple[str, bool]] = []
    for word in _WORD.findall(text.lower()):
        at = 0
        for run in _CJK.finditer(word):
            if run.start() > at:
                pieces.append((word[at : run.start()], False))
            pieces.append((run.group(), True))
            at = run.end()
        if at < len(word):
            pieces.append((word[at:], False))
    return pieces


def _pairs(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def document_terms(text: str) -> str:
    """Indexed form of a field: words, plus every CJK character and pair, space-joined."""
    terms: list[str] = []
    for piece, cjk in _pieces(text):
        if cjk:
            terms.extend(piece)
            terms.extend(_pairs(piece))
        elif len(piece) <= MAX_TERM:
            terms.append(piece)
    return " ".join(terms)


def query_terms(text: str) -> list[str]:
    """Terms a query must all match: words (as prefixes), CJK pairs (or a lone character)."""
    terms: list[str] = []
    for piece, cjk in _pieces(text):
        if cjk:
            terms.extend(_pairs(piece) if len(piece) > 1 else [piece])
        else:
            terms.append(piece[:MAX_TERM])
    unique = list(dict.fromkeys(terms))
    return unique[:MAX_QUERY_TERMS]


def tsquery(terms: list[str]) -> str | None:
    """A `tsquery` literal requiring every term; words match as prefixes (`weath` → weather).

    Terms hold only letters and digits, so quoting them cannot break out of the literal.
    """
    if not terms:
        return None
    return " & ".join(f"'{term}':*" for term in terms)


def normalize_query(text: str) -> str:
    """The query as compared with names and titles: lowercased, spaces collapsed."""
    return " ".join(text.lower().split())
