"""`python -m harness.nightly`: `poolfuzz nightly` without the `poolfuzz` front end."""

import sys

from harness.nightly.command import main

sys.exit(main())
