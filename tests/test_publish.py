"""Outputs appear all at once, one run per folder, the planner's files untouched.

The subprocess tests kill real ``access run`` processes with SIGKILL at
chosen moments and check the output folder file by file against the
``run.json`` manifest of the run it claims to hold (sizes and SHA-256
computed here with hashlib), then open every table, layer and page.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from access import publish
from access.errors import InputError, InputWarning

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
POSIX = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and flock are POSIX")


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _publish(out: Path, files: dict[str, bytes]) -> None:
    """A run writing ``files`` and a run.json listing them, through :func:`publish.staged`."""
    with publish.staged(out) as stage:
        for rel, data in files.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).write_bytes(data)
        (stage / "run.json").write_text(json.dumps({"files": publish.manifest(stage)}), encoding="utf-8")


# --------------------------------------------------------------------------
# staging and swap, in process
# --------------------------------------------------------------------------
def test_earlier_outputs_go_planner_files_stay(tmp_path):
    out = tmp_path / "out"
    (out / "mine").mkdir(parents=True)
    (out / "notes.txt").write_text("planner's notes")
    (out / "mine" / "plan.txt").write_text("plan")
    (out / "empty_folder").mkdir()
    _publish(out, {"cells.parquet": b"A" * 10, "township_rules.csv": b"rules", "lib/x.js": b"js",
                   "lib/images/i.png": b"png", "edited.csv": b"v1"})
    first = json.loads((out / "run.json").read_text())["files"]
    assert {r["path"] for r in first} == {"cells.parquet", "township_rules.csv", "lib/x.js", "lib/images/i.png",
                                          "edited.csv"}
    assert {r["path"]: (r["bytes"], r["sha256"]) for r in first}["cells.parquet"] == \
        (10, hashlib.sha256(b"A" * 10).hexdigest())
    ino = (out / "notes.txt").stat().st_ino
    (out / "edited.csv").write_bytes(b"changed by the planner")

    with pytest.warns(InputWarning, match="edited.csv: kept"):
        _publish(out, {"cells.parquet": b"B" * 5, "lib/x.js": b"js2"})
    tree = _tree(out)
    assert set(tree) == {"cells.parquet", "lib/x.js", "run.json", "notes.txt", "mine/plan.txt", "edited.csv"}
    assert tree["cells.parquet"] == b"B" * 5 and tree["notes.txt"] == b"planner's notes"
    assert tree["edited.csv"] == b"changed by the planner"
    assert (out / "notes.txt").stat().st_ino == ino  # the same file, linked, not rewritten
    assert (out / "empty_folder").is_dir() and not (out / "lib" / "images").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging, no lock left


def test_file_saved_during_the_swap_is_not_lost(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _publish(out, {"a.csv": b"1"})
    carry_over = publish._carry_over

    def planner_saves_meanwhile(o, stage):
        dropped = carry_over(o, stage)
        (o / "saved_just_now.txt").write_text("mine")
        return dropped

    monkeypatch.setattr(publish, "_carry_over", planner_saves_meanwhile)
    _publish(out, {"a.csv": b"2"})
    tree = _tree(out)
    assert set(tree) == {"a.csv", "run.json", "saved_just_now.txt"}
    assert tree["a.csv"] == b"2" and tree["saved_just_now.txt"] == b"mine"


def test_failed_run_publishes_nothing(tmp_path):
    out = tmp_path / "out"
    _publish(out, {"a.csv": b"1"})
    before = _tree(out)
    with pytest.raises(RuntimeError), publish.staged(out) as stage:
        (stage / "a.csv").write_bytes(b"half")
        raise RuntimeError("killed while computing")
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_manifest_cannot_reach_outside_the_folder(tmp_path):
    out = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    _publish(out, {"a.csv": b"1"})
    run = json.loads((out / "run.json").read_text())
    run["files"] += [{"path": "../victim.txt", "bytes": 4, "sha256": _sha(victim)},
                     {"path": str(victim), "bytes": 4, "sha256": _sha(victim)}]
    (out / "run.json").write_text(json.dumps(run))
    _publish(out, {"b.csv": b"2"})
    assert victim.read_text() == "keep" and set(_tree(out)) == {"b.csv", "run.json"}


def test_two_rename_fallback_and_its_recovery(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(publish, "_libc_renameat2", lambda: None)  # as on a system without renameat2
    _publish(out, {"a.csv": b"1", "b.csv": b"1"})
    _publish(out, {"a.csv": b"2"})
    assert set(_tree(out)) == {"a.csv", "run.json"} and (out / "a.csv").read_bytes() == b"2"
    # killed between the two renames: the previous outputs wait under .out.old-<pid> and come back first
    os.rename(out, tmp_path / ".out.old-4242")
    (tmp_path / ".out.staging-4242").mkdir()
    with pytest.warns(InputWarning, match="restored the previous outputs"), publish.output_lock(out):
        assert (out / "a.csv").read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_lock_is_reentrant_in_one_process(tmp_path):
    out = tmp_path / "out"
    with publish.output_lock(out) as me:
        assert me.pid == os.getpid()
        with publish.output_lock(out) as again:  # write_outputs inside access run
            assert again.pid == os.getpid()
        assert (tmp_path / ".out.lock").exists()
    assert not (tmp_path / ".out.lock").exists()


_HOLD = """
import sys, time
from access import publish
with publish.output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@POSIX
def test_lock_held_by_a_live_process_then_stale_after_sigkill(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(publish.OutputBusy) as e, publish.output_lock(out):
            pass
        msg = str(e.value)
        assert f"PID {holder.pid}" in msg and "started" in msg and str(out) in msg and "another run" in msg
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert json.loads((tmp_path / ".out.lock").read_text())["pid"] == holder.pid  # left behind by the dead
    with pytest.warns(InputWarning, match=f"took over the lock left by PID {holder.pid} .*no longer running"):
        with publish.output_lock(out) as me:
            assert json.loads((tmp_path / ".out.lock").read_text())["pid"] == me.pid == os.getpid()


# --------------------------------------------------------------------------
# paths
# --------------------------------------------------------------------------
def test_output_folder_may_not_hold_inputs(tmp_path):
    from access.scenario import load_scenario

    sc = load_scenario(DEMO / "scenario.toml")
    for bad in (DEMO, DEMO.parent, DEMO / "x" / ".."):
        with pytest.raises(InputError, match="must not be the scenario's or an input's folder"):
            publish.check_output_folder(bad, sc)
    assert publish.check_output_folder(tmp_path / "x" / ".." / "out", sc) == tmp_path / "out"
    assert publish.check_output_folder(DEMO / "output", sc) == DEMO / "output"  # inside is fine
    rec = publish.paths_record(sc, tmp_path / "x" / ".." / "out")
    assert rec["output"] == str(tmp_path / "out") and rec["scenario"] == str(DEMO / "scenario.toml")
    assert rec["inputs"]["network"] == str(DEMO / "roads.osm.pbf")
    assert all(Path(p).is_absolute() for p in rec["inputs"].values())


# --------------------------------------------------------------------------
# real runs killed with SIGKILL
# --------------------------------------------------------------------------
def _scenario(path: Path, out: Path, *, targets: bool) -> Path:
    """The demo scenario's first two circles beside a copy of its inputs, writing to ``out``.

    ``targets=False``: without its supply targets, so without the supply tables.
    """
    study = path.parent
    if not (study / "roads.osm.pbf").exists():
        shutil.copytree(DEMO, study, dirs_exist_ok=True)
    sections = re.split(r"(?m)^(?=\[)", (DEMO / "scenario.toml").read_text(encoding="utf-8"))
    kept, circles = [], 0
    for sec in sections:
        circles += sec.startswith("[[circles]]")
        if (sec.startswith("[[targets]]") and not targets) or (sec.startswith("[[circles]]") and circles > 2):
            continue
        kept.append(re.sub(r"(?m)^output = .*$", f"output = {json.dumps(out.as_posix())}", sec))
    path.write_text("".join(kept), encoding="utf-8")
    return path


def _access(*args: str) -> subprocess.Popen:
    """``access`` in a subprocess; its stderr goes to a file (a full pipe would stall it)."""
    err = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "access.cli", *args], stdout=subprocess.DEVNULL, stderr=err,
                            text=True, cwd=ROOT)
    proc.err = err
    return proc


