"""``inspector-app self-test``: its checks pass on the bundled resources and fail, by name, on broken ones.

The whole self-test (with the window) runs from an installed wheel in ``test_packaging.py``; here the
headless checks run in this process, against the checkout's resources and against broken copies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inspector_app import resources
from inspector_app.cli import main, selftest

ROOT = Path(__file__).resolve().parent.parent
HEADLESS = "resources,models,projection-cpu,projection-cuda,dssim"


def _lines(capsys) -> tuple[list[str], str]:
    out, err = capsys.readouterr()
    return out.strip().splitlines(), err


def _copy_resources(dst: Path, models=(resources.DEMO_MODEL, resources.FACE_MODEL)) -> Path:
    """The files the application names, and only the given models."""
    for rel in {*resources.REQUIRED, *models}:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "resources" / rel, dst / rel)
    return dst


def test_headless_checks_pass_on_the_bundled_resources(capsys, monkeypatch):
    monkeypatch.delenv("INSPECTOR_APP_RESOURCES", raising=False)
    assert main(["self-test", "--only", HEADLESS]) == 0
    lines, _ = _lines(capsys)
    assert lines[0].startswith("inspector-app ") and "torch " in lines[0]
    assert lines[-1] == "self-test ok"
    checks = {line.split(":", 1)[0]: line for line in lines[1:-1]}
    assert list(checks) == HEADLESS.split(",")
    n = len(list((ROOT / "resources" / "models").glob("*.safetensors")))
    assert checks["resources"].startswith("resources: ok") and f"{ROOT / 'resources'} (source checkout)" in checks["resources"]
    assert "models: ok" in checks["models"] and f"{n} loaded and ran" in checks["models"]
    assert "on cpu:" in checks["projection-cpu"] and f"{selftest.ITERATIONS} iterations" in checks["projection-cpu"]
    assert checks["projection-cuda"].startswith(("projection-cuda: skipped", "projection-cuda: ok"))
    assert checks["dssim"].startswith("dssim: ok")


def test_a_broken_model_fails_the_models_check_by_name(tmp_path, capsys, monkeypatch):
    res = _copy_resources(tmp_path / "res")
    (res / "models" / "zz_broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    monkeypatch.setenv("INSPECTOR_APP_RESOURCES", str(res))
    assert main(["self-test", "--only", "resources,models"]) == 1
    lines, _ = _lines(capsys)
    assert lines[1].startswith("resources: ok") and "($INSPECTOR_APP_RESOURCES): 3 models" in lines[1]
    assert lines[2].startswith("models: FAILED") and "1 of 3 failed: zz_broken.safetensors:" in lines[2]
    assert lines[-1] == "self-test FAILED: models"


def test_missing_demo_files_fail_resources_and_the_projection(tmp_path, capsys, monkeypatch):
    res = _copy_resources(tmp_path / "res", models=(resources.FACE_MODEL,))
    (res / resources.DEMO_MODEL).unlink()
    monkeypatch.setenv("INSPECTOR_APP_RESOURCES", str(res))
    assert main(["self-test", "--only", "resources,models,projection-cpu,dssim"]) == 1
    lines, _ = _lines(capsys)
    checks = {line.split(":", 1)[0]: line for line in lines[1:-1]}
    assert checks["resources"].startswith("resources: FAILED") and resources.DEMO_MODEL in checks["resources"]
    assert checks["models"].startswith("models: ok")  # the face model still loads
    assert checks["projection-cpu"].startswith("projection-cpu: FAILED") and "not installed" in checks["projection-cpu"]
    assert checks["dssim"].startswith("dssim: FAILED")
    assert lines[-1] == "self-test FAILED: resources, projection-cpu, dssim"


def test_no_resources_at_all(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(resources, "locate", lambda: None)
    assert main(["self-test", "--only", "resources,models"]) == 1
    lines, _ = _lines(capsys)
    assert lines[1].startswith("resources: FAILED (") and "no bundled resources found" in lines[1]
    assert lines[2].startswith("models: FAILED") and "no models" in lines[2]
    assert lines[-1] == "self-test FAILED: resources, models"


def test_a_projection_that_does_not_lower_the_energy_fails(capsys, monkeypatch):
    monkeypatch.delenv("INSPECTOR_APP_RESOURCES", raising=False)
    from inspector_app.core.params import ProjectionParams

    real = ProjectionParams

    def no_steps(**kw):  # α so small that x does not move in float32
        return real(**{**kw, "alpha": 1e-30})

    monkeypatch.setattr("inspector_app.core.params.ProjectionParams", no_steps)
    assert main(["self-test", "--only", "projection-cpu"]) == 1
    lines, _ = _lines(capsys)
    assert lines[1].startswith("projection-cpu: FAILED") and "the energy did not go down" in lines[1]
    assert lines[-1] == "self-test FAILED: projection-cpu"


@pytest.mark.parametrize("only", ["bogus", "models,nope", ","])
def test_unknown_checks_are_bad_input(only, capsys):
    assert main(["self-test", "--only", only]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("inspector-app: error: --only: unknown check")


def _fake_run(device: str, dssim):
    import numpy as np

    x = np.zeros((32, 32), np.float32)
    return selftest.DemoRun(device, x, x, dssim, type("Out", (), {"score": 0.5, "verdict": "defective"})(),
                            10.0, 5.0, selftest.ITERATIONS, 0.01, "m.safetensors", "i.png")


@pytest.mark.parametrize("shift, ok", [(0.001, True), (0.1, False)])
def test_the_cuda_check_compares_with_the_cpu(shift, ok, monkeypatch):
    """A CUDA device (faked): the CUDA run's DSSIM map must agree with the CPU's."""
    import numpy as np
    import torch

    base = np.full((32, 32), 0.2, np.float32)
    runs = {"cpu": _fake_run("cpu", base), "cuda": _fake_run("cuda:0", base + shift)}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")
    t = selftest.SelfTest()
    monkeypatch.setattr(t, "_demo", lambda device: runs[device])
    if ok:
        line = t.projection_cuda()
        assert line.startswith("on cuda:0 (Fake GPU): m.safetensors on i.png") and "|DSSIM − CPU's| ≤ 1.0e-03" in line
    else:
        with pytest.raises(selftest.CheckFailed, match="differ by 0.1"):
            t.projection_cuda()


def test_without_cuda_the_check_says_why(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for build, why in ((None, "is a CPU build"), ("12.6", "no CUDA device (torch")):
        monkeypatch.setattr(torch.version, "cuda", build)
        with pytest.raises(selftest.Skipped, match=why.replace("(", r"\(")):
            selftest.SelfTest().projection_cuda()


def test_a_dssim_map_off_scikit_image_fails(monkeypatch):
    """The DSSIM check recomputes the map: a projection whose map was altered is caught."""
    monkeypatch.delenv("INSPECTOR_APP_RESOURCES", raising=False)
    t = selftest.SelfTest()
    run = t._demo("cpu")
    t.dssim()  # the real map passes
    run.dssim = run.dssim + 0.01
    with pytest.raises(selftest.CheckFailed, match="as shown|differs from scikit-image's by 0.01"):
        t.dssim()


def test_version_is_the_package_version(capsys):
    import inspector_app

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"inspector-app {inspector_app.__version__}\n"
