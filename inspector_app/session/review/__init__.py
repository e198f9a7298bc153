"""Review mode's model (no Qt): a folder of parts, their results, the reviewer's verdicts, the
review file and the report. The window talks to one :class:`ReviewSession`; the command line reads
the review file (``report``) through :mod:`.file` and :mod:`.report`.

* ``session`` — :class:`ReviewSession`, the one owner of the open folder, its results, the
  verdicts, the thresholds T1/T2, the filter and the selection (psygnal signals);
* ``queries`` — :class:`~.queries.ReviewQueries`, the session's read-only half: scores and verdicts
  at the thresholds in use, labels, statistics, filters;
* ``folder`` — which files of a folder are parts, and their ground truth (MVTec layout, sibling
  ``*_mask`` files); SHA-256 of the images;
* ``records`` — opening a folder (:func:`prepare_folder`, in a worker), the review file's verdicts
  resumed on unchanged images, a review made with another model, one image's record;
* ``file`` — the review file itself (``inspector-review.json`` and its CSV), written atomically;
* ``schema`` — a review file checked field by field when it is read (types, ranges, vocabularies);
* ``jobs`` — what a worker thread runs: projecting the folder batch by batch, re-scoring stored maps;
* ``results`` — the folder run's results in memory, one small record per image;
* ``store`` — the open review's maps on disk behind a bounded LRU cache;
* ``cache`` — results kept across reviews (scores, maps, thumbnails), keyed by the image's bytes, the
  model's hash and the parameters, bounded and evictable: reopening projects only what changed;
* ``stats`` — verdict bands, histograms, ROC, confusion matrix, suggested thresholds;
* ``report`` — a review file as one self-contained HTML page.
"""

from .folder import FolderError
from .records import FolderOpening, Review, prepare_folder
from .session import FILTERS, LABEL_SOURCES, ReviewSession
from .stats import LOG_FLOOR, FolderStats

__all__ = ["FILTERS", "LABEL_SOURCES", "LOG_FLOOR", "FolderError", "FolderOpening", "FolderStats", "Review",
           "ReviewSession", "prepare_folder"]
