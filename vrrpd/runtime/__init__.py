"""The asyncio daemon: instances (one router + one timer each), interfaces, health checks, notify, systemd."""
