"""``project --ray`` on a local Ray (issue 28): the same results and summary.csv as a plain run, a worker
killed mid-run loses nothing and nothing is written twice, ``--resume`` after an interrupted run projects
only the missing images; ``evaluate --ray``: the plain run's table and JSON, figure for figure, and a bad
mask found on a worker is the plain run's one line. One Ray (2 CPUs) is shared by the module's tests: its
start costs seconds. Skipped where Ray is not installed (the optional extra ``cluster``)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter

import cv2
import numpy as np
import pytest

ray = pytest.importorskip("ray")

from inspector_app.cli import main  # noqa: E402
from inspector_app.cli import UsageError, project_ray  # noqa: E402
from tests.conftest import make_mixed_category, make_model_file  # noqa: E402

N = 8
#: Enough iterations that a run lasts a few seconds on 2 workers (a worker can be killed mid-run).
ITERS = "80"
REAL_WRITE = project_ray.write_result


@pytest.fixture(scope="module")
def local_ray():
    # address "local": a Ray of its own, never a cluster `ray start` left running on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A folder of eight parts (two of 48 px: two working sizes; one in a sub-folder), a calibrated tiny
    model, and the plain run's results over it."""
    root = tmp_path_factory.mktemp("ray")
    rng = np.random.default_rng(5)
    d = root / "parts"
    (d / "sub").mkdir(parents=True)
    for i in range(N):
        side = 48 if i in (2, 5) else 32
        img = rng.integers(0, 255, (side, side)).astype(np.uint8)
        img[8:14, 8:14] = 255 * (i % 2)  # half of them with a bright square
        cv2.imwrite(str(d / ("sub" if i == 3 else "") / f"p{i}.png"), img)
    model = make_model_file(root / "m.safetensors", calibration={"threshold": 0.03, "min_area": 2, "stop": "none",
                                                                 "max_iter": 4})
    base = ["project", "--model", str(model), str(d), "--batch", "2", "--max-iter", ITERS, "--quiet"]
    assert main([*base, "--out", str(root / "plain")]) == 0
    return root, base


def _same_results(a, b) -> None:
    """Every result file byte for byte, the JSONs but for the time they took and were written."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert len(files) == N * 7 + 1
    for rel in files:
        if rel.suffix == ".json":
            ja, jb = (json.loads((x / rel).read_text()) for x in (a, b))
            assert {k: v for k, v in ja.items() if k not in ("seconds", "written")} == \
                   {k: v for k, v in jb.items() if k not in ("seconds", "written")}, rel
        else:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def _count_writes(monkeypatch) -> Counter:
    writes: Counter = Counter()
    real = REAL_WRITE

    def counting(out_dir, name, files):
        writes[name] += 1
        real(out_dir, name, files)

    monkeypatch.setattr(project_ray, "write_result", counting)
    return writes


def test_the_cluster_run_writes_what_the_plain_run_writes_even_with_a_worker_killed_mid_run(
        local_ray, plain, monkeypatch, capsys):
    """The same files, byte for byte (but the JSONs' timings), and summary.csv; each result written once."""
    root, base = plain
    out = root / "cluster"
    capsys.readouterr()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # the bar shows on a terminal
    writes = _count_writes(monkeypatch)
    before = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
    rc: list[int] = []
    run = threading.Thread(target=lambda: rc.append(main([*base[:-1], "--out", str(out), "--ray"])))  # not --quiet
    run.start()
    victim, deadline = None, time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:  # the first batch written: the workers are busy
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                 if a["name"].startswith("inspector-project-") and a["name"] not in before]
        if names and writes:
            victim = ray.get_actor(sorted(names)[0], namespace=project_ray.NAMESPACE)
        time.sleep(0.02)
    # each worker holds two of the four batches: with at most two written, the victim has one still to do
    assert victim is not None and sum(writes.values()) <= 4, "the run went too far before a worker could be killed"
    ray.kill(victim, no_restart=False)  # Ray starts it again and retries its batches
    run.join(timeout=300)
    err = capsys.readouterr().err
    assert rc == [0], err
    assert "a local Ray: 1 node(s), 2 CPUs, 0 GPUs" in err and "2 worker(s) of 1 thread(s)" in err  # the resources
    assert f"{N}/{N}" in err and "image/s" in err  # the progress bar: images done, rate (and ETA)
    assert sorted(writes) == sorted(json.loads(p.read_text())["name"] for p in (root / "plain").rglob("*.json"))
    assert set(writes.values()) == {1}
    assert (out / "summary.csv").read_text() == (root / "plain" / "summary.csv").read_text()
    _same_results(root / "plain", out)


