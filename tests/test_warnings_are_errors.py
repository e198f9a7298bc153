"""Warnings are errors in this suite (pyproject.toml, [tool.pytest.ini_options] filterwarnings)."""

from __future__ import annotations

import warnings

import pytest


@pytest.mark.parametrize("category", [DeprecationWarning, UserWarning, RuntimeWarning, ResourceWarning])
def test_a_warning_raised_in_a_test_is_an_error(category):
    with pytest.raises(category):
        warnings.warn("a warning nobody expected", category)


def test_torch_jit_deprecation_is_silenced_only_inside_the_model_loader():
    # the loader silences TorchScript's own deprecation warnings for its format; outside it they
    # are errors like any other
    import torch

    class Tiny(torch.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(DeprecationWarning, match="torch.jit.script"):
        torch.jit.script(Tiny())
