"""`python -m cli`: the same as the `pentathlon` command."""

import sys

from cli.main import main

sys.exit(main())
