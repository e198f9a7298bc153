"""The pacing generator, driven without Qt: what reaches the GUI and when, pause, step, stop, live α."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from inspector_app.session.pacing import (
    DRAW_BUDGET,
    ENERGY_HZ,
    MIN_FPS,
    PREP_BUDGET,
    Control,
    Outbox,
    frame_interval,
    paced,
)


@dataclass
class Rec:
    iteration: int
    finished: bool = False
    alpha: float = 0.5
    lam: float = 0.05


@dataclass
class FakeProjection:
    """Stands for core.projection.project: records 0..n, taking {"alpha", "lam"} updates by send()."""

    n: int
    fail_at: int | None = None
    updates: list = field(default_factory=list)

    def __call__(self):
        alpha, lam = 0.5, 0.05
        for t in range(self.n + 1):
            if t == self.fail_at:
                raise ValueError("the model's loss is not finite on this input")
            upd = yield Rec(t, t == self.n, alpha, lam)
            if upd:
                self.updates.append((t, dict(upd)))
                alpha, lam = upd.get("alpha", alpha), upd.get("lam", lam)


class Clock:
    def __init__(self, step: float):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def drive(gen, controls: dict | None = None, limit: int = 100000):
    """Run the generator, sending ``controls[k]`` after its k-th yield; returns (yields, return value)."""
    controls, out, k = controls or {}, [], 0
    try:
        v = next(gen)
        while k < limit:
            out.append(v)
            k += 1
            v = gen.send(controls.get(k))
    except StopIteration as e:
        return out, e.value
    raise AssertionError("the generator did not end")


def frame(rec):
    return ("frame", rec.iteration, rec.alpha, rec.lam)


def energy(rec):
    return (rec.iteration, 1.0, 1.0, 0.0)


def test_every_energy_value_and_the_final_frame_arrive():
    box = Outbox()
    ys, ended = drive(paced(FakeProjection(200), box, frame, energy, clock=Clock(0.001)))
    assert ended is True
    mail = box.take()
    assert [e[0] for e in mail.energy] == list(range(201))  # none dropped, in order
    assert mail.done and mail.final == ("frame", 200, 0.5, 0.05)
    assert ys.count(True) == 1  # nobody took the mail: one notification only


def _read_all(gen, box: Outbox, take=None) -> list:
    """Drive a paced run as a reader that takes the mail whenever notified: the mails, or what
    ``take(mail)`` makes of each."""
    out = []
    v = next(gen)
    try:
        while True:
            if v:
                m = box.take()
                out.append(m if take is None else take(m))
            v = gen.send(None)
    except StopIteration:
        return out


def test_frames_are_paced_to_max_fps_and_the_first_is_always_drawn():
    box = Outbox()
    wall = Clock(0.001)
    mails = _read_all(paced(FakeProjection(1000), box, frame, energy, clock=wall, cpu_clock=lambda: wall.t,
                            max_fps=10.0), box)
    frames = [f for m in mails for f in m.frames]
    # 1000 iterations at 1 ms (as the fake clock ticks twice per drawn frame, a bit more): about 1 s
    assert frames[0][1] == 0
    assert 8 <= len(frames) <= 12


def test_without_the_first_frame_the_first_comes_when_due():
    """The window already has iteration 0 (its x0 preview): the run does not make it again, and
    the next frame waits its interval; every energy value still arrives."""
    box = Outbox()
    wall = Clock(0.001)
    mails = _read_all(paced(FakeProjection(1000), box, frame, energy, clock=wall, cpu_clock=lambda: wall.t,
                            max_fps=10.0, first_frame=False), box)
    frames = [f for m in mails for f in m.frames]
    energies = [e for m in mails for e in m.energy]
    finals = [m.final for m in mails if m.done]
    assert frames and frames[0][1] > 0 and 7 <= len(frames) <= 11, frames  # none at 0; the next after ~0.1 s
    assert [e[0] for e in energies] == list(range(1001)) and finals == [("frame", 1000, 0.5, 0.05)]


def test_without_the_first_frame_nothing_is_posted_at_once():
    """The reader has iteration 0 (frame and energy): the first mail comes when the energy is due,
    not at iteration 0 (a GUI update of one point while the run starts), and it begins with 0."""
    box = Outbox()
    wall = Clock(0.001)
    gen = paced(FakeProjection(1000), box, frame, energy, Control(draw_cost=10.0), clock=wall,
                cpu_clock=lambda: wall.t, first_frame=False)
    start = wall.t
    mails = _read_all(gen, box, lambda m: (wall.t - start, m))
    first_at, first = mails[0]
    assert first_at >= 1.0 / ENERGY_HZ and first.energy[0][0] == 0
    assert all(f[1] > 0 for f in first.frames)  # (a frame due as well is a later iterate's, never 0's)
    assert [e[0] for _t, m in mails for e in m.energy] == list(range(1001))


def test_interval_follows_the_slowest_budget():
    assert frame_interval(0.0, 0.0) == 0.0
    assert frame_interval(0.006, 0.0) == pytest.approx(0.006 / PREP_BUDGET)
    assert frame_interval(0.0, 0.01) == pytest.approx(0.01 / DRAW_BUDGET)
    assert frame_interval(0.0, 10.0) == pytest.approx(1 / MIN_FPS)  # slow drawing: still frames


def test_a_busy_machine_slows_the_frames_not_the_projection():
    """The budgets count the worker's CPU time: when the projection gets a tenth of the CPU, the GUI
    draws a tenth as often, so that it keeps to its share of what the projection gets."""
    def frames_for(cpu_share: float) -> int:
        box = Outbox()
        wall = Clock(0.001)
        cpu = lambda: wall.t * cpu_share  # noqa: E731 - the worker's CPU seconds so far
        gen = paced(FakeProjection(5000), box, frame, energy, Control(draw_cost=0.01), clock=wall, cpu_clock=cpu)
        return sum(len(m.frames) for m in _read_all(gen, box))

    idle, busy = frames_for(1.0), frames_for(0.1)
    per = 0.01 / DRAW_BUDGET  # CPU seconds between frames
    # idle: ~5 s of the worker's CPU; busy: ~0.5 s
    assert 0.8 * 5 / per <= idle <= 1.2 * 5 / per + 1 and 1 <= busy <= 0.5 / per + 2


def test_pause_shows_the_iterate_then_steps_one_at_a_time():
    box = Outbox()
    proj = FakeProjection(50)
    gen = paced(proj, box, frame, energy, Control(paused=True), clock=Clock(0.001), sleep=lambda s: None)
    assert next(gen) is True
    m = box.take()
    assert [f[1] for f in m.frames] == [0] and [e[0] for e in m.energy] == [0]
    for _ in range(20):  # paused: nothing moves however long it is asked
        assert gen.send(None) is None
    assert box.take().energy == []
    ctl = Control(paused=True, steps=1)
    gen.send(ctl)
    for _ in range(5):
        gen.send(None)
    m = box.take()
    assert [e[0] for e in m.energy] == [1] and [f[1] for f in m.frames] == [1]  # a stepped iterate is drawn
    gen.send(replace(ctl, steps=3))  # two more steps asked at once
    for _ in range(5):
        gen.send(None)
    m = box.take()
    assert [e[0] for e in m.energy] == [2, 3] and [f[1] for f in m.frames] == [2, 3]  # both kept
    ys, _ = drive_rest(gen, Control(paused=False, steps=3))
    assert box.take().final[1] == 50


def drive_rest(gen, ctl):
    out = [gen.send(ctl)]
    try:
        while True:
            out.append(gen.send(None))
    except StopIteration as e:
        return out, e.value


def test_stop_ends_with_the_current_iterate():
    box = Outbox()
    gen = paced(FakeProjection(10000), box, frame, energy, clock=Clock(0.001))
    next(gen)
    for _ in range(30):
        gen.send(None)
    with pytest.raises(StopIteration) as e:
        gen.send(Control(stop=True))
        gen.send(None)
    assert e.value.value is False  # stopped, not ended on its own
    m = box.take()
    assert m.done and m.final[1] == m.energy[-1][0] == 30


def test_live_alpha_and_lambda_apply_from_the_next_iteration():
    box, proj = Outbox(), FakeProjection(20)
    ys, _ = drive(paced(proj, box, frame, energy, Control(alpha=0.5, lam=0.05), clock=Clock(0.001)),
                  {5: Control(alpha=0.01, lam=0.05), 9: Control(alpha=0.01, lam=0.2)})
    assert proj.updates == [(4, {"alpha": 0.01, "lam": 0.05}), (8, {"alpha": 0.01, "lam": 0.2})]  # sent after record 4, 8
    assert box.take().final[2:] == (0.01, 0.2)


def test_an_error_is_one_line_and_the_last_iterate_is_kept():
    box = Outbox()
    _, ended = drive(paced(FakeProjection(10, fail_at=4), box, frame, energy, clock=Clock(0.001)))
    m = box.take()
    assert ended is False and m.done and m.error == "the model's loss is not finite on this input"
    assert m.final[1] == 3 and [e[0] for e in m.energy] == [0, 1, 2, 3]


def test_an_error_before_the_first_record_gives_no_frame():
    box = Outbox()
    drive(paced(FakeProjection(10, fail_at=0), box, frame, energy))
    m = box.take()
    assert m.done and m.final is None and "not finite" in m.error


def test_outbox_notifies_once_until_taken_and_keeps_the_newest_frame():
    box = Outbox()
    assert box.post(energy=[1], frame="a") is True
    assert box.post(energy=[2], frame="b") is False
    m = box.take()
    assert m.energy == [1, 2] and m.frames == ["b"] and not m.done
    box.post(frame="c", keep=True)  # a frame that must be seen (first, stepped, paused on)
    box.post(frame="d")
    box.post(frame="e")
    box.post(frame="f", keep=True)
    assert box.take().frames == ["c", "f"]  # "d" and "e" were replaced, the kept ones never
    assert box.post(energy=[3], final="z", done=True) is True
    m = box.take()
    assert m.done and m.final == "z" and m.frames == [] and m.energy == [3]
    assert box.take().final is None  # the final mail is taken once
