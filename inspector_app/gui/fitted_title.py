"""A plot whose title is the longest of its candidate titles that fits over the plot.

pyqtgraph draws a plot's title on one line and cuts it at the widget's edge: in review mode at
1366 px the score histogram's title (the classes in their colours, then the folder's "wrong model?"
warning) read "image scores · ■ good ■ defective ■" and nothing more. :class:`FittedTitlePlot` is
given its titles longest first and shows the first that fits, again on every resize; the energy
plot (:class:`~inspector_app.gui.views.EnergyPlot`) and the review's score histogram are two.
"""

from __future__ import annotations

import pyqtgraph as pg

#: Pixels kept free beside the title (the plot's right margin).
MARGIN = 10


class FittedTitlePlot(pg.PlotWidget):
    """A :class:`pyqtgraph.PlotWidget` showing the longest of :meth:`set_titles`' titles that fits."""

    def __init__(self, size: str = "10pt", **kwargs):
        self._titles: list[str] = []
        self._size = size
        super().__init__(**kwargs)

    @property
    def full_title(self) -> str:
        """The longest title, shown when there is room (the others drop parts of it)."""
        return self._titles[0] if self._titles else ""

    def set_titles(self, titles: list[str]) -> None:
        """Candidate titles, longest first; the last one is shown when none fits."""
        self._titles = list(titles)
        self._fit()

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt
        self._fit(lay_out=False)  # before the plot item takes the view's size (its minimum is the title's)
        super().resizeEvent(ev)

    def title_room(self) -> int:
        """The width the title may take: the plot's, less its value axis and a margin."""
        return self.viewport().width() - self.getPlotItem().getAxis("left").width() - MARGIN

    def _fit(self, lay_out: bool = True) -> None:
        pi = getattr(self, "plotItem", None)
        if pi is None or not self._titles:  # a resize while pyqtgraph builds the widget
            return
        before = pi.titleLabel.text
        room = self.title_room()
        for title in self._titles:
            if pi.titleLabel.text != title:
                pi.setTitle(title, size=self._size)
            if pi.titleLabel.item.boundingRect().width() <= room:
                break
        if lay_out and pi.titleLabel.text != before:
            pi.setGeometry(self.range)  # the view's size again, now that the item's minimum changed
