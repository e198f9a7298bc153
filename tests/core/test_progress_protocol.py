"""The training progress protocol (``train --progress-jsonl``), without Qt; the pause file; the
'has not learned' warning."""

from __future__ import annotations

import io
import json
import math

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.core import progress_protocol as pp
from inspector_app.core.model_fit import LEARNED_FVE_MIN, card_lines, not_learned_warning
from inspector_app.core.modelio import load_model


def _train(tmp_path, folder, *extra, out="m.safetensors"):
    return main(["train", "--arch", "l2ae", "--data", str(folder), "--out", str(tmp_path / out),
                 "--image-size", "32", "--latent", "8", "--batch", "4", "--val-fraction", "0.5",
                 "--calibrate-minutes", "0.0002", "--quiet", *extra])


def _lines(path):
    objs = [pp.parse_line(ln) for ln in path.read_text().splitlines()]
    assert all(o is not None for o in objs)  # every line of the file is a protocol line
    return objs


def test_the_protocol_tells_phases_steps_evaluations_and_the_result(tmp_path, folder):
    log = tmp_path / "progress.jsonl"
    assert _train(tmp_path, folder, "--max-steps", "6", "--eval-every", "3", "--progress-jsonl", str(log)) == 0
    objs = _lines(log)
    phases = [o["phase"] for o in objs if o["event"] == "phase"]
    assert phases == ["loading", "training", "statistics", "calibrating", "saving", "done"]
    evals = [o for o in objs if o["event"] == "eval"]
    assert [o["step"] for o in evals] == [3, 6]
    for o in evals:
        assert o["max_steps"] == 6 and o["max_minutes"] is None and o["binding"] == "steps"
        assert math.isfinite(o["val_loss"]) and o["val_fve"] is not None and math.isfinite(o["train_loss"])
        assert len(o["samples"]) == 4  # four of the validation tiles
        x, fx = pp.decode_image(o["samples"][0]["x"]), pp.decode_image(o["samples"][0]["fx"])
        assert x.shape == fx.shape == (32, 32) and x.dtype == np.uint8
    cal = next(o for o in objs if o["event"] == "phase" and o["phase"] == "calibrating")
    assert cal["n_images"] == 2 and cal["estimate_s"] > 0
    done = objs[-1]
    assert done["out"] == str(tmp_path / "m.safetensors") and done["steps"] == 6
    meta = load_model(tmp_path / "m.safetensors").meta
    assert done["val_fve"] == meta["training"]["best_val_fve"]
    assert done["good_passed"] == meta["calibration"]["figures"]["good_passed"]
    assert [o["t"] for o in objs] == sorted(o["t"] for o in objs)


def test_the_protocol_file_is_never_replaced(tmp_path, folder, capsys):
    log = tmp_path / "progress.jsonl"
    log.write_text("mine\n")
    assert _train(tmp_path, folder, "--max-steps", "2", "--progress-jsonl", str(log)) == 2
    assert "exists" in capsys.readouterr().err and log.read_text() == "mine\n"
    assert not (tmp_path / "m.safetensors").exists()


def test_the_pause_file_keeps_a_checkpoint_and_no_model_and_resume_continues(tmp_path, folder, capsys):
    pause = tmp_path / "pause"
    pause.write_text("")  # present from the start: training stops after its first check
    log = tmp_path / "p.jsonl"
    assert _train(tmp_path, folder, "--max-steps", "4", "--eval-every", "2", "--progress-jsonl", str(log),
                  "--pause-file", str(pause)) == 3
    assert not (tmp_path / "m.safetensors").exists()
    ck = tmp_path / "m.checkpoint"
    assert ck.exists() and _lines(log)[-1]["event"] == "phase" and _lines(log)[-1]["phase"] == "paused"
    pause.unlink()
    log2 = tmp_path / "p2.jsonl"
    assert _train(tmp_path, folder, "--max-steps", "4", "--eval-every", "2", "--progress-jsonl", str(log2),
                  "--resume", str(ck)) == 0
    assert load_model(tmp_path / "m.safetensors").meta["training"]["steps"] == 4
    assert not ck.exists()


