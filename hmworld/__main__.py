"""`python -m hmworld ...` is the same as the `hmworld` console script."""
import sys

from hmworld.cli import main

sys.exit(main())
