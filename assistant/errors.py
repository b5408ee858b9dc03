"""Errors a user can cause. Each message is one line that says what to do next.

The CLI and the UI print ``str(error)`` and never a traceback.
"""


class AssistantError(Exception):
    """Base class for every error a user of the assistant can cause or fix."""


class ConfigError(AssistantError, ValueError):
    """A setting has a value the assistant cannot use (also a ``ValueError``, as a bad argument is)."""


class NoDocumentsError(AssistantError):
    """The documents folder is missing or holds nothing the assistant can read."""


class DocumentError(AssistantError):
    """One document could not be read (binary, corrupt, wrong encoding).

    The message says what is wrong with the file in a user's words; ``detail`` keeps the parser's exception
    for developers (the debug log, ``--verbose``), never shown as the reason.
    """

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class QuestionError(AssistantError):
    """The question cannot be asked: empty, only white space, or far too long."""


EmptyQuestionError = QuestionError  # the name the first versions used


class IndexMissingError(AssistantError):
    """No index has been built yet in the index folder."""


class IndexMismatchError(AssistantError):
    """The index on disk was built with another embedding model or chunk setting."""


class IndexCorruptError(AssistantError):
    """The index on disk cannot be read."""


class ModelNotFoundError(AssistantError):
    """The embedding model is neither installed nor at the given path."""


class IndexBusyError(AssistantError):
    """Another process is writing the same index folder."""


class StoreUnavailableError(AssistantError):
    """The database that holds the index cannot be reached (down, wrong address, refused login)."""


class LLMError(AssistantError):
    """The language model (local or a server) failed to answer."""


class UnknownCollectionError(ConfigError):
    """No collection of that name (or not one the caller may use)."""


class CollectionLoadingError(AssistantError):
    """The collection's index is still being built or loaded; ask again in a moment."""


class AccessError(AssistantError):
    """An API key is missing, unknown, or may not use that collection."""


class EmbeddingServerError(AssistantError):
    """The embeddings server (``embed_backend = "openai"``) did not answer or refused."""
