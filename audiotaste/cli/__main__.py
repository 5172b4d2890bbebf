"""``python -m audiotaste.cli``: the same as the ``audiotaste`` console script."""

from audiotaste.cli import main

main()
