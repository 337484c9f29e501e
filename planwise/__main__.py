"""``python -m planwise``: the command line."""

from .cli import main

raise SystemExit(main())
