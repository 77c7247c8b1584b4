"""`python -m alt ...`: the `alt` command line (search.cli)."""
import sys

from search.cli import main

sys.exit(main())
