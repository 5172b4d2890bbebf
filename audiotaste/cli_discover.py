"""Moved to :mod:`audiotaste.cli.discover`; this name stays for scripts and tests that import it.

The module object *is* :mod:`audiotaste.cli.discover` (not a copy), so that patching a name here
patches what the commands call.
"""

import sys

from audiotaste.cli import discover as _moved

sys.modules[__name__] = _moved