def _stderr(proc: subprocess.Popen) -> str:
    proc.err.seek(0)
    return proc.err.read()


class _Html(HTMLParser):
    pass


def _readable(p: Path) -> None:
    if p.suffix == ".parquet":
        assert len(pd.read_parquet(p)) > 0
    elif p.suffix == ".csv":
        assert len(pd.read_csv(p, encoding="utf-8-sig")) > 0
    elif p.suffix == ".gpkg":
        gpd.read_file(p)
    elif p.suffix == ".html":
        text = p.read_text(encoding="utf-8")
        _Html().feed(text)
        assert text.rstrip().endswith("</html>"), p
    elif p.suffix in (".json", ".geojson"):
        json.loads(p.read_text(encoding="utf-8"))
    elif p.suffix == ".xlsx":
        import openpyxl

        assert openpyxl.load_workbook(p, read_only=True).sheetnames


def _complete(out: Path, planner: dict[str, bytes]) -> dict:
    """Assert ``out`` holds exactly one run's files, intact and readable, plus the planner's; return run.json."""
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    listed = {r["path"]: r for r in run["files"]}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == set(listed) | {"run.json"} | set(planner)
    for rel, r in listed.items():
        assert (out / rel).stat().st_size == r["bytes"] and _sha(out / rel) == r["sha256"], rel
        _readable(out / rel)
    for rel, data in planner.items():
        assert (out / rel).read_bytes() == data
    return run


def _files_in(folder: Path) -> list[str]:
    try:
        return [os.path.join(r, n) for r, _, names in os.walk(folder) for n in names]
    except OSError:
        return []


