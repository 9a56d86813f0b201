"""`python -m distrib` runs the command line."""

from distrib.cli import main

raise SystemExit(main())
