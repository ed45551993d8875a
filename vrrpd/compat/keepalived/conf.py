"""Read a keepalived.conf the way keepalived 2.2 does, into a tree of statements with their locations.

This module owns keepalived's *grammar* only — nothing about what a keyword means (that is
`vrrpd.compat.keepalived.importer`'s job). It reproduces keepalived's reader (lib/parser.c) closely enough
that a
real-world file yields the same statements keepalived sees:

* comments start at an unquoted ``#`` or ``!`` anywhere on a line (``\\#``/``\\!`` escape them); only
  double quotes protect a comment character, as in keepalived's ``decomment()``;
* ``{`` and ``}`` outside quotes are tokens of their own, so ``auth { auth_type PASS }`` on one line,
  and ``{`` alone on the next line, are both blocks;
* quoted strings use ``"`` or ``'`` and join with adjacent text like the shell (``ab"c d"`` is one word);
  backslash escapes inside quotes;
* ``include`` (and ``includer``/``includem``/``includew``/``includeb``/``includea``) with globs and csh
  brace lists, relative to the directory of the including file, in sorted order, bounded in depth;
* conditional lines ``@id ...`` / ``@^id ...`` against a config id (keepalived's ``-i``; default: the
  first part of the node name);
* single-line parameters ``$NAME=value``, substituted as ``$NAME`` (followed by a separator) or
  ``${NAME}``, recursively and boundedly.

Multi-line parameter definitions and ``~SEQ``/``~LST`` blocks are not expanded: each is reported as an
`Unsupported` construct with its location, and its lines are skipped. A file that cannot be read or has
unbalanced braces or an unterminated quote raises `KeepalivedConfError` (one line, with the location).
It reads files; it never runs anything.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "KeepalivedConfError",
    "Location",
    "ParsedConf",
    "Statement",
    "Unsupported",
    "parse_file",
    "parse_text",
    "split_words",
]

# keepalived's include keyword and its checked variants (we do not tell the checks apart: a missing
# include is reported as a note by the caller either way).
INCLUDE_KEYWORDS = frozenset({"include", "includer", "includem", "includew", "includeb", "includea"})
MAX_INCLUDE_DEPTH = 16  # an include loop must end in an error, not a stack overflow
MAX_SUBSTITUTIONS = 64  # per line: recursive $PARAM expansion is bounded
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFINITION = re.compile(r"^\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")
_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class KeepalivedConfError(Exception):
    """The file cannot be read as keepalived configuration; ``str()`` is one line with the location."""


@dataclass(frozen=True, order=True)
class Location:
    """A line in a configuration file (1-based)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Statement:
    """One keyword line: ``keyword args... [{ block }]``. Lines inside value blocks are statements too."""

    keyword: str
    args: tuple[str, ...]
    where: Location
    block: list[Statement] | None = None  # None: no block at all; []: an empty block

    def find(self, keyword: str) -> list[Statement]:
        """The statements of this block with that keyword, in order."""
        return [s for s in self.block or () if s.keyword == keyword]


@dataclass(frozen=True)
class Unsupported:
    """A construct of keepalived's grammar this reader does not expand (its lines were skipped)."""

    where: Location
    what: str


