"""Subcommands of ``grpo-verify``: each module has ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status)."""
