"""Small rules of English that messages built from values need."""

from __future__ import annotations


def with_article(word: str) -> str:
    """`word` after `a` or `an`, as it is said: `an active`, `a new`, `a set-fleet`.

    By its first letter, which is right for every word simops puts there (SIM statuses and
    campaign actions); `a` for anything that does not start with a vowel.
    """
    article = "an" if word[:1].lower() in ("a", "e", "i", "o", "u") else "a"
    return f"{article} {word}"
