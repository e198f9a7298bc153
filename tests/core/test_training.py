"""Training: validation split, plateau stop, checkpoints and exact resumption, calibration on
validation images only."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from inspector_app.cli import main
from inspector_app.core.models import ModelConfig
from inspector_app.core.training import TrainConfig, TrainState, load_checkpoint, split_validation, train, _validate


def _cfg(**kw):
    base = dict(model=ModelConfig("l2ae", 32, 1, 8, "batch"), max_steps=20, batch=4, lr=1e-3, warmup=2,
                eval_every=5, crop=True, checkpoint_minutes=60.0)
    base.update(kw)
    return TrainConfig(**base)


def test_validation_split_is_disjoint_seeded_and_never_empty():
    names = [f"{i:03d}.png" for i in range(20)]
    tr, va = split_validation(names, 0.1, seed=3)
    assert len(va) == 2 and len(tr) == 18 and not set(tr) & set(va) and sorted(tr + va) == list(range(20))
    assert split_validation(names, 0.1, seed=3) == (tr, va)
    assert split_validation(names, 0.1, seed=4) != (tr, va)
    assert split_validation(names[:3], 0.1, seed=0)[1] != []  # at least one validation image
    assert split_validation(names[:1], 0.5, seed=0) == ([0], [])  # one image: nothing to hold out


def test_resume_from_checkpoint_gives_the_same_model_as_an_uninterrupted_run(tmp_path, texture_images):
    names = [f"{i}.png" for i in range(len(texture_images))]
    cfg = _cfg()
    straight = train(texture_images, names, cfg, torch.device("cpu"))
    assert straight.state.step == 20 and straight.state.stop_reason == "max_steps"

    ck = tmp_path / "run.checkpoint"
    calls = {"n": 0}

    def stop_after_8():
        calls["n"] += 1
        return calls["n"] > 8

    first = train(texture_images, names, cfg, torch.device("cpu"), should_stop=stop_after_8, checkpoint=ck)
    assert first.state.step == 8 and first.state.stop_reason == "stopped" and ck.exists()
    meta, _ = load_checkpoint(ck)
    assert meta["state"]["step"] == 8
    resumed = train(texture_images, names, cfg, torch.device("cpu"), checkpoint=ck, resume=ck)
    assert resumed.state.step == 20
    assert [v[0] for v in resumed.state.val_curve] == [v[0] for v in straight.state.val_curve]
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_resume_refuses_other_images_or_another_model(tmp_path, texture_images):
    names = [f"{i}.png" for i in range(len(texture_images))]
    ck = tmp_path / "run.checkpoint"
    train(texture_images, names, _cfg(max_steps=3), torch.device("cpu"), checkpoint=ck)
    with pytest.raises(ValueError, match="other images"):
        train(texture_images[:-1], names[:-1], _cfg(), torch.device("cpu"), resume=ck)
    with pytest.raises(ValueError, match="holds a"):
        train(texture_images, names, _cfg(model=ModelConfig("vae", 32, 1, 8, "batch")), torch.device("cpu"), resume=ck)
    (tmp_path / "junk.checkpoint").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="junk.checkpoint"):
        train(texture_images, names, _cfg(), torch.device("cpu"), resume=tmp_path / "junk.checkpoint")


def test_plateau_cuts_the_rate_then_stops():
    cfg = _cfg(patience=2, max_reductions=1, lr_factor=0.5, min_delta=0.01)
    state = TrainState(best_val=10.0)
    snaps = []
    vals = iter([10.0, 9.95, 10.2, 10.1])  # no 1 % improvement: a plateau

    class FakeModel:
        pass

    import inspector_app.core.training as tr

    def fake_eval(model, images, device):
        v = next(vals)
        return np.array([v]), np.array([0.5])

    orig = tr.evaluate_split
    tr.evaluate_split = fake_eval
    try:
        for step in (5, 10, 15, 20):
            state.step = step
            _validate(FakeModel(), [np.zeros((32, 32))], "cpu", cfg, state, 1e-3, lambda: snaps.append(step))
    finally:
        tr.evaluate_split = orig
    # 9.95 is better but by less than min_delta: kept as best, yet counted as plateau
    assert snaps == [10]
    assert state.reductions == 1 and state.lr_scale == 0.5  # first plateau (2 evaluations) cut the rate
    assert state.stop_reason == "plateau"  # the second one, with no reductions left, stopped training
    assert [v[1] for v in state.val_curve] == [10.0, 9.95, 10.2, 10.1]


def test_plateau_on_negative_losses_is_relative_to_their_size(monkeypatch):
    """The Gaussian VAE's loss is a negative log-likelihood: -99.6 after -100 is worse, not an improvement."""
    import inspector_app.core.training as tr

    cfg = _cfg(patience=1, max_reductions=0, min_delta=0.01)
    state = TrainState(best_val=-100.0)
    vals = iter([-99.6, -103.0])
    monkeypatch.setattr(tr, "evaluate_split", lambda m, i, d: (np.array([next(vals)]), np.array([0.5])))
    snaps = []
    state.step = 5
    _validate(object(), [np.zeros((32, 32))], "cpu", cfg, state, 1e-3, lambda: snaps.append(5))
    assert snaps == [] and state.best_val == -100.0 and state.stop_reason == "plateau"
    state.stop_reason, state.since_best, state.step = None, 0, 10
    _validate(object(), [np.zeros((32, 32))], "cpu", cfg, state, 1e-3, lambda: snaps.append(10))
    assert snaps == [10] and state.best_val == -103.0 and state.since_best == 0


