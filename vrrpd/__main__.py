"""`python -m vrrpd` is the `vrrpd` command."""

from vrrpd.cli import main

raise SystemExit(main())
