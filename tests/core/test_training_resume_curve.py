"""Pause and Resume (New Model window, train --resume) continue the training-loss curve where it
stood: the running loss of the step the run stopped at, not the one of the last evaluation."""

from __future__ import annotations

import pytest
import torch

from inspector_app.core.models import ModelConfig
from inspector_app.core.training import TrainConfig, train


def test_a_resumed_run_draws_the_same_training_loss_as_an_uninterrupted_one(tmp_path, texture_images):
    """Stopped at step 8 (evaluations every 5 steps), resumed: its running loss went on from step 5's
    (the window's curve jumped back up at the pause, 443 to 520 on a gravel model paused at step 135)."""
    names = [f"{i}.png" for i in range(len(texture_images))]
    cfg = TrainConfig(model=ModelConfig("l2ae", 32, 1, 8, "batch"), max_steps=20, batch=4, lr=1e-3, warmup=2,
                      eval_every=5, crop=True, checkpoint_minutes=60.0)
    seen: dict[str, list[tuple[int, float]]] = {"straight": [], "resumed": []}
    straight = train(texture_images, names, cfg, torch.device("cpu"),
                     progress=lambda s, r: seen["straight"].append((s.step, r)))
    ck = tmp_path / "run.checkpoint"
    calls = {"n": 0}

    def stop_after_8():
        calls["n"] += 1
        return calls["n"] > 8

    train(texture_images, names, cfg, torch.device("cpu"), should_stop=stop_after_8, checkpoint=ck)
    resumed = train(texture_images, names, cfg, torch.device("cpu"), checkpoint=ck, resume=ck,
                    progress=lambda s, r: seen["resumed"].append((s.step, r)))
    assert [s for s, _ in seen["resumed"]] == list(range(9, 21))
    want = dict(seen["straight"])
    for step, running in seen["resumed"]:
        assert running == pytest.approx(want[step], rel=1e-5), step
    assert [s for s, _ in resumed.state.train_curve] == [s for s, _ in straight.state.train_curve]
    assert [r for _, r in resumed.state.train_curve] == pytest.approx([r for _, r in straight.state.train_curve],
                                                                     rel=1e-5)
