"""Programs vrrpd runs (check scripts, notify programs): their command line and who may run them.

This module owns three keepalived 2.2 rules, reproduced exactly because a converted keepalived.conf must
run the same program with the same arguments as the same user:

* `split_command` — keepalived's word splitting of a ``script``/``notify`` string
  (``lib/parser.c: alloc_strvec_quoted_escaped``): words separated by blanks, ``"…"`` and ``'…'`` quote
  (and join with adjacent text), backslash escapes (``\\t``, ``\\x41``, ``\\101``, ``\\"``). There is no
  shell: ``|``, ``>``, ``&&``, ``$(…)`` are ordinary arguments. `shell_syntax` names them, so the
  importer can say that a line probably meant a shell (write ``/bin/sh -c '…'`` then);
* `resolve` — a bare program name is looked up in a fixed PATH, as keepalived does at start-up;
* `insecure_component` — keepalived's ``enable_script_security`` refusal: a program run as root (or as
  group root, or set-uid root) must not be writable by anyone but root, nor any directory above it.

It reads the filesystem (stat, access) and nothing else; it must not run anything.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

__all__ = [
    "DEFAULT_SCRIPT_USER",
    "SEARCH_PATH",
    "CommandError",
    "ids_of",
    "insecure_component",
    "needs_protection",
    "resolve",
    "shell_syntax",
    "split_command",
]

# keepalived searches its own PATH (systemd gives it this one); vrrpd uses the same fixed list so a
# converted file finds the same programs whatever the environment vrrpd was started from.
SEARCH_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

# keepalived runs programs as this user when it exists and no script_user is set (else as itself).
DEFAULT_SCRIPT_USER = "keepalived_script"

_BLANKS = " \t\f\n\r\v"
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"

# Words a shell would treat specially. keepalived passes them to the program as arguments.
_SHELL_WORDS = frozenset(
    {"|", "||", "&", "&&", ";", ";;", "<", ">", ">>", "2>", "2>>", "2>&1", "1>&2", ">&2"}
)
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})


class CommandError(ValueError):
    """A command string keepalived cannot parse (an unterminated quote, a trailing backslash)."""


def split_command(text: str) -> list[str]:
    """Split ``text`` into argv exactly as keepalived splits a script or notify command."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in _BLANKS:
            i += 1
        if i >= n:
            break
        word: list[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            if ch == "\\":
                i += 1
                if i >= n:
                    raise CommandError(f"missing escaped character at the end of {text!r}")
                ch = text[i]
                if ch == "x" and i + 1 < n and text[i + 1] in _HEX:
                    i += 1
                    value = 0
                    while i < n and text[i] in _HEX:
                        value = ((value << 4) | int(text[i], 16)) & 0xFF  # keepalived keeps a char
                        i += 1
                    word.append(chr(value))
                elif ch == "c" and i + 1 < n:
                    word.append(chr(ord(text[i + 1]) & 0x1F))
                    i += 2
                elif ch in _OCTAL:
                    value = 0
                    for _ in range(3):
                        if i < n and text[i] in _OCTAL:
                            value = (value << 3) + int(text[i])
                            i += 1
                    word.append(chr(value & 0xFF))
                else:
                    word.append(_SIMPLE_ESCAPES.get(ch, ch))
                    i += 1
                continue
            if quote:
                if ch == quote:
                    quote = ""
                else:
                    word.append(ch)
                i += 1
                continue
            if ch in "\"'":
                quote = ch
                i += 1
                continue
            if ch in _BLANKS:
                break
            word.append(ch)
            i += 1
        if quote:
            raise CommandError(f"missing terminating {quote} in {text!r}")
        words.append("".join(word))
    return words


def shell_syntax(argv: list[str]) -> str | None:
    """The first argument of ``argv`` that a shell would have interpreted, or None.

    ``["ss", "-ltn", "|", "grep", ":80"]`` → ``"|"``. The arguments of an explicit shell
    (``sh -c '…'``) are that shell's business and are not reported.
    """
    if len(argv) >= 2 and os.path.basename(argv[0]) in _SHELLS and argv[1] == "-c":
        return None
    for word in argv[1:]:
        if word in _SHELL_WORDS or word[:1] in ("|", "&", ";", "<", ">") or word.startswith("2>"):
            return word
        if "$(" in word or "`" in word:
            return word
    return None


def resolve(program: str, search: tuple[str, ...] = SEARCH_PATH) -> Path | None:
    """An absolute path stays as it is; a bare name is looked up in ``search`` (first executable file).

    Returns None when a bare name is found nowhere. keepalived does the same search once, at start-up,
    and logs "resolved by path search"; so does vrrpd when it loads its configuration.
    """
    if "/" in program:
        return Path(program)
    for directory in search:
        candidate = Path(directory, program)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def insecure_component(path: Path) -> tuple[Path, str] | None:
    """keepalived's check_security: the first component of ``path`` (from ``/`` down) that someone other
    than root could change, with why; None if the whole path is root's.

    A component is unsafe when it is not owned by root, or when it is a file or a directory without
    the sticky bit that is group-writable with a non-root group or world-writable. Symbolic links are
    checked where they are (not followed), as keepalived does; the caller checks the resolved target too.
    """
    parts = path.parts
    current = Path(parts[0])
    for index in range(len(parts)):
        if index:
            current = current / parts[index]
        try:
            info = os.lstat(current)
        except OSError as exc:
            return current, f"cannot be read ({exc.strerror or exc})"
        mode = info.st_mode
        if info.st_uid != 0:
            return current, f"is owned by uid {info.st_uid}, not root"
        guarded = (stat.S_ISDIR(mode) and not mode & stat.S_ISVTX) or stat.S_ISREG(mode)
        if guarded and info.st_gid != 0 and mode & stat.S_IWGRP:
            return current, f"is writable by group {info.st_gid}"
        if guarded and mode & stat.S_IWOTH:
            return current, "is writable by everyone"
    return None


def ids_of(user: str | None, group: str | None) -> tuple[int, int]:
    """The uid and gid a program runs as, by keepalived's rules: ``user`` (a name or a number) with
    ``group`` or else the user's own group; no user: keepalived_script if it exists, else our own ids.

    Raises LookupError naming what does not exist on this host.
    """
    if user is None:
        try:
            entry = pwd.getpwnam(DEFAULT_SCRIPT_USER)
        except KeyError:
            return os.geteuid(), os.getegid()
        return entry.pw_uid, entry.pw_gid
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise LookupError(f"no user {user!r} on this host") from None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise LookupError(f"no group {group!r} on this host") from None
    return entry.pw_uid, gid


def needs_protection(program: Path, uid: int, gid: int) -> bool:
    """keepalived checks a program's path only when it runs with root's power: as uid 0 or gid 0, or
    set-uid/set-gid root."""
    if uid == 0 or gid == 0:
        return True
    try:
        info = os.stat(program)
    except OSError:
        return False
    return bool(
        (info.st_uid == 0 and info.st_mode & stat.S_ISUID)
        or (info.st_gid == 0 and info.st_mode & stat.S_ISGID)
    )
