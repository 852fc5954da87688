"""fakingclf: label LLM transcripts as refusal, genuine compliance or faked compliance.

Pipeline, one module per stage: :mod:`~fakingclf.transcript` (parse) →
:mod:`~fakingclf.cues` (rule-based cue spans) → :mod:`~fakingclf.embed`
(sentence embeddings) → :mod:`~fakingclf.classifier` (combiner and calibrated
labels) → :mod:`~fakingclf.io` (JSONL in and out) → :mod:`~fakingclf.analysis`
(rates per group and the compliance gap: :func:`fakingclf.report`).
"""

__version__ = "0.1.0"

from .transcript import Transcript, TranscriptError  # noqa: E402

__all__ = ["Transcript", "TranscriptError", "FakingClassifier", "Prediction", "report", "__version__"]


def __getattr__(name):
    # The classifier pulls in torch and sentence-transformers: import it only when asked.
    if name in {"FakingClassifier", "Prediction"}:
        from . import classifier

        return getattr(classifier, name)
    if name == "report":
        from .analysis import report

        return report
    raise AttributeError(f"module 'fakingclf' has no attribute {name!r}")
