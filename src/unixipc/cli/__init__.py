"""The ``unixipc`` command: a thin layer over the library's public API.

``main(argv, env)`` takes its streams from an :class:`Environment`, so tests
run the whole command in-process. One module per subcommand under
``commands/``, each with ``add_arguments(parser)`` and ``run(args, env)``.
"""

from .app import main
from .environment import Environment
from .exitcodes import ExitStatus

__all__ = ["main", "Environment", "ExitStatus"]