def test_the_binding_budget():
    assert pp.binding_budget(100, 1000, 30.0, 1.0, 10.0) == ("minutes", 30.0)  # 90 s of steps, 30 s of minutes
    assert pp.binding_budget(100, 400, 30.0, 1.0, 10.0) == ("steps", 30.0 - 0.0)  # 300 steps at 10/s
    assert pp.binding_budget(0, 400, 0.0, None, None) == ("steps", None)  # no rate yet: no ETA
    assert pp.binding_budget(0, 400, 0.0, 2.0, None) == ("minutes", 120.0)


def test_the_writer_throttles_steps_and_lines_parse():
    buf = io.StringIO()

    class S:
        step, seconds, val_curve = 1, 0.1, []

    w = pp.ProgressWriter(buf, 50, 3.0, every_s=60.0)
    w.phase("training")
    assert w.step(S, 0.5) is not None and w.step(S, 0.4) is None  # the second within every_s
    assert w.step(S, float("nan"), force=True)["train_loss"] is None  # JSON has no NaN
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3 and all(pp.parse_line(ln) for ln in lines)
    assert json.loads(lines[1])["val_loss"] is None and json.loads(lines[1])["max_minutes"] == 3.0
    assert pp.parse_line("  3%|▎ | 12/400 [00:01<00:30]") is None and pp.parse_line('{"v": 99}') is None
    with pytest.raises(ValueError):
        pp.decode_image({"h": 2, "w": 2, "c": 1, "data": "AAA="})


def test_the_samples_are_spread_and_rgb_survives():
    assert pp.sample_indices(10) == [0, 3, 6, 9] and pp.sample_indices(3) == [0, 1, 2]
    im = np.random.default_rng(0).random((200, 100, 3)).astype(np.float32)
    rec = pp.encode_image(im)
    back = pp.decode_image(json.loads(json.dumps(rec)))
    assert back.shape == (67, 34, 3) and abs(int(back[0, 0, 0]) - round(im[0, 0, 0] * 255)) <= 1


def test_a_model_that_learned_nothing_is_named():
    flat = {"training": {"best_val_fve": -0.01, "n_images": 12, "steps": 42}}
    assert "has not learned" in not_learned_warning(flat)
    assert not_learned_warning({"training": {"best_val_fve": LEARNED_FVE_MIN}}) is None
    assert not_learned_warning({}) is None
    card = card_lines(flat)
    assert any("only 12 images" in ln for ln in card) and any("has not learned" in ln for ln in card)



@pytest.mark.parametrize("fve, warned", [(-0.01, True), (0.5, False)])
def test_project_warns_when_the_model_has_not_learned(tmp_path, texture_images, capsys, fve, warned):
    import torch

    from inspector_app.core.modelio import save_model
    from inspector_app.core.models import ModelConfig, create_model

    torch.manual_seed(0)
    model = tmp_path / "m.safetensors"
    save_model(create_model(ModelConfig("l2ae", 32, 1, 8)), model,
               {"training": {"data": "x", "best_val_fve": fve}})
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), (texture_images[0] * 255).astype(np.uint8))
    assert main(["project", "--model", str(model), "--out", str(tmp_path / "out"), "--max-iter", "2", "--stop", "none",
                 "--quiet", str(img)]) == 0
    err = capsys.readouterr().err
    assert ("has not learned its images: f(x) explains -1% of the variance" in err) == warned


def test_eval_seconds_evaluates_on_time_too(tmp_path, folder):
    log = tmp_path / "t.jsonl"
    assert _train(tmp_path, folder, "--max-steps", "3", "--eval-every", "1000", "--eval-seconds", "1e-6",
                  "--progress-jsonl", str(log)) == 0
    assert [o["step"] for o in _lines(log) if o["event"] == "eval"] == [1, 2, 3]  # every step: the time is due
    meta = load_model(tmp_path / "m.safetensors").meta["training"]
    assert [v[0] for v in meta["val_curve"]] == [1, 2, 3] and meta["config"]["eval_seconds"] == 1e-6
    assert _train(tmp_path, folder, "--max-steps", "3", "--eval-seconds", "0", out="n.safetensors") == 2
