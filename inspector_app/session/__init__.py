"""The Qt-free session model behind the inspection window (psygnal events; imports the core, never Qt).

* ``model`` — :class:`Session`, the one owner of the model, the image, Ω, the parameters, the
  display settings, the run state (:class:`RunState`), the history and the result;
* ``params`` — :class:`ParamsModel` and :class:`Display`, evented dataclasses the widgets bind to;
* ``frames`` — :class:`Frame` (one iterate as numpy, made in the worker), :class:`FrameHistory`,
  :class:`EnergyTrace`;
* ``pacing`` — :func:`paced`, the one generator that decides which iterates reach the GUI and when;
* ``jobs`` — what the worker threads run (a paced projection, opening a model, inpainting panels);
* ``export`` — a run's outputs at the image's size from a frame;
* ``assess`` — what the window says about a result: the verdict of a frame, the warnings where model
  and image do not fit, where the threshold comes from, why a run stopped;
* ``samples`` — the bundled samples and the models they belong to;
* ``new_model`` — File → New Model from Folder…: the folder looked at, a proposed training, its command;
* ``training_run`` — that ``train`` run in another process, read through the progress protocol;
* ``review/`` — review mode's model: :class:`~.review.ReviewSession` over a folder of parts, their
  results, the reviewer's verdicts, the review file and the HTML report (see its docstring).
"""

from .frames import EnergyTrace, Frame, FrameHistory
from .model import InputImage, InvalidTransition, RunState, Session
from .params import Defaults, Display, ParamsModel

__all__ = ["Defaults", "Display", "EnergyTrace", "Frame", "FrameHistory", "InputImage", "InvalidTransition",
           "ParamsModel", "RunState", "Session"]
