"""`python -m one_core` runs the `one` command."""

from .cli import main

main()
