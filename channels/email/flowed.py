"""Undoes RFC 3676 format=flowed: soft line breaks joined, space-stuffing removed."""

from __future__ import annotations


def unflow(text: str, *, delsp: bool = False) -> str:
    """RFC 3676 format=flowed text with its soft line breaks joined and space-stuffing undone."""
    out: list[str] = []
    paragraph: list[str] = []
    paragraph_depth = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content[1:] if content.startswith(" ") else content
        if paragraph and depth != paragraph_depth:
            out.append(_quoted(paragraph_depth, "".join(paragraph)))
            paragraph = []
        paragraph_depth = depth
        if content.endswith(" ") and content != "-- ":
            paragraph.append(content[:-1] if delsp else content)
            continue
        out.append(_quoted(depth, "".join(paragraph) + content))
        paragraph = []
    if paragraph:
        out.append(_quoted(paragraph_depth, "".join(paragraph)))
    return "\n".join(out)


def _quoted(depth: int, content: str) -> str:
    if not depth:
        return content
    return ">" * depth + (" " + content if content else "")
