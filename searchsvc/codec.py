"""The name under which indexes written by searchsvc 0.1 pickled their codec and postings formats.

Their table of contents refers to ``searchsvc.codec.CompactCodec``, ``…DeltaPositions`` and
``…TermFrequency``; the module now is :mod:`searchsvc.index.codec`. Importing this name gives that module
itself, so those indexes open unchanged.
"""

import sys

from searchsvc.index import codec

sys.modules[__name__] = codec
