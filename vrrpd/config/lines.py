"""Where a key is in a TOML file: the line an error names (``vrrpd.toml:12: vrrp_instance[0].priority``).

``tomllib`` returns values without positions, so this reads the text once more, line by line, and notes
where each table header and each key starts. It is a locator, not a parser: the text has already been
parsed by ``tomllib``, so it only needs to follow headers, keys, strings and brackets well enough to
skip multi-line values. Whatever it cannot place (a key only the environment set, a key in an inline
table it does not descend into) gets the nearest enclosing key or table header, else no line at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

Path = tuple[str | int, ...]
_LAST = re.compile(r"(?:\[\d+\]|\.[^.\[\]]+)$")  # the last step of a key path: "[3]" or ".name"

_BARE = r"[A-Za-z0-9_-]+"
_KEY_PART = rf'(?:{_BARE}|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY_PART)


def _parts(dotted: str) -> list[str]:
    out = []
    for match in _PART.finditer(dotted):
        part = match.group(0)
        out.append(part[1:-1] if part[:1] in "\"'" else part)
    return out


def _depth_change(value: str, state: list[str]) -> int:
    """How much ``value`` (the rest of a line) opens brackets, skipping strings and comments.

    ``state`` holds the multi-line string delimiter still open from an earlier line ("" if none).
    """
    depth, i, n = 0, 0, len(value)
    while i < n:
        if state[0]:
            end = value.find(state[0], i)
            if end < 0:
                return depth
            i, state[0] = end + 3, ""
            continue
        char = value[i]
        if value.startswith('"""', i) or value.startswith("'''", i):
            state[0], i = value[i : i + 3], i + 3
        elif char == '"':
            i += 1
            while i < n and value[i] != '"':
                i += 2 if value[i] == "\\" else 1
            i += 1
        elif char == "'":
            end = value.find("'", i + 1)
            i = n if end < 0 else end + 1
        elif char == "#":
            return depth
        else:
            depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(char, 0)
            i += 1
    return depth


def key_path(loc: Path) -> str:
    """``("vrrp_instance", 0, "check", "rise")`` as error lines write it: ``vrrp_instance[0].check.rise``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def key_lines(text: str) -> dict[str, int]:
    """Every table header and key of ``text`` by its key path (``vrrp_instance[1].check``), with its
    1-based line."""
    found: dict[str, int] = {}
    counts: dict[tuple[str, ...], int] = {}  # array-of-tables name path -> elements so far
    prefix: Path = ()
    depth, state = 0, [""]
    for number, line in enumerate(text.splitlines(), start=1):
        if depth > 0 or state[0]:
            depth += _depth_change(line, state)
            continue
        header = _HEADER.match(line)
        if header is not None:
            names = _parts(header.group(2))
            path: list[str | int] = []
            for i, name in enumerate(names):
                path.append(name)
                key = tuple(str(p) for p in path if isinstance(p, str))
                if header.group(1) == "[[" and i == len(names) - 1:
                    counts[key] = counts.get(key, 0) + 1
                if key in counts:
                    path.append(counts[key] - 1)
            prefix = tuple(path)
            found.setdefault(key_path(prefix), number)
            continue
        key_match = _KEY.match(line)
        if key_match is not None:
            found.setdefault(key_path((*prefix, *_parts(key_match.group(1)))), number)
            depth += _depth_change(line[key_match.end() :], state)
    return found


def pack(lines: Mapping[str, int]) -> str:
    """`key_lines`' result as one string ("path\tline" lines), the form a `Config` keeps it in for its
    error messages: as a dict or tuples it is three objects a key, ~1.7 KiB a configured instance that
    a running daemon holds for nothing (0.3 MiB at 200 instances); one string is a quarter of that."""
    return "".join(f"{key}\t{number}\n" for key, number in lines.items())


def unpack(packed: str) -> dict[str, int]:
    """The mapping `pack` was given."""
    return {key: int(number) for key, _, number in (line.partition("\t") for line in packed.splitlines())}


def line_of(lines: Mapping[str, int], key: str) -> int | None:
    """The line of ``key`` (a key path), else of the nearest enclosing key or table found in ``lines``."""
    for _ in range(64):  # bounded: a key path has at most MAX_NESTING steps and a few names
        number = lines.get(key)
        if number is not None:
            return number
        shorter = _LAST.sub("", key)
        if not shorter or shorter == key:
            return None
        key = shorter
    return None