@dataclass
class ParsedConf:
    """The top-level statements, the files read (in order), and constructs not expanded."""

    statements: list[Statement]
    files: list[str] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    missing_includes: list[tuple[Location, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Token:
    text: str
    where: Location
    brace: bool = False  # an unquoted "{" or "}", i.e. a block delimiter rather than a word


def default_config_id() -> str:
    """keepalived's default config id: the node name up to the first dot."""
    return os.uname().nodename.split(".")[0]


# ---------------------------------------------------------------------------------------------------
# Lines: comments, conditionals, parameters, includes


def _decomment(line: str) -> str:
    """keepalived's decomment(): cut at an unquoted # or !, unescape \\# and \\!, strip whitespace."""
    out: list[str] = []
    quote = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == '"':
            quote = not quote
        elif ch == "\\" and i + 1 < len(line):
            if not quote and line[i + 1] in "#!":
                out.append(line[i + 1])  # an escaped comment character is literal
                i += 2
                continue
            out.append(line[i : i + 2])
            i += 2
            continue
        elif ch in "#!" and not quote:
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


class _Reader:
    """Produces tokens from a file and its includes, applying conditionals and parameters."""

    def __init__(self, config_id: str) -> None:
        self.config_id = config_id
        self.params: dict[str, str] = {}
        self.files: list[str] = []
        self.unsupported: list[Unsupported] = []
        self.missing_includes: list[tuple[Location, str]] = []

    def tokens_of_file(self, path: Path, depth: int, where: Location | None) -> Iterator[_Token]:
        if depth > MAX_INCLUDE_DEPTH:
            raise KeepalivedConfError(f"{where}: include nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)")
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            prefix = f"{where}: " if where else ""
            raise KeepalivedConfError(f"{prefix}{path}: cannot read file: {exc.strerror or exc}") from None
        self.files.append(str(path))
        yield from self.tokens_of_text(text, str(path), path.parent, depth)

    def tokens_of_text(self, text: str, name: str, directory: Path, depth: int) -> Iterator[_Token]:
        lines = text.splitlines()
        index = 0
        while index < len(lines):
            number = index + 1
            raw = lines[index]
            index += 1
            where = Location(name, number)
            line = _decomment(raw)
            if not line:
                continue
            line = self._conditional(line)
            if not line:
                continue
            definition = _DEFINITION.match(line)
            if definition is not None:
                value = definition["value"].strip()
                if value.endswith("\\"):
                    # Multi-line definition: record it as unsupported and skip its continuation lines.
                    self.unsupported.append(Unsupported(where, f"multi-line parameter ${definition['name']}"))
                    while index < len(lines) and _decomment(lines[index]).endswith("\\"):
                        index += 1
                    index += 1
                    continue
                self.params[definition["name"]] = value
                continue
            line = self._substitute(line, where)
            if line.startswith("~"):
                self.unsupported.append(Unsupported(where, f"{line.split()[0]} block"))
                continue
            words = line.split()
            if len(words) == 2 and words[0] in INCLUDE_KEYWORDS:
                yield from self._include(words[1], directory, depth, where)
                continue
            yield from _tokenize(line, where)

    def _conditional(self, line: str) -> str:
        if not line.startswith("@"):
            return line
        negate = line.startswith("@^")
        head, _, rest = line[2 if negate else 1 :].partition(" ")
        if not rest:
            head, _, rest = head.partition("\t")
        if not rest.strip():
            return ""  # keepalived: a condition with nothing after it is an empty line
        matches = head == self.config_id
        return rest.strip() if matches != negate else ""

    def _substitute(self, line: str, where: Location) -> str:
        if "$" not in line or not self.params:
            return line
        for _ in range(MAX_SUBSTITUTIONS):
            replaced = self._substitute_once(line)
            if replaced == line:
                return line
            line = replaced
        raise KeepalivedConfError(f"{where}: parameter substitution does not terminate (a $PARAM loop?)")

    def _substitute_once(self, line: str) -> str:
        out: list[str] = []
        i = 0
        while i < len(line):
            if line[i] != "$":
                out.append(line[i])
                i += 1
                continue
            braced = line.startswith("${", i)
            match = _PARAM_NAME.match(line, i + (2 if braced else 1))
            if match is None or match[0] not in self.params:
                out.append("$")
                i += 1
                continue
            end = match.end()
            if braced:
                if not line.startswith("}", end):
                    out.append("$")
                    i += 1
                    continue
                end += 1
            elif end < len(line) and line[end] not in " \t,)":
                # keepalived: $NAME must be followed by a separator (else it is not a reference)
                out.append("$")
                i += 1
                continue
            out.append(self.params[match[0]])
            out.append(line[end:])
            return "".join(out)  # one at a time: the value may hold references of its own
        return "".join(out)

    def _include(self, pattern: str, directory: Path, depth: int, where: Location) -> Iterator[_Token]:
        full = pattern if os.path.isabs(pattern) else str(directory / pattern)
        matches = sorted({m for p in _expand_braces(full) for m in glob.glob(p)})
        files = [Path(m) for m in matches if Path(m).is_file()]
        if not files:
            self.missing_includes.append((where, pattern))
            return
        for path in files:
            if os.access(path, os.X_OK):
                # keepalived skips executable files ("not a regular non-executable file").
                self.missing_includes.append((where, f"{path} (executable: keepalived skips it)"))
                continue
            yield from self.tokens_of_file(path, depth + 1, where)


def _expand_braces(pattern: str) -> list[str]:
    """csh-style brace expansion (keepalived uses GLOB_BRACE): ``a{b,c}d`` -> ``abd``, ``acd``."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    level = 0
    parts: list[str] = []
    last = start + 1
    for i in range(start, len(pattern)):
        ch = pattern[i]
        if ch == "{":
            level += 1
        elif ch == "}":
            level -= 1
            if level == 0:
                parts.append(pattern[last:i])
                head, tail = pattern[:start], pattern[i + 1 :]
                return [e for part in parts for e in _expand_braces(head + part + tail)]
        elif ch == "," and level == 1:
            parts.append(pattern[last:i])
            last = i + 1
    return [pattern]  # unbalanced: taken literally, as glob(3) does


# ---------------------------------------------------------------------------------------------------
# Words


def _tokenize(line: str, where: Location) -> Iterator[_Token]:
    word: list[str] = []
    has_word = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch in " \t\f\v\r\n":
            if has_word:
                yield _Token("".join(word), where)
                word, has_word = [], False
            i += 1
        elif ch in "{}":
            if has_word:
                yield _Token("".join(word), where)
                word, has_word = [], False
            yield _Token(ch, where, brace=True)
            i += 1
        elif ch in "\"'":
            end, text = _quoted(line, i, where)
            word.append(text)
            has_word = True
            i = end
        elif ch == "\\" and i + 1 < len(line):
            word.append(line[i + 1])
            has_word = True
            i += 2
        else:
            word.append(ch)
            has_word = True
            i += 1
    if has_word:
        yield _Token("".join(word), where)


def _quoted(line: str, start: int, where: Location) -> tuple[int, str]:
    """Read a quoted string starting at ``line[start]``; returns (index after it, its text)."""
    quote = line[start]
    out: list[str] = []
    i = start + 1
    while i < len(line):
        ch = line[i]
        if ch == quote:
            return i + 1, "".join(out)
        if ch == "\\" and i + 1 < len(line):
            text, i = _escape(line, i + 1)
            out.append(text)
            continue
        out.append(ch)
        i += 1
    raise KeepalivedConfError(f"{where}: unterminated quote: {line}")


def _escape(line: str, i: int) -> tuple[str, int]:
    """The character escaped at ``line[i]`` (after a backslash) and the index after the escape."""
    ch = line[i]
    if ch in _ESCAPES:
        return _ESCAPES[ch], i + 1
    if ch == "x":
        digits = re.match(r"[0-9A-Fa-f]+", line[i + 1 :])
        if digits:
            return chr(int(digits[0], 16) % 256), i + 1 + len(digits[0])
    if ch in "01234567":
        digits = re.match(r"[0-7]{1,3}", line[i:])
        assert digits is not None  # ch itself is an octal digit
        return chr(int(digits[0], 8) % 256), i + len(digits[0])
    if ch == "c" and i + 1 < len(line):
        return chr(ord(line[i + 1].upper()) ^ 0x40), i + 2  # \cC: the control character of C
    return ch, i + 1


def split_words(text: str) -> list[str]:
    """Split a command string into words as keepalived does for scripts (quotes group, no shell)."""
    return [t.text for t in _tokenize(text, Location("<script>", 0))]


# ---------------------------------------------------------------------------------------------------
# Tree


def _build(tokens: Iterator[_Token]) -> list[Statement]:
    root: list[Statement] = []
    stack: list[tuple[list[Statement], Location | None]] = [(root, None)]
    current: list[_Token] = []

    def flush() -> None:
        if current:
            stack[-1][0].append(
                Statement(current[0].text, tuple(t.text for t in current[1:]), current[0].where)
            )
            current.clear()

    previous_line: Location | None = None
    for token in tokens:
        if current and token.where != previous_line:
            flush()  # a statement ends at the end of its line
        previous_line = token.where
        if not token.brace:
            current.append(token)
            continue
        if token.text == "{":
            flush()
            body = stack[-1][0]
            if not body or body[-1].block is not None:
                raise KeepalivedConfError(f"{token.where}: '{{' does not follow a keyword")
            body[-1].block = []
            stack.append((body[-1].block, token.where))
        else:
            flush()
            if len(stack) == 1:
                raise KeepalivedConfError(f"{token.where}: extra '}}'")
            stack.pop()
    flush()
    if len(stack) > 1:
        opened = stack[-1][1]
        raise KeepalivedConfError(f"{opened}: block opened here is never closed (missing '}}')")
    return root


def parse_text(
    text: str, name: str = "<text>", directory: Path | None = None, config_id: str | None = None
) -> ParsedConf:
    """Parse configuration text; includes are resolved relative to ``directory`` (default: cwd)."""
    reader = _Reader(config_id if config_id is not None else default_config_id())
    tokens = reader.tokens_of_text(text, name, directory or Path.cwd(), 0)
    statements = _build(tokens)
    return ParsedConf(statements, reader.files, reader.unsupported, reader.missing_includes)


def parse_file(path: str | Path, config_id: str | None = None) -> ParsedConf:
    """Parse the keepalived configuration at ``path`` with its includes."""
    reader = _Reader(config_id if config_id is not None else default_config_id())
    statements = _build(reader.tokens_of_file(Path(path), 0, None))
    return ParsedConf(statements, reader.files, reader.unsupported, reader.missing_includes)
