"""Whole images at the model's working scale: tiles, one energy over the image, the pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inspector_app.core import tiling
from inspector_app.core.checks import fit_warnings
from inspector_app.core.data import to_tensor
from inspector_app.core.modelio import ModelFileError, load_model, save_model
from inspector_app.core.models import ModelConfig, create_model
from inspector_app.core.params import ProjectionParams
from inspector_app.core.pipeline import finish, prepare, shape_groups
from inspector_app.core.projection import project, run_to_end
from inspector_app.core.tiling import TiledLoss, TileGrid, TilingError, WorkingScale, plain_loss, tile_starts
from inspector_app.resources import resource


def _model(size: int = 32, seed: int = 0):
    torch.manual_seed(seed)
    m = create_model(ModelConfig("l2ae", size, 1, 8))
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@pytest.mark.parametrize("length,size,overlap", [(16, 16, 4), (17, 16, 4), (40, 16, 4), (512, 128, 32), (1000, 128, 32),
                                                 (300, 128, 0), (129, 128, 64)])
def test_tiles_cover_the_axis_with_at_least_the_overlap(length, size, overlap):
    starts = tile_starts(length, size, overlap)
    assert starts[0] == 0 and starts[-1] == length - size
    covered = np.zeros(length, int)
    for s in starts:
        covered[s:s + size] += 1
    assert covered.min() >= 1
    gaps = np.diff(starts)
    assert (gaps <= size - overlap).all() and (gaps > 0).all()
    # the fewest such tiles: one fewer could not keep the overlap
    n = len(starts)
    assert n == 1 or (n - 2) * (size - overlap) + size < length


def test_a_side_smaller_than_the_model_is_refused():
    with pytest.raises(TilingError, match="smaller than the model's 16 px"):
        tile_starts(15, 16, 4)


def test_working_scale_shapes():
    crops = WorkingScale("crops", 512)
    assert crops.shape_for(512, 512, 128) == (512, 512)
    assert crops.shape_for(1024, 1024, 128) == (512, 512)
    assert crops.shape_for(2048, 1024, 128) == (512, 256)  # aspect kept, the longer side to 512
    assert crops.shape_for(300, 200, 128) == (300, 200)  # smaller: its own scale
    assert crops.shape_for(100, 400, 128) == (128, 512)  # the shorter side brought up to the tile
    assert WorkingScale("crops", None).shape_for(4096, 3000, 128) == (4096, 3000)
    assert WorkingScale("whole").shape_for(700, 500, 64) == (64, 64)
    for bad in [{"mode": "tiles"}, {"mode": "crops", "max_side": 4}, {"mode": "crops", "max_side": "512"},
                {"mode": "crops", "extra": 1}, ["crops"]]:
        with pytest.raises(TilingError):
            WorkingScale.from_meta({"working_scale": bad})
    assert WorkingScale.from_meta({}) is None


def test_a_malformed_working_scale_is_refused_when_the_model_is_loaded(tmp_path):
    m = _model()
    path = save_model(m, tmp_path / "m.safetensors", {"working_scale": {"mode": "crops", "max_side": 8}})
    with pytest.raises(ModelFileError, match="working_scale.max_side 8 is smaller than the model's image"):
        load_model(path, "cpu")
    ok = load_model(save_model(m, tmp_path / "ok.safetensors", {"working_scale": {"mode": "crops", "max_side": 64}}), "cpu")
    assert ok.working_scale == WorkingScale("crops", 64)


def _reference_energy_grad(model, x, x0, lam, boxes, size):
    """∇ of Σ_tiles Lr(tile) by autograd through plain slicing, divided by the coverage count, plus λ·sign."""
    xa = x.clone().requires_grad_(True)
    lrs = [model.forward_loss(xa[:, :, y:y + size, c:c + size])[0] for y, c in boxes]
    (g,) = torch.autograd.grad(torch.stack(lrs, 1).sum(), xa)
    cover = torch.zeros(x.shape[2:])
    for y, c in boxes:
        cover[y:y + size, c:c + size] += 1
    lr_sum = torch.stack(lrs, 1).sum(1).detach()
    return lr_sum, g / cover + lam * torch.sign(x - x0)


@pytest.mark.parametrize("overlap", [0, 8, 16])
def test_the_tiled_energy_and_its_step_follow_the_definition(overlap):
    model = _model()
    torch.manual_seed(1)
    x0 = torch.rand(2, 1, 80, 56)
    x = (x0 + 0.05 * torch.randn_like(x0)).clamp(0, 1)
    grid = TileGrid(80, 56, 32, overlap)
    lr_mean, reg, e, rec, grad = TiledLoss(model, grid)(x, x0, 0.05, True)
    lr_sum, g_ref = _reference_energy_grad(model, x, x0, 0.05, grid.boxes, 32)
    assert torch.allclose(lr_mean, lr_sum / len(grid), rtol=1e-5)
    assert torch.allclose(e, lr_sum * (80 * 56) / (len(grid) * 1024) + reg, rtol=1e-5)
    assert torch.allclose(grad, g_ref, atol=1e-5)
    assert rec.shape == x.shape and torch.isfinite(rec).all()
    # chunks of one tile give the same numbers as one chunk (memory bounded by the chunk)
    old = tiling.CHUNK_BYTES, tiling.MIN_CHUNK_BYTES
    tiling.CHUNK_BYTES = tiling.MIN_CHUNK_BYTES = 1
    try:
        out = TiledLoss(model, grid)(x, x0, 0.05, True)
        assert len(grid.chunks(2)) == len(grid) > 1
    finally:
        tiling.CHUNK_BYTES, tiling.MIN_CHUNK_BYTES = old
    for a, b in zip((lr_mean, reg, e, rec, grad), out):
        assert torch.allclose(a, b, atol=1e-6)


def test_one_tile_is_the_plain_step():
    model = _model()
    torch.manual_seed(2)
    x0 = torch.rand(3, 1, 32, 32)
    x = (x0 + 0.05 * torch.randn_like(x0)).clamp(0, 1)
    tiled = TiledLoss(model, TileGrid(32, 32, 32))(x, x0, 0.05, True)
    plain = plain_loss(model)(x, x0, 0.05, True)
    for a, b in zip(tiled, plain):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_tiled_run_keeps_every_pixel_outside_omega_bit_identical():
    model = _model()
    torch.manual_seed(3)
    x0 = torch.rand(1, 1, 96, 80)
    omega = torch.zeros(1, 1, 96, 80)
    omega[:, :, 20:60, 10:70] = 1  # across tile borders
    _f, last, _c = run_to_end(model, x0, ProjectionParams(max_iter=8, stop="none"), mask=omega, stats={})
    outside = omega[0, 0] == 0
    assert torch.equal(last.x[0, 0][outside], x0[0, 0][outside])
    assert not torch.equal(last.x[0, 0][~outside], x0[0, 0][~outside])
    assert last.dssim_projection.shape == (1, 96, 80)


def test_a_tiled_run_walks_downhill_and_stops_on_the_tiles_mean_lr():
    model = _model()
    torch.manual_seed(4)
    x0 = torch.rand(1, 1, 80, 80)
    recs = list(project(model, x0, ProjectionParams(max_iter=30, stop="none", optimizer="adam", alpha=0.01), stats={}))
    e = [float(r.energy[0]) for r in recs]
    assert e[-1] < e[0]
    # the stop criterion reads the tiles' mean Lr (the scale of the training losses)
    lr1 = float(recs[1].recon_loss[0])
    recs2 = list(project(model, x0, ProjectionParams(max_iter=30, stop=f"lr:{lr1 * 1.0001:g}", optimizer="adam",
                                                      alpha=0.01), stats={}))
    assert recs2[-1].stop_reasons[0] == "threshold" and len(recs2) <= 3


# ------------------------------------------------------------------------------ the pipeline


def _bundled(name: str):
    return load_model(resource(f"models/{name}.safetensors"), "cpu")


def test_a_file_without_a_working_scale_resizes_and_warns_as_before(tmp_path):
    m = _model(32)
    loaded = load_model(save_model(m, tmp_path / "old.safetensors", {}), "cpu")
    prep = prepare("x", np.random.default_rng(0).random((100, 70), dtype=np.float32), loaded)
    assert prep.model_input.shape == (32, 32) and prep.resized
    codes = [w["code"] for w in fit_warnings((100, 70), 1, 32, 1, working_scale=loaded.working_scale)]
    assert codes == ["resized"]
    ws = load_model(save_model(m, tmp_path / "new.safetensors", {"working_scale": {"mode": "crops", "max_side": 64}}), "cpu")
    prep = prepare("x", np.random.default_rng(0).random((100, 70), dtype=np.float32), ws)
    assert prep.model_input.shape == (64, 45) and prep.model_size == 32
    assert fit_warnings((100, 70), 1, 32, 1, working_scale=ws.working_scale) == []
    assert [w["code"] for w in fit_warnings((20, 70), 1, 32, 1, working_scale=ws.working_scale)] == ["resized"]
    assert shape_groups([prep, prepare("y", np.zeros((32, 32), np.float32), ws), prep]) == [[0, 2], [1]]


def test_the_whole_brick_photograph_passes_and_painted_defects_are_found_where_they_are():
    """The 512-px photograph brick_l2ae's crops came from, at its calibrated defaults: good as a
    whole (resized to 128 px it was flagged on 79 % of its pixels); a stain across a tile border
    and a scratch in a corner are found and located."""
    from skimage import data

    from inspector_app.core.calibration import model_defaults

    loaded = _bundled("brick_l2ae")
    cal = model_defaults(loaded.meta)
    params = cal.projection_params()
    good = data.brick().astype(np.float32) / 255.0
    yy, xx = np.mgrid[:512, :512]
    stain = (yy - 100) ** 2 + (xx - 100) ** 2 <= 9 ** 2  # tiles start at 0, 96, 192…: x = 96..128 is an overlap
    scratch = (np.abs(yy - xx - 470) <= 1) & (xx < 40)  # the bottom-left corner
    stained, scratched = good.copy(), good.copy()
    stained[stain] *= 0.45
    scratched[scratch] = np.minimum(1.0, scratched[scratch] + 0.5)
    preps = [prepare(n, im, loaded) for n, im in (("good", good), ("stain", stained), ("scratch", scratched))]
    assert all(p.model_input.shape == (512, 512) for p in preps)
    x0, _ = (to_tensor([p.model_input for p in preps]), None)
    _f, last, _c = run_to_end(loaded.model, x0, params)
    outs = [finish(p, last, j, threshold=cal.threshold, min_area=cal.min_area) for j, p in enumerate(preps)]
    assert outs[0].verdict == "good", outs[0].score
    assert outs[1].verdict == "defective" and outs[2].verdict == "defective", (outs[1].score, outs[2].score)
    for out, truth in ((outs[1], stain), (outs[2], scratch)):
        seg = out.segmentation
        assert (seg & truth).sum() >= 0.5 * truth.sum()  # found where it is
        near = np.zeros_like(truth)
        ys, xs = np.nonzero(truth)
        near[max(0, ys.min() - 24):ys.max() + 25, max(0, xs.min() - 24):xs.max() + 25] = True
        assert (seg & ~near).sum() <= 0.1 * seg.sum()  # and nowhere else
    info = outs[0].info
    assert info["working_size"] == [512, 512] and info["model_size"] == 128


def test_the_bundled_models_record_their_working_scale():
    for name in ("brick_l2ae", "brick_vae", "brick_gvae", "grid_l2ae", "grid_vae", "grid_dsae"):
        assert _bundled(name).working_scale == WorkingScale("crops", 512), name
    assert _bundled("faces_vae").working_scale == WorkingScale("whole")
    meta = json.loads(json.dumps(_bundled("faces_vae").meta))
    assert meta["working_scale"] == {"mode": "whole", "max_side": None}


def test_a_texture_model_trained_here_records_its_scale_and_project_tiles_at_it(tmp_path, texture_images, capsys):
    """`train --crop` records the texture protocol's working scale; `project` then inspects a larger
    image at that scale with model-size tiles, and writes its outputs at the image's own size."""
    import cv2

    from inspector_app.cli import main

    data = tmp_path / "good"
    data.mkdir()
    for i, im in enumerate(texture_images[:6]):
        cv2.imwrite(str(data / f"{i:03d}.png"), (im * 255).astype(np.uint8))
    model = tmp_path / "m.safetensors"
    assert main(["train", "--arch", "l2ae", "--crop", "--data", str(data), "--out", str(model), "--image-size", "32",
                 "--latent", "8", "--max-steps", "2", "--batch", "4", "--no-calibrate", "--quiet"]) == 0
    assert load_model(model).working_scale == WorkingScale("crops", tiling.TEXTURE_MAX_SIDE)
    big = (np.random.default_rng(0).random((80, 100)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "part.png"), big)
    out = tmp_path / "out"
    rc = main(["project", "--model", str(model), str(tmp_path / "part.png"), "--out", str(out), "--max-iter", "2",
               "--stop", "none", "--quiet"])
    assert rc == 0, capsys.readouterr()
    info = json.loads((out / "part.json").read_text())
    assert info["working_size"] == [100, 80] and info["model_size"] == 32 and info["image_size"] == [100, 80]
    assert np.load(out / "part_dssim.npy").shape == (80, 100)
    assert "resized" not in [w["code"] for w in info["warnings"]]


