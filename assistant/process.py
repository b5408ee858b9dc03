"""What the command-line shells share about the process they run in: exit codes and quiet libraries.

Both ``assistant`` (cli.py) and ``python app.py`` (ui/) exit with these codes and quiet the same
libraries before loading any model; neither imports the other for it.
"""

from __future__ import annotations

import logging
import os
import sys

EXIT_OK = 0
EXIT_PARTIAL = 1  # indexed, but some files could not be read; or an evaluation below its bar
EXIT_USER_ERROR = 2  # an AssistantError: the message says what to do
EXIT_INTERNAL = 3  # a bug: one line, ASSISTANT_DEBUG=1 shows the traceback
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


def quiet_broken_pipe() -> int:
    """The reader of our output went away (``assistant ask ... | head -1``): a normal end for a command-line
    tool. Later writes (and the interpreter's last flush) go nowhere instead of raising again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def quiet_libraries(verbose: bool = False) -> None:
    """No progress bars or warnings from transformers/tokenizers; our own log at ERROR and above.

    ``verbose`` (``--verbose``) adds the developers' side of the one-line reasons: the parser's exception
    behind each file skipped, which the reason itself never names.

    Environment variables, read when those libraries are first imported: importing transformers here
    would cost seconds before an argument is even read.
    """
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    logging.getLogger("assistant.store").setLevel(logging.WARNING)  # why an index is rebuilt, in one line
    logging.getLogger("assistant.embeddings").setLevel(logging.WARNING)  # an ONNX export that fell back to torch
    if verbose:
        logging.getLogger("assistant.documents").setLevel(logging.DEBUG)
    if "transformers" in sys.modules:  # already imported (a caller embedding the assistant): set it directly
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
