"""The ``vrrpd`` command: one entry point (`main`), subcommands loaded on demand."""
