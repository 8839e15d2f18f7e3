"""Text helpers without a model: accent folding, search terms and pt-BR / English detection.

Search and the offline rules share one notion of a "word" so that what the index folds
(FTS5 `unicode61 remove_diacritics 2`) and what the rules compare are the same thing.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Words that say nothing about *what* is asked; dropping them keeps "quanto custa o hidratante?"
# from matching every product whose description contains "o".
STOPWORDS = frozenset(
    """
    a o as os um uma uns umas de do da dos das em no na nos nas para pra pro por pelo pela com sem
    e ou que qual quais quanto quanta quantos quantas custa custam preco precos valor valores
    voce voces vcs vc tem tenho temos ter eu me meu minha mim se como onde quando e ser sao esta
    estao isso esse essa este aqui ai la ola oi bom boa dia tarde noite favor gostaria queria quero
    saber pode posso podem poderia vende vendem vender algum alguma alguns algumas produto produtos
    mais muito sobre ja nao sim obrigado obrigada tudo bem certo entao seu sua seus suas ao aos
    the an of in on at for to with and or what which who how much many is are was do does did you your
    i me my we our have has had price prices cost costs sell any can could please hi hello hey there
    about want would like know it its this that these those be get buy
    """.split()
)

_PT_MARKERS = frozenset(
    """
    o os as um uma de do da dos das em no na para pra por com sem e que qual quais quanto quanta
    voce voces vcs tem ola oi obrigado obrigada bom boa dia tarde noite quero queria gostaria pode
    posso preco custa horario agendar marcar entrega frete nao sim tudo bem onde fica aceitam
    produto produtos cancelar atendente pessoa falar segundo primeiro terceiro opcao
    """.split()
)
_EN_MARKERS = frozenset(
    """
    the a an of in on for to with what which how much many is are do does you your i my we hello
    hi hey thanks thank please price cost want would like can could book appointment delivery
    shipping return refund where open hours human agent person talk speak yes no cancel second
    first third option available have any
    """.split()
)


def fold(text: str) -> str:
    """Lower case without accents: "Hidratação" → "hidratacao" (matches FTS5 remove_diacritics)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def stem(word: str) -> str:
    """A deliberately crude stem: drop a plural ending, keep at most 5 letters for long words.

    Portuguese inflects a lot (entregam/entrega/entregas); comparing the first five letters of
    long words as a prefix catches most of it without a stemmer dependency.
    """
    if len(word) > 4 and word.endswith("es") and not word.endswith("ses"):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:5] if len(word) > 5 else word


def search_terms(text: str) -> list[str]:
    """The distinct stems worth searching for, in order of appearance."""
    out: list[str] = []
    for word in words(text):
        if len(word) < 2 or word in STOPWORDS or word.isdigit():
            continue
        term = stem(word)
        if term not in out:
            out.append(term)
    return out


def fts_query(terms: list[str]) -> str:
    """FTS5 MATCH text: every term as a quoted prefix, OR-ed (bm25 ranks fuller matches first)."""
    return " OR ".join(f'"{t}"*' for t in terms)


def detect_language(text: str, default: str = "pt-BR") -> str:
    """ "pt-BR" or "en" by counting marker words; a tie or no evidence keeps `default`."""
    if re.search(r"[ãõçáéíóúâêô]", text.lower()):
        return "pt-BR"
    tokens = words(text)
    pt = sum(1 for t in tokens if t in _PT_MARKERS)
    en = sum(1 for t in tokens if t in _EN_MARKERS)
    if pt > en:
        return "pt-BR"
    if en > pt:
        return "en"
    return default