def _kill_when(proc: subprocess.Popen, stage: Path, ready, limit_s: float = 600) -> list[str] | None:
    """SIGKILL ``proc`` as soon as ``ready(files in stage)``; the staged files seen then.

    None when the run published and ended before the moment came (possible
    only for the last moment, the swap itself).
    """
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        seen = _files_in(stage)
        if ready(seen):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return seen
        if proc.poll() is not None:
            assert proc.returncode == 0, _stderr(proc)
            return None
        time.sleep(0.005)
    proc.kill()
    pytest.fail("kill moment never came")


@POSIX
@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_previous_or_new_outputs(tmp_path):
    out = tmp_path / "out"
    planner = {"notes.txt": "规划说明 (the planner's own)".encode(), "mine/sketch.svg": b"<svg/>"}
    for rel, data in planner.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    full = _scenario(tmp_path / "study" / "full.toml", out, targets=True)
    small = _scenario(tmp_path / "study" / "small.toml", out, targets=False)

    r = _access("run", str(full), "--quiet")
    assert r.wait() == 0, _stderr(r)
    first = previous = _complete(out, planner)
    assert "supply_township.csv" in {f["path"] for f in previous["files"]}
    assert previous["paths"]["output"] == str(out) and previous["paths"]["scenario"] == str(full)

    stage = tmp_path / ".out.staging-{}"
    moments = {
        # the run holds the lock and has not begun staging: a fixed delay would race a fast machine's whole run
        "computing (no staged file yet)": lambda seen: (
            _lock_pid(tmp_path / ".out.lock") == proc.pid and not Path(str(stage).format(proc.pid)).exists()
        ),
        "first table staged": lambda seen: len(seen) >= 1,
        "tables and layers staged": lambda seen: len(seen) >= 4,
        "maps being written (lib/ staged)": lambda seen: any("/lib/" in s for s in seen),
        "run.json staged (at the swap)": lambda seen: any(s.endswith("run.json") for s in seen),
        "new run.json in place (after the swap)": lambda seen: _sha(out / "run.json") != previous_sha,
    }
    outcomes = {}
    for moment, ready in moments.items():
        previous_sha = _sha(out / "run.json")
        proc = _access("run", str(small), "--quiet")
        seen = _kill_when(proc, Path(str(stage).format(proc.pid)), ready)
        assert seen is not None or "swap" in moment
        assert proc.returncode == (-signal.SIGKILL if seen is not None else 0)
        run = _complete(out, planner)
        outcomes[moment] = ("previous" if run == previous else "new", "killed" if seen is not None else "finished",
                            len(seen or []))
        if run != previous:
            previous = run  # published just before the kill: the new run is complete
    print(outcomes)
    assert outcomes["computing (no staged file yet)"][0] == "previous"
    assert outcomes["first table staged"][0] == "previous"
    assert outcomes["maps being written (lib/ staged)"][0] == "previous"
    assert outcomes["new run.json in place (after the swap)"][0] == "new"

    # the small scenario's outputs replaced the full one's: what it did not write is gone
    final = _complete(out, planner)  # exactly one run's files and the planner's
    stale = {f["path"] for f in first["files"]} - {f["path"] for f in final["files"]}
    assert "supply_township.csv" in stale  # the small scenario has no supply targets
    assert not any((out / rel).exists() for rel in stale)
    # the last victim left its lock and perhaps its staging folder: the next run cleans both up
    with pytest.warns(InputWarning, match="took over the lock"), publish.output_lock(out):
        assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out", "study"]


def _lock_pid(lock: Path) -> int | None:
    try:
        return json.loads(lock.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None  # not there yet, or being written


@POSIX
def test_second_run_into_the_same_folder_fails_at_once(tmp_path):
    out = tmp_path / "out"
    small = _scenario(tmp_path / "study" / "small.toml", out, targets=False)
    first = _access("run", str(small), "--quiet")
    lock = tmp_path / ".out.lock"
    try:
        t0 = time.perf_counter()
        while _lock_pid(lock) != first.pid:
            assert first.poll() is None, _stderr(first)
            assert time.perf_counter() - t0 < 60
            time.sleep(0.02)
        t1 = time.perf_counter()
        second = _access("run", str(small), "--quiet")
        second.wait(timeout=60)
        err = _stderr(second)
        assert first.poll() is None  # still running: the second did not wait for it
        assert second.returncode == 2 and "Traceback" not in err
        assert f"another run is writing to this output folder: PID {first.pid}" in err and str(out) in err
        assert time.perf_counter() - t1 < 15
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert not out.exists() or not any(out.iterdir())  # killed while computing: nothing published
    # the dead run's lock is stale: the next run takes it over at once and says whose it was
    third = _access("run", str(small), "--quiet")
    try:
        t0 = time.perf_counter()
        while _lock_pid(lock) != third.pid:
            assert third.poll() is None, _stderr(third)
            assert time.perf_counter() - t0 < 60
            time.sleep(0.02)
    finally:
        third.send_signal(signal.SIGKILL)
        third.wait()
        err = _stderr(third)
    assert f"took over the lock left by PID {first.pid} on" in err and "which is no longer running" in err
