"""The project's exceptions: one base class the command line turns into a clean message."""

from __future__ import annotations

from collections.abc import Sequence


class ClusterAdvisorError(Exception):
    """Base class: an error the user can act on; the CLI prints it and exits with status 1."""

    def __init__(self, messages: str | Sequence[str]) -> None:
        self.messages: tuple[str, ...] = (messages,) if isinstance(messages, str) else tuple(messages)
        super().__init__("\n".join(self.messages))


class RegionError(ClusterAdvisorError):
    """Raised when a region file cannot be read, is not YAML, or breaks the vocabulary."""


class KnowledgeBaseError(ClusterAdvisorError):
    """Raised when the vocabulary or a rule file is malformed; lists every problem at once."""


class TemplateError(ClusterAdvisorError):
    """Raised when a memo template is missing, does not compile, or fails while rendering."""


class EngineError(ClusterAdvisorError):
    """Raised when the inference engine reports a failure (a bug, never bad input)."""


class FormatError(ClusterAdvisorError):
    """Raised when a memo format is asked for that the tool does not write (or not in that place)."""


class WorkerError(ClusterAdvisorError):
    """Raised when a batch worker process stops abruptly (a bug, or the system killed it)."""


class OutputError(ClusterAdvisorError):
    """Raised when an output file or folder cannot be written."""


class InterviewAborted(ClusterAdvisorError):
    """Raised when the questionnaire stops early (Ctrl-C or end of input); says where answers were saved."""
