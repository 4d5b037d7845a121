"""One module per ``unixipc`` subcommand: HELP, DESCRIPTION, EPILOG,
add_arguments(parser) and run(args, env) -> exit status."""
