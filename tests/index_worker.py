"""``assistant`` CLI in a process of its own with the fake models registered: the index workers that
tests/test_stores.py kills or runs side by side (``python tests/index_worker.py index --docs ...``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import register_fakes  # noqa: E402

from assistant.cli import main  # noqa: E402

if __name__ == "__main__":
    register_fakes()
    sys.exit(main(sys.argv[1:]))
