"""Serve the document chat in the browser: ``python app.py [--host H] [--port P] [--auth user:password]``.

Settings come from ``assistant.toml`` and ``ASSISTANT_*`` variables (``--docs``/``--index``/``--config``
override them); ``ASSISTANT_HOST``, ``ASSISTANT_PORT`` and ``ASSISTANT_AUTH`` stand in for the flags.
It loads the index (building it from the documents folder when missing or stale) and serves on
http://127.0.0.1:7860 by default. ``assistant serve`` does the same.
"""

import sys

from assistant.ui import main

if __name__ == "__main__":
    sys.exit(main())
