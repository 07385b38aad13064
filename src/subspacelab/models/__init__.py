"""Backbones as plain ``nn.Module``s. Each module declares its builders with their option schemas
(``subspacelab.configurable``); ``conf/model/<name>.yaml`` names one with ``_target_``. This package imports
none of them, so a run loads (and DVC tracks) only the model it builds."""

from subspacelab.models.build import build_model, count_parameters

__all__ = ["build_model", "count_parameters"]
