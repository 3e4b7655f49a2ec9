"""Names made safe for a terminal before they are printed.

Data set, class, case and file names come from the user's files: a class name holding
ESC or OSC sequences would drive the terminal (change its title, hide lines, write a
link), a bidi override would show a name reversed, and an undecodable file name (a
lone surrogate from ``os.fsdecode``) would make ``print`` itself fail.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped as ``\\xNN``, ``\\uNNNN`` or
    ``\\UNNNNNNNN``: C0 and C1 controls (ESC, BEL, newline, tab...), format characters
    (bidi overrides, zero-width ones), line and paragraph separators, spaces other than
    the ASCII space, surrogates and unassigned code points. Letters of every script,
    marks, digits, punctuation and symbols stay as they are; a backslash stays a single
    backslash (Windows paths stay readable)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
