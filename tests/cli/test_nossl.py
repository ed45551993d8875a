"""`vrrpd run` keeps OpenSSL out of the daemon (vrrpd/cli/nossl.py), metrics included; hashing works, and so
do `ssl` and prometheus_client's package when used.

Each check runs in a fresh interpreter: under pytest asyncio, hashlib and ssl are imported sooner or later,
and then `defer_openssl()` rightly does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vrrpd.cli import nossl

# `vrrpd run` up to the point where the daemon would start: the real CLI path, with `_daemon` replaced by
# the daemon's imports. Prints what is loaded then, and after the later steps.
_PROBE = textwrap.dedent(
    """
    import json, sys
    from vrrpd.cli import main as cli  # imports no asyncio: main() prepares that first
    import vrrpd.runtime.prestart as prestart  # nor does this

    def loaded():
        maps = open("/proc/self/maps").read()
        return {
            "_ssl": "_ssl" in sys.modules,
            "_hashlib": "_hashlib" in sys.modules,
            "libssl": "libssl" in maps,
            "libcrypto": "libcrypto" in maps,
        }

    seen = {}

    def fake_run(config, prestarted=None):
        import asyncio
        import vrrpd.runtime.daemon  # noqa: F401 - everything the daemon imports
        seen["daemon"] = loaded()

        async def echo():  # asyncio without ssl: a TCP round trip on loopback
            async def handle(reader, writer):
                writer.write(await reader.readline())
                await writer.drain()
                writer.close()

            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping\\n")
            line = await reader.readline()
            writer.close()
            server.close()
            return line.decode().strip()

        seen["echo"] = asyncio.run(echo())
        import hashlib, hmac
        from vrrpd.compat.openshift import spread  # blake2b, from CPython's own implementation
        seen["hashes"] = [
            hashlib.blake2b(b"vrrpd", digest_size=8).hexdigest(),
            hashlib.sha256(b"vrrpd").hexdigest()[:16],
            hmac.new(b"key", b"vrrpd", "sha256").hexdigest()[:16],
        ]
        seen["after_asyncio"] = loaded()
        import vrrpd.ops.metrics  # noqa: F401 - prometheus_client's light modules, not its exposition
        seen["metrics"] = loaded()
        seen["http"] = "prometheus_client.exposition" in sys.modules or "http.server" in sys.modules
        import prometheus_client  # reading its package's own attributes runs its __init__ after all
        seen["exposition"] = prometheus_client.generate_latest.__module__
        import ssl
        seen["tls"] = ssl.create_default_context().protocol.name
        seen["after_ssl"] = loaded()
        return 0

    cli._daemon = fake_run
    prestart.prestart = lambda config: None  # the imports are checked here, not the host's network
    status = cli.main()  # argv from sys.argv, as the `vrrpd` program calls it
    print(json.dumps({"status": status, **seen}))
    """
)


def _probe(*argv: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


CONFIG = (
    '[[vrrp_instance]]\nname = "VI_1"\ninterface = "lo"\nvirtual_router_id = 51\npriority = 100\n'
    'virtual_ipaddress = ["192.0.2.10/32"]\n'
)


def test_run_loads_no_openssl_until_something_uses_ssl(tmp_path: Path) -> None:
    conf = tmp_path / "vrrpd.toml"
    conf.write_text(CONFIG)
    seen = _probe("run", "--config", str(conf))
    assert seen["status"] == 0
    nothing = {"_ssl": False, "_hashlib": False, "libssl": False, "libcrypto": False}
    assert seen["daemon"] == nothing
    assert seen["echo"] == "ping"
    assert seen["hashes"] == [
        hashlib.blake2b(b"vrrpd", digest_size=8).hexdigest(),
        hashlib.sha256(b"vrrpd").hexdigest()[:16],
        hmac.new(b"key", b"vrrpd", "sha256").hexdigest()[:16],
    ]
    assert seen["after_asyncio"] == nothing
    assert seen["metrics"] == nothing  # metrics_listen: the text format without prometheus_client's servers
    assert seen["http"] is False
    # The deferred modules are the real ones once used: prometheus_client and TLS users work as before.
    assert seen["exposition"] == "prometheus_client.exposition"
    assert seen["tls"] == "PROTOCOL_TLS_CLIENT"
    assert seen["after_ssl"] == {"_ssl": True, "_hashlib": False, "libssl": True, "libcrypto": True}


@pytest.mark.parametrize(
    "call",
    [
        "sys.argv[1:] = ['check-config', '--config', '/nonexistent']; cli.main()",  # another subcommand
        "cli.main(['run', '--config', '/nonexistent'])",  # a caller passing arguments, not the program
    ],
)
def test_only_the_programs_run_is_changed(call: str) -> None:
    code = (
        f"import sys; from vrrpd.cli import main as cli; {call}; "
        "import asyncio.sslproto as p; print(p.ssl is not None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True"]  # asyncio has its ssl module, as without vrrpd


def test_too_late_is_a_no_op() -> None:
    import asyncio  # noqa: F401 - as every test process has, sooner or later

    before = sys.modules.get("ssl")
    assert nossl.defer_openssl() is False
    assert sys.modules.get("ssl") is before


def test_run_imports_msgspec_without_typing_extensions() -> None:
    # msgspec uses typing_extensions when installed (a development environment has it): `vrrpd run` hides
    # it, as an install without it would be, and the schema resolves the same (tests/config pass so).
    code = (
        "import sys\n"
        "from vrrpd.cli import main as cli\n"
        "seen = lambda: sorted({'msgspec', 'typing_extensions'} & set(sys.modules))\n"
        "cli._run = lambda path, program=False: print(seen()) or 0\n"
        "sys.argv[1:] = ['run', '--config', '/nonexistent']\n"
        "sys.exit(cli.main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["['msgspec']"]
