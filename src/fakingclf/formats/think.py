"""The ``<think>`` dialect (DeepSeek-R1, QwQ and most open reasoning models).

Not a record layout of its own: ``<think>`` text arrives in a ``text`` field, a
``response``, or a chat message's content, and :mod:`fakingclf.formats.markup` reads it
there. This module holds the two rules of the dialect:

* ``<think>`` and ``<thinking>`` open a scratchpad block, as ``<SCRATCHPAD_REASONING>`` does;
* a closing ``</think>`` whose opening tag is missing (chat templates that put the
  opening tag in the prompt) closes a block that began at the start of the text.

The answer after ``</think>`` with no ``<OUTPUT>`` tag is the final output; that rule is
the same for every scratchpad tag and lives in :func:`fakingclf.formats.markup.parse_text`.
"""

from __future__ import annotations

import re
from typing import Optional

NAMES = ("think", "thinking")

UNOPENED_WARNING = "scratchpad closing tag without an opening tag; text before it read as scratchpad"


def unopened_block(body: str, close: re.Pattern) -> Optional[tuple[str, int]]:
    """The scratchpad of a text whose first scratchpad tag is a closing one.

    Parameters
    ----------
    body : str
        The text, with no opening scratchpad tag in it.
    close : re.Pattern
        Matches any closing scratchpad tag (``</think>``, ``</SCRATCHPAD_REASONING>``).

    Returns
    -------
    (str, int) or None
        The text before the first closing tag (stripped) and the offset just after
        that tag; None when there is no closing tag.
    """
    m = close.search(body)
    if m is None:
        return None
    return body[: m.start()].strip(), m.end()
