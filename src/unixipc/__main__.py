"""``python -m unixipc`` runs the ``unixipc`` command."""

from .cli import main

raise SystemExit(main())