def test_bad_training_numbers_are_refused():
    for kw, match in [({"max_minutes": float("nan")}, "max_minutes"), ({"max_steps": -1}, "max_steps"),
                      ({"lr": float("inf")}, "lr"), ({"augment": ("zoom",)}, "zoom")]:
        with pytest.raises(ValueError, match=match):
            _cfg(**kw).validate()


@pytest.fixture
def mvtec_folder(tmp_path, texture_images):
    root = tmp_path / "cat"
    for split, ims in (("train/good", texture_images[:6]), ("test/good", texture_images[6:7]),
                       ("test/stain", texture_images[7:8])):
        (root / split).mkdir(parents=True)
        for i, im in enumerate(ims):
            cv2.imwrite(str(root / split / f"{i:03d}.png"), (im * 255).astype(np.uint8))
    (root / "ground_truth" / "stain").mkdir(parents=True)
    cv2.imwrite(str(root / "ground_truth" / "stain" / "000_mask.png"), np.full((32, 32), 255, np.uint8))
    return root


def test_train_and_calibration_never_read_test_images(tmp_path, mvtec_folder, monkeypatch, capsys):
    import inspector_app.core.data as data

    seen = []
    real = data.read_image

    def spy(path, *a, **kw):
        seen.append(str(path))
        return real(path, *a, **kw)

    monkeypatch.setattr(data, "read_image", spy)
    out = tmp_path / "m.safetensors"
    rc = main(["train", "--arch", "l2ae", "--data", str(mvtec_folder), "--out", str(out), "--image-size", "32",
               "--latent", "8", "--max-steps", "6", "--batch", "2", "--eval-every", "3", "--val-fraction", "0.34",
               "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert seen and all("/train/good/" in p for p in seen), seen
    from inspector_app.core.modelio import load_model

    meta = load_model(out).meta
    val_names = meta["training"]["val_names"]
    assert len(val_names) == 2 and meta["training"]["n_train"] == 4
    cal = meta["calibration"]
    # one validation image sets the validation stop levels, the other is scored with 4 synthetic defects
    assert cal["figures"]["n_stop_fit"] == 1 and cal["figures"]["n_good"] == 1 and cal["figures"]["n_defects"] == 4
    assert 0 < cal["threshold"] < 1 and cal["min_area"] >= 1 and cal["max_iter"] >= 1
    # recalibrating reads the same validation images, and nothing else
    seen.clear()
    rc = main(["calibrate", "--model", str(out), "--data", str(mvtec_folder), "--out", str(tmp_path / "c.safetensors"),
               "--max-iter", "3", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.rsplit("/", 1)[1] for p in seen) == sorted(val_names)


def test_model_file_records_the_training(tmp_path, mvtec_folder, capsys):
    out = tmp_path / "m.safetensors"
    rc = main(["train", "--arch", "vae", "--data", str(mvtec_folder), "--out", str(out), "--image-size", "32",
               "--latent", "8", "--max-steps", "4", "--batch", "2", "--eval-every", "2", "--augment", "flip,brightness",
               "--no-calibrate", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    from inspector_app.core.modelio import load_model

    loaded = load_model(out)
    assert loaded.model.config.norm == "batch"
    t = loaded.meta["training"]
    assert t["norm"] == "batch" and t["augment"] == ["flip", "brightness"] and t["steps"] == 4
    assert [v[0] for v in t["val_curve"]] == [2, 4] and all(len(v) == 4 for v in t["val_curve"])
    assert "calibration" not in loaded.meta
    # the object protocol resized whole images to the model's size: so is an image to inspect
    from inspector_app.core.tiling import WorkingScale

    assert loaded.working_scale == WorkingScale("whole")
    assert not out.with_suffix(".checkpoint").exists()  # a finished run leaves no checkpoint behind
    json.dumps(loaded.meta, allow_nan=False)


def test_train_refuses_to_overwrite_and_checks_the_output_first(tmp_path, mvtec_folder, capsys):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"mine")
    rc = main(["train", "--arch", "l2ae", "--data", str(mvtec_folder), "--out", str(out), "--max-steps", "1"])
    assert rc == 2 and "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"mine"
    blocker = tmp_path / "a_file"
    blocker.write_text("x")  # a folder cannot be made here, even by root
    rc = main(["train", "--arch", "l2ae", "--data", str(mvtec_folder), "--out", str(blocker / "sub" / "m.safetensors")])
    err = capsys.readouterr().err
    assert rc == 2 and "a_file is not a folder" in err and err.count("\n") == 1


def test_kl_weight_rises_over_the_warm_up_and_no_best_weights_are_kept_meanwhile(texture_images, monkeypatch):
    from inspector_app.core import models

    seen = []
    real = models.VariationalAE.training_loss

    def spy(self, x, kl_weight=1.0):
        seen.append(kl_weight)
        return real(self, x, kl_weight=kl_weight)

    monkeypatch.setattr(models.VariationalAE, "training_loss", spy)
    names = [f"{i}.png" for i in range(len(texture_images))]
    cfg = _cfg(model=ModelConfig("vae", 32, 1, 8, "batch"), max_steps=8, kl_weight=0.5, kl_warmup=4, eval_every=2)
    res = train(texture_images, names, cfg, torch.device("cpu"))
    assert seen == [0.0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.5, 0.5]
    assert res.state.best_step >= 4  # weights from the warm-up are never "best"


def test_init_starts_a_dsae_from_an_l2ae_and_a_gvae_from_a_vae(tmp_path, texture_images):
    from inspector_app.core.modelio import load_model, save_model
    from inspector_app.core.models import create_model
    from inspector_app.core.modelio import init_weights

    names = [f"{i}.png" for i in range(len(texture_images))]
    for src_kind, dst_kind in (("l2ae", "dsae"), ("vae", "gvae")):
        torch.manual_seed(1)
        src = create_model(ModelConfig(src_kind, 32, 1, 8, "batch"))
        path = save_model(src, tmp_path / f"{src_kind}.safetensors")
        dst = create_model(ModelConfig(dst_kind, 32, 1, 8, "batch"))
        init_weights(dst, path)
        ref = load_model(path, "cpu").model.state_dict()
        for k, v in dst.state_dict().items():
            if k != "log_gamma":
                assert torch.equal(v, ref[k]), k
    # a γ-VAE continued from a γ-VAE keeps its γ (it restarted at 1, undoing thousands of steps)
    src = create_model(ModelConfig("gvae", 32, 1, 8, "batch"))
    with torch.no_grad():
        src.log_gamma.fill_(float(np.log(0.03)))
    dst = create_model(ModelConfig("gvae", 32, 1, 8, "batch"))
    init_weights(dst, save_model(src, tmp_path / "gvae.safetensors"))
    assert dst.gamma == pytest.approx(0.03)
    # a fine-tuning run starts from those weights: its first validation loss is the source's, not a fresh net's
    base = train(texture_images, names, _cfg(max_steps=10), torch.device("cpu"))
    save_model(base.model, tmp_path / "base.safetensors")
    tuned = train(texture_images, names, _cfg(max_steps=1, eval_every=1, lr=1e-9, warmup=0,
                                                init=str(tmp_path / "base.safetensors")), torch.device("cpu"))
    fresh = train(texture_images, names, _cfg(max_steps=1, eval_every=1, lr=1e-9, warmup=0), torch.device("cpu"))
    base_val = base.state.val_curve[-1][1]
    assert abs(tuned.state.val_curve[0][1] - base_val) < abs(fresh.state.val_curve[0][1] - base_val)
    with pytest.raises(ValueError, match="cannot start a vae"):
        init_weights(create_model(ModelConfig("vae", 32, 1, 8, "batch")), tmp_path / "base.safetensors")
    with pytest.raises(ValueError, match="latent 16"):
        init_weights(create_model(ModelConfig("dsae", 32, 1, 16, "batch")), tmp_path / "base.safetensors")


def test_noise_augmentation_trains_a_denoising_autoencoder(texture_images):
    """--augment noise: half the inputs get a rectangle of uniform noise, the loss is against the
    clean image (so f(corrupted) learns to give the clean image back)."""
    from inspector_app.core.models import create_model
    from inspector_app.core.training import TextureAugmenter

    cfg = _cfg(augment=("noise",), crop=False)
    aug = TextureAugmenter(texture_images, cfg)
    x = aug.batch(64)
    y = aug.corrupt(x)
    changed = (x != y).flatten(1).float().mean(1).numpy()
    assert 10 < (changed > 0).sum() < 54  # about half the images
    assert ((changed == 0) | ((changed > 0.2) & (changed < 0.45))).all()  # a 25-40 % rectangle
    torch.manual_seed(0)
    model = create_model(ModelConfig("vae", 32, 1, 8, "batch"))
    torch.manual_seed(1)
    against_clean = model.training_loss(y, target=x).recon_loss
    torch.manual_seed(1)
    against_input = model.training_loss(y).recon_loss
    assert not torch.allclose(against_clean, against_input)
    names = [f"{i}.png" for i in range(len(texture_images))]
    res = train(texture_images, names, _cfg(augment=("noise",), max_steps=4), torch.device("cpu"))
    assert res.state.step == 4 and np.isfinite(res.state.train_curve[-1][1] if res.state.train_curve else 0.0)


def test_masks_augmentation_corrupts_masks_of_every_family(texture_images):
    """--augment masks: the noise fills masks of the shapes a user paints (discs, strokes, brush,
    rectangles, eyes, mouth), not only 25-40 % rectangles, and training runs with it."""
    from inspector_app.core.training import TextureAugmenter

    aug = TextureAugmenter(texture_images, _cfg(augment=("masks",), crop=False))
    x = aug.batch(200)
    y = aug.corrupt(x)
    changed = (x != y)[:, 0].numpy()
    shares = changed.reshape(len(changed), -1).mean(1)
    assert 60 < (shares > 0).sum() < 140  # about half the images
    assert (shares[shares > 0] < 0.1).sum() >= 20  # thin and small masks: no 25-40 % rectangle is
    not_boxes = 0
    for m in changed[shares > 0]:
        r, c = np.nonzero(m)
        not_boxes += m[r.min():r.max() + 1, c.min():c.max() + 1].mean() < 0.9  # a disc, a stroke
    assert not_boxes >= 20
    names = [f"{i}.png" for i in range(len(texture_images))]
    res = train(texture_images, names, _cfg(augment=("masks",), max_steps=3), torch.device("cpu"))
    assert res.state.step == 3


def test_a_calibration_that_hardly_separates_says_so(tmp_path, mvtec_folder, monkeypatch, capsys):
    """The face model under the lighting margin passed none of its good validation images; the
    calibrate command must say such a calibration is not to be trusted (and still write it)."""
    from inspector_app.core import calibration as cal_mod

    out = tmp_path / "m.safetensors"
    assert main(["train", "--arch", "l2ae", "--data", str(mvtec_folder), "--out", str(out), "--image-size", "32",
                 "--latent", "8", "--max-steps", "3", "--batch", "2", "--eval-every", "3", "--val-fraction", "0.34",
                 "--no-calibrate", "--quiet"]) == 0
    capsys.readouterr()
    weak = cal_mod.Calibration(threshold=0.05, min_area=4, stop="none", max_iter=30, method="m",
                               figures={"good_passed": 0.0, "defects_flagged": 1.0, "robust_accuracy": 0.5})
    monkeypatch.setattr(cal_mod, "calibrate", lambda *a, **k: weak)
    rc = main(["calibrate", "--model", str(out), "--data", str(mvtec_folder), "--out", str(tmp_path / "c.safetensors"),
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0 and (tmp_path / "c.safetensors").is_file()
    assert "warning: this calibration hardly separates" in err and "robust accuracy 0.50" in err
    # a sound one gives no warning
    weak.figures.update(good_passed=1.0, robust_accuracy=0.97)
    assert main(["calibrate", "--model", str(out), "--data", str(mvtec_folder), "--out", str(tmp_path / "d.safetensors"),
                 "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_calibrate_command_counts_and_names_each_smaller_step_size(tmp_path, mvtec_folder, monkeypatch, capsys):
    """A γ-VAE's calibration adds smaller step sizes while every one diverges: the progress bar's
    total grows with them (it ended past its total before) and the command says which it tries."""
    import tqdm

    from inspector_app.core import calibration as cal_mod

    out = tmp_path / "m.safetensors"
    assert main(["train", "--arch", "l2ae", "--data", str(mvtec_folder), "--out", str(out), "--image-size", "32",
                 "--latent", "8", "--max-steps", "3", "--batch", "2", "--eval-every", "3", "--val-fraction", "0.34",
                 "--no-calibrate", "--quiet"]) == 0
    capsys.readouterr()
    sound = cal_mod.Calibration(threshold=0.05, min_area=4, stop="none", max_iter=30, method="m", alpha=0.015,
                                figures={"good_passed": 1.0, "defects_flagged": 1.0, "robust_accuracy": 0.97})

    def fake(model, val_images, device, stats, max_iter, progress, step_down, **_budget):
        progress(cal_mod.images_projected(len(val_images)))  # the two standard step sizes
        step_down(0.015, 7)
        progress(7)
        return sound

    bars = []

    class Recorded(tqdm.tqdm):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.counted = 0  # a disabled bar (--quiet) does not count
            bars.append(self)

        def update(self, n=1):
            self.counted += n
            return super().update(n)

    monkeypatch.setattr(cal_mod, "calibrate", fake)
    monkeypatch.setattr(tqdm, "tqdm", Recorded)
    assert main(["calibrate", "--model", str(out), "--data", str(mvtec_folder), "--out", str(tmp_path / "c.safetensors"),
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert len(bars) == 1 and bars[0].counted == bars[0].total > 7
    assert "also trying α = 0.015" in err
