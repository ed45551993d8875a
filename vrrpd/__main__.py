"""`python -m vrrpd` is the `vrrpd` command."""

from vrrpd.cli.main import main

raise SystemExit(main())