def test_resume_after_an_interrupted_cluster_run_projects_only_the_missing(local_ray, plain, monkeypatch, capsys):
    root, base = plain
    out = root / "resumed"
    real = REAL_WRITE

    def interrupted(out_dir, name, files):
        if len(list(out_dir.rglob("*.json"))) >= 3:
            raise KeyboardInterrupt  # Ctrl-C while the fourth result arrives
        real(out_dir, name, files)

    monkeypatch.setattr(project_ray, "write_result", interrupted)
    assert main([*base, "--out", str(out), "--ray"]) == 130
    done = {json.loads(p.read_text())["name"] for p in out.rglob("*.json")}
    assert len(done) == 3 and (out / "summary.csv").read_text().count("\n") == 4  # the three finished
    deadline = time.monotonic() + 30
    while ray.util.list_named_actors(all_namespaces=True) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ray.util.list_named_actors(all_namespaces=True)  # the interrupted run's workers are gone
    writes = _count_writes(monkeypatch)
    capsys.readouterr()
    rc = main([*base, "--out", str(out), "--ray", "--resume"])
    assert rc == 0, capsys.readouterr().err
    assert len(writes) == N - 3 and not set(writes) & done and set(writes.values()) == {1}
    assert (out / "summary.csv").read_text() == (root / "plain" / "summary.csv").read_text()
    # every file there (the rest were batched otherwise than in one run: their JSONs' energy curves may
    # differ in float32's last digits, which the summary's six significant digits do not show)
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == \
           sorted(p.relative_to(root / "plain") for p in (root / "plain").rglob("*") if p.is_file())


def test_bad_ray_flags_are_one_line(local_ray, plain, capsys):
    root, base = plain
    for flags, says in ((["--ray", str(root / "parts")], "not a cluster's address"),
                        (["--ray", "--workers", "3"], "room for 2"),
                        (["--ray", "--worker-threads", "0"], "between 1 and 256")):
        rc = main([*base, "--out", str(root / "bad"), *flags])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and says in err, (flags, err)
    assert not (root / "bad").exists()
    with pytest.raises(UsageError, match="nothing answers at 127.0.0.1:1 "):  # at once, not after Ray's minutes
        project_ray._probe("127.0.0.1:1")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A tiny category of two image sizes and its model, and the plain evaluate's arguments (batches of 2, 3
    and 2 images once BATCH_PIXELS is two 48-px images: tests/core/test_evaluation_batches.py)."""
    root, model = make_mixed_category(tmp_path_factory.mktemp("evaluate-ray") / "mixed")
    return root, ["evaluate", "--model", str(model), "--iterations", "3", "--max-iter", "3", "--stop", "none",
                  "--batch", "4", "--threshold", "0.01"]


def test_evaluate_on_ray_gives_the_plain_runs_table_and_json(local_ray, mixed, tmp_path, monkeypatch, capsys):
    from inspector_app.core import evaluation

    root, base = mixed
    monkeypatch.setattr(evaluation, "BATCH_PIXELS", 2 * 48 * 48)  # the driver plans the batches: three
    assert main([*base, "--data", str(root), "--json", str(tmp_path / "plain.json"), "--quiet"]) == 0
    plain = capsys.readouterr().out
    assert main([*base, "--data", str(root), "--json", str(tmp_path / "ray.json"), "--ray"]) == 0  # not --quiet
    out = capsys.readouterr()
    assert "a local Ray: 1 node(s), 2 CPUs, 0 GPUs" in out.err and "2 worker(s) of 1 thread(s)" in out.err
    assert out.out.splitlines()[:-1] == plain.splitlines()[:-1]  # the table and the figure-5 line ("wrote" differs)
    texts = [json.dumps({k: v for k, v in json.loads((tmp_path / f).read_text()).items() if k != "seconds"}, indent=1)
             for f in ("plain.json", "ray.json")]
    assert texts[0] == texts[1]  # every figure, verdict and score, in the same order
    r = json.loads(texts[1])
    assert r["working_sizes"] == {"48x48": 5, "32x40": 2} and r["n_images"] == 7 and len(r["curve"]) == 4
    assert not ray.util.list_named_actors(all_namespaces=True)  # the run's workers are gone


def test_evaluate_on_ray_a_bad_mask_is_the_plain_runs_one_line(local_ray, mixed, tmp_path, capsys):
    import shutil

    root, base = mixed
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    cv2.imwrite(str(bad / "ground_truth" / "stain" / "001_mask.png"), np.zeros((10, 10), np.uint8))  # not 48×48
    errs = []
    for flags in ([], ["--ray"]):
        assert main([*base, "--data", str(bad), "--no-curve", "--quiet", *flags]) == 2
        errs.append(capsys.readouterr().err)
    assert errs[0] == errs[1] and errs[1].count("\n") == 1 and "001_mask.png" in errs[1], errs
