"""Review mode's part of the window (Qt): the views and controllers over one
:class:`~inspector_app.session.review.ReviewSession`, which holds every value they show.

* ``mode`` — :class:`ReviewMode`, the part the main window composes: File → Open Folder…, the
  Review menu and its keys, the docks, the folder run in a worker, the model-switch dialog;
* ``gallery`` — the gallery dock: one sortable, filterable row per image, progress and Cancel,
  the verdict buttons and the comment line;
* ``histogram`` — the score-distribution dock: the histogram by label with T1/T2, the confusion
  matrix, the ROC curve and the suggested thresholds;
* ``dialogs`` — the dialogs and menu entries that hold no state: a review made with another model,
  verdicts not applied, the recent folders in File → Open Recent, the exported report's file.
"""

from .mode import ReviewMode

__all__ = ["ReviewMode"]
