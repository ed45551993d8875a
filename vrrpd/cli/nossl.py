"""Keep OpenSSL out of the daemon's memory: `vrrpd run` calls `defer_openssl()` before its other imports.

vrrpd uses neither TLS nor OpenSSL's hashes, yet its imports load both of OpenSSL's libraries:

* `ssl` (libssl and the `_ssl` extension, ≈ 1.4 MiB resident) is imported by asyncio (`base_events`,
  `selector_events` and `sslproto` do ``try: import ssl``), pyroute2 (`netlink/rtnl/probe_msg.py`, for
  one probe function) and prometheus_client (`exposition.py`, for its optional HTTPS server);
* `_hashlib` (libcrypto, ≈ 3.5 MiB) is imported by `hashlib` (vrrpd.compat.openshift.spread's blake2b) and
`hmac`.

`defer_openssl()` imports asyncio while ``sys.modules`` maps `ssl` and `_hashlib` to None: its imports of
them fail and it takes its documented fallback, as on a Python built without OpenSSL — asyncio without TLS
(a TLS call such as ``loop.create_connection(ssl=...)`` raises; vrrpd makes none). Then `_hashlib` is
importable again, and every later ``import ssl`` gets a deferred module: the real `ssl` code runs in it the
first time one of its attributes is used, so an importer that never uses TLS costs nothing and one that does
still works (prometheus_client does at import: with ``metrics_listen`` set, ssl is loaded after all).
hashlib and hmac are deferred modules too, whose code runs while `_hashlib` is hidden: on first use they
take their fallback, CPython's built-in md5, sha1, sha2, sha3 and blake2 (OpenSSL-only algorithms such as
ripemd160 are missing; vrrpd uses blake2b). Only AH instances (hmac-md5) and ``run --openshift`` (blake2b)
use them; a daemon without either does not load hashlib's six built-in hash modules (≈ 0.25 MiB).

`importlib.util.LazyLoader` is not used because in Python 3.11 the import statement itself reads the
module's ``__spec__`` (import.c, `import_ensure_initialized`), which makes LazyLoader load it at once.
Only the program's ``vrrpd run`` calls this (`vrrpd.cli.main.main` without arguments: the console script and
``python -m vrrpd``), and it does nothing in a process that has already imported one of these modules;
code importing vrrpd's modules, tests included, is not affected.

`defer_package_init()`, also for ``vrrpd run`` only, makes prometheus_client a deferred module the same way
(its ``__init__`` imports `prometheus_client.exposition`, which loads http.server, urllib.request, wsgiref
and — its annotations name ``ssl.TLSVersion`` — ssl: ≈8 MiB): `vrrpd.ops.metrics` imports the light modules
it uses (metrics_core, registry, the collectors, utils) and encodes the text format itself, so a daemon with
``metrics_listen`` never runs the package's ``__init__``; anything reading one of the package's own
attributes still gets it, loaded then.

`structlog_without_extras()`, also for ``vrrpd run`` only, does the same for packages vrrpd does not depend
on but structlog imports whenever they are installed (rich, better_exceptions, colorama: its console
renderer's fancier tracebacks and Windows colours), as rich is in a development environment (import-linter
needs it): about 5 MiB and tens of milliseconds. The daemon then logs exactly as from an install without
them — JSON lines, or the console renderer with plain tracebacks.

`msgspec_without_extras()`, also for ``vrrpd run`` only, imports msgspec while typing_extensions is
hidden: msgspec does not depend on it but uses it when installed (its get_type_hints and TypedDict
markers, none of which vrrpd's schema uses), as it is in a development environment (mypy needs it) —
~0.5 MiB resident. The schema then resolves exactly as in an install without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

__all__ = ["defer_openssl", "defer_package_init", "msgspec_without_extras", "structlog_without_extras"]

_HIDDEN = ("ssl", "_hashlib")  # OpenSSL's two entry points in the standard library
_IMPORTED_WITHOUT = ("asyncio",)  # imported now, without both: it has a fallback
_DEFERRED_WITHOUT = ("hashlib", "hmac")  # imported on first use (AH, --openshift), without `_hashlib`
_STRUCTLOG_EXTRAS = ("rich", "better_exceptions", "colorama")  # optional for structlog, unused by vrrpd
_MSGSPEC_EXTRAS = ("typing_extensions",)  # optional for msgspec, unused by vrrpd's schema


class _DeferredModule(types.ModuleType):
    """A module whose code runs on the first access to an attribute it does not have yet.

    ``__spec__``, ``__name__``, ``__file__`` and ``__loader__`` are set from the start (the import
    statement reads ``__spec__``); anything else runs the module's code in this very object first, so
    there is one module object and assignments to it are seen by every importer.
    """

    _lock = threading.RLock()
    _hide: tuple[str, ...] = ()  # modules its code must not find (see _DeferredWithoutHashlib)

    def __getattr__(self, name: str) -> object:
        with _DeferredModule._lock:
            cls = type(self)
            if issubclass(cls, _DeferredModule):  # not loaded yet (another thread may have done it)
                spec = self.__spec__
                assert spec is not None and spec.loader is not None  # set by defer_openssl()
                hidden = [hide for hide in cls._hide if hide not in sys.modules]
                # A plain module from now on, while its code runs too: a package's own "from . import x"
                # reads its attributes, as importing any module sees it partly initialised.
                self.__class__ = types.ModuleType  # type: ignore[assignment]
                for hide in hidden:
                    sys.modules[hide] = None  # type: ignore[assignment]  # "import hide" raises ImportError
                try:
                    spec.loader.exec_module(self)
                except BaseException:
                    self.__class__ = cls
                    raise
                finally:
                    for hide in hidden:
                        del sys.modules[hide]
        return object.__getattribute__(self, name)


class _DeferredWithoutHashlib(_DeferredModule):
    """hashlib or hmac: its code runs without OpenSSL's `_hashlib`, so it takes CPython's own hashes."""

    _hide = ("_hashlib",)


def defer_openssl() -> bool:
    """Import asyncio without OpenSSL, defer `ssl`, and defer hashlib and hmac to run without OpenSSL;
    False (no change) if too late.

    Too late means one of those modules, or OpenSSL's, is already imported (e.g. under pytest).
    """
    if any(name in sys.modules for name in (*_HIDDEN, *_IMPORTED_WITHOUT, *_DEFERRED_WITHOUT)):
        return False
    spec = importlib.util.find_spec("ssl")
    if spec is None or spec.loader is None:  # a Python without ssl: the importers cope on their own
        return False
    specs = [importlib.util.find_spec(name) for name in _DEFERRED_WITHOUT]  # before any change
    for name in _HIDDEN:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    try:
        for name in _IMPORTED_WITHOUT:
            importlib.import_module(name)
    finally:
        for name in _HIDDEN:
            del sys.modules[name]
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _DeferredModule
    sys.modules["ssl"] = module
    for name, found in zip(_DEFERRED_WITHOUT, specs, strict=True):
        if found is not None and found.loader is not None:
            deferred = importlib.util.module_from_spec(found)
            deferred.__class__ = _DeferredWithoutHashlib
            sys.modules[name] = deferred
    return True


def defer_package_init(name: str = "prometheus_client") -> bool:
    """Register package `name` without running its ``__init__`` until one of its own attributes is read;
    its submodules import as usual (``__path__`` is set). False (no change) if it is imported already or
    is not a package."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _DeferredModule
    sys.modules[name] = module
    return True


def structlog_without_extras() -> bool:
    """Import structlog while its optional extras are hidden; False (no change) if it is already imported."""
    return _import_without("structlog", _STRUCTLOG_EXTRAS)


def msgspec_without_extras() -> bool:
    """Import msgspec while typing_extensions is hidden; False (no change) if msgspec is already imported."""
    return _import_without("msgspec", _MSGSPEC_EXTRAS)


def _import_without(name: str, extras: tuple[str, ...]) -> bool:
    if name in sys.modules:
        return False
    hidden = [extra for extra in extras if extra not in sys.modules]
    for extra in hidden:
        sys.modules[extra] = None  # type: ignore[assignment]  # "import extra" raises ImportError
    try:
        importlib.import_module(name)
    finally:
        for extra in hidden:
            del sys.modules[extra]
    return True
