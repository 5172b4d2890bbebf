"""Moved to :mod:`audiotaste.cli.tagger`; this name stays for scripts and tests that import it.

The module object *is* :mod:`audiotaste.cli.tagger` (not a copy), so that patching a name here
patches what the commands call.
"""

import sys

from audiotaste.cli import tagger as _moved

sys.modules[__name__] = _moved
