"""`python -m studio.cli` runs the `websim` command."""

from .commands import main

main()
