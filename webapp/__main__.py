"""`python -m webapp ...` is the same as the `pvframes` console script."""

import sys

from .cli import main

sys.exit(main())
