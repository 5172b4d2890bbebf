"""Moved to :mod:`audiotaste.cli.catalogue`; this name stays for scripts and tests that import it.

The module object *is* :mod:`audiotaste.cli.catalogue` (not a copy), so that patching a name here
patches what the commands call.
"""

import sys

from audiotaste.cli import catalogue as _moved

sys.modules[__name__] = _moved