def test_reconstruct_is_the_model_at_its_size_and_the_blended_tiles_above_it():
    model = _model()
    torch.manual_seed(5)
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(tiling.reconstruct(model, x), model.reconstruct(x))
    big = torch.rand(1, 1, 70, 50)
    rec = tiling.reconstruct(model, big)
    assert rec.shape == big.shape
    # where one tile alone covers a pixel, f(x) there is that tile's own reconstruction
    with torch.no_grad():
        corner = model.reconstruct(big[:, :, :32, :32])
    assert torch.allclose(rec[:, :, :8, :8], corner[:, :, :8, :8], atol=1e-6)


def test_a_larger_image_gets_smaller_chunks_within_the_memory_budget():
    """The walk's own image-sized buffers come out of the budget first: a 4,096-px image's tiles
    run in small chunks, a 1,024-px image's in one."""
    assert len(TileGrid(1024, 1024, 128).chunks(1)) == 1
    big = TileGrid(4096, 4096, 128)
    sizes = [c.stop - c.start for c in big.chunks(1)]
    assert sum(sizes) == len(big) and max(sizes) * 4 * 64 * 128 * 128 <= tiling.MIN_CHUNK_BYTES


def test_a_model_size_image_takes_the_papers_step_bit_for_bit():
    """The plain path's ∇ₓE is autograd's gradient of Lr + λ‖x − x0‖₁ itself (as before tiles), to the bit."""
    model = _model()
    torch.manual_seed(6)
    x0 = torch.rand(2, 1, 32, 32)
    x = (x0 + 0.05 * torch.randn_like(x0)).clamp(0, 1)
    lr, reg, e, _rec, grad = plain_loss(model)(x, x0, 0.05, True)
    xa = x.clone().requires_grad_(True)
    lr_ref, _ = model.forward_loss(xa)
    e_ref = lr_ref + 0.05 * (xa - x0).abs().flatten(1).sum(1)
    (g_ref,) = torch.autograd.grad(e_ref.sum(), xa)
    assert torch.equal(grad, g_ref) and torch.equal(e, e_ref.detach())


@pytest.mark.parametrize("name", ["brick_vae", "brick_gvae"])
def test_the_other_brick_models_pass_the_turned_whole_photograph(name):
    """The brick photograph turned by 90° (the full-size good image brick_gvae flagged at 0.202
    when its threshold 0.106 was placed on crops, a region on the image's edge): passed at the
    defaults placed on whole validation photographs (calibrate --whole-images)."""
    from skimage import data

    from inspector_app.core.calibration import model_defaults

    loaded = _bundled(name)
    cal = model_defaults(loaded.meta)
    turned = np.ascontiguousarray(np.rot90(data.brick(), 1)).astype(np.float32) / 255.0
    prep = prepare("turned", turned, loaded)
    _f, last, _c = run_to_end(loaded.model, to_tensor([prep.model_input]), cal.projection_params(),
                              stats=loaded.training_stats)
    out = finish(prep, last, 0, threshold=cal.threshold, min_area=cal.min_area)
    assert "whole validation photographs" in cal.method
    assert out.verdict == "good", (out.score, cal.threshold)
