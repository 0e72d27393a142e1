"""bench/soak: its command line, its sampling of the files under the roots, and its leak
verdict and report on synthetic samples (the verdict must be able to fail)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOAK = ROOT / "bench" / "soak"


def _load() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("bench_soak", str(SOAK))
    spec = importlib.util.spec_from_loader("bench_soak", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


soak = _load()


def _sample(**items: list[dict[str, Any]]) -> dict[str, Any]:
    full = {kind: list(items.get(kind, [])) for kind, _ in soak.KINDS}
    return {"label": "x", "t": 0.0, "items": full,
            "counts": {k: len(v) for k, v in full.items()},
            "stale": {k: 0 for k in full}, "monitor_list": [], "zombie_list": []}


def _data(before: dict[str, Any], after: dict[str, Any], *,
          errors: list[dict[str, Any]] | None = None,
          anchors: dict[str, list[dict[str, Any]]] | None = None,
          periodic: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    anchors = anchors or {}
    return {
        "meta": {"date": "2026-01-01T00:00:00Z", "cycling_s": 10.0, "wall_s": 12.0,
                 "workers": 2, "monitors": ["compiled", "python"], "commit": "abc1234",
                 "loadavg_start": 0.1, "loadavg_end": 0.2, "notes": ["no gc loop"]},
        "cycles": {"compiled": {"cycles": 3, "runs": 4, "rm_runs": 1},
                   "python": {"cycles": 2, "runs": 3, "rm_runs": 0}},
        "exit_counts": {"compiled|run -d|0": 4, "compiled|wait|137": 1,
                        "python|exec|1": 1},
        "exit_expected": {"compiled|run -d|0": True, "compiled|wait|137": True,
                          "python|exec|1": False},
        "errors": errors or [],
        "anchors": anchors,
        "lingering_zombies": [],
        "samples": {"before": before, "end": after, "after": after,
                    "periodic": periodic or []},
        "leaks": soak.find_leaks(before, after),
        "drift": soak.find_drift(anchors),
        "sweep": [],
    }


def _point(fds: int, execs: int = 0, rss: int = 1500, kind: str = "compiled",
           **fd_kinds: int) -> dict[str, Any]:
    return {"t": 1.0, "kind": kind, "ns": f"soak-{kind}", "pid": 10, "fds": fds,
            "fd_kinds": fd_kinds or {"pipe": fds}, "rss_kib": rss, "exec_records": execs}


def test_help_works() -> None:
    cp = subprocess.run([sys.executable, str(SOAK), "--help"], capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0, cp.stderr
    for option in ("--duration", "--workers", "--monitor", "--root", "--state", "--json"):
        assert option in cp.stdout
    assert os.access(SOAK, os.X_OK)


def test_defaults_and_validation(tmp_path: Path) -> None:
    a = soak.parse_args([])
    assert (a.duration, a.workers, a.monitor, a.monitors) == (
        180.0, 4, "both", ["compiled", "python"])
    assert a.root is None and a.state is None and a.json is None
    assert soak.parse_args(["--monitor", "python"]).monitors == ["python"]
    assert soak.parse_args(["--state", str(tmp_path / "s")]).state == str(tmp_path / "s")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    for bad in (["--duration", "0"], ["--workers", "0"], ["--monitor", "crun"],
                ["--state", "/run/pytasks"], ["--root", "/var/lib/pytasks"],
                ["--root", str(tmp_path / "full")]):
        with pytest.raises(SystemExit) as exc:
            soak.parse_args(bad)
        assert exc.value.code == 2, bad


def test_clean_run_passes() -> None:
    before = _sample()
    after = _sample()
    data = _data(before, after, anchors={"cw0-anchor": [_point(10), _point(10)]})
    assert data["leaks"] == {} and data["drift"] == {}
    status, reasons = soak.verdict(data)
    assert (status, reasons) == (0, [])
    report = soak.render(data)
    assert "Result: PASS" in report
    assert "| compiled | 3 | 4 | 1 |" in report


def test_leftover_of_a_deleted_task_fails() -> None:
    before = _sample()
    after = _sample(locks=[{"ns": "soak-compiled", "id": "cw0-1", "detail": ""}],
                    cgroups=[{"ns": "soak-python", "id": "pw1-2", "detail": "/x in pids"}])
    data = _data(before, after)
    assert set(data["leaks"]) == {"locks", "cgroups"}
    status, reasons = soak.verdict(data)
    assert status == 1
    assert any("lock files" in r for r in reasons)
    report = soak.render(data)
    assert "Result: FAIL" in report
    assert "- locks: 1: soak-compiled/cw0-1" in report
    assert "| task cgroups | 0 | 1 / 0 | 0 | 1 | **1** |" in report


def test_tolerated_kind_is_reported_but_does_not_fail() -> None:
    after = _sample(locks=[{"ns": "soak-compiled", "id": f"cw0-{i}", "detail": ""}
                           for i in range(7)])
    data = _data(_sample(), after)
    data["meta"]["tolerate"] = ["locks"]
    assert soak.verdict(data) == (0, ["tolerated leak: 7 lock files (.locks/<id>.lock)"])
    report = soak.render(data)
    assert "**7** (tolerated)" in report and "and 2 more" in report
    data["leaks"]["cgroups"] = [{"ns": "soak-python", "id": "pw0-1", "detail": ""}]
    assert soak.verdict(data)[0] == 1
    assert soak.parse_args(["--tolerate", "locks", "--tolerate", "fifo_dirs"]).tolerate == [
        "locks", "fifo_dirs"]
    with pytest.raises(SystemExit):
        soak.parse_args(["--tolerate", "nonsense"])


def test_what_was_there_before_is_no_leak() -> None:
    zombie = {"ns": "", "id": "", "detail": "pid 7 (child of the soak)"}
    data = _data(_sample(zombies=[zombie]), _sample(zombies=[zombie]))
    assert data["leaks"] == {}
    assert soak.verdict(data)[0] == 0


def test_unexpected_error_fails() -> None:
    err = {"t": 1.0, "monitor": "python", "op": "exec", "rc": "1", "why": None,
           "argv": "pytasks -n soak-python exec pw0-0 sh -c 'echo soak'",
           "stderr": "pytasks: boom", "stdout": ""}
    data = _data(_sample(), _sample(), errors=[err])
    status, reasons = soak.verdict(data)
    assert status == 1 and reasons == ["1 unexpected error(s)"]
    report = soak.render(data)
    assert "pytasks: boom" in report
    assert "| python | exec | 1 | 1 | **no** |" in report


def test_anchor_drift_fails_only_on_growth() -> None:
    grew = {"cw0-anchor": [_point(10, pipe=8, socket=2), _point(12, pipe=10, socket=2)]}
    drift = soak.find_drift(grew)
    assert [d["id"] for d in drift["anchor_fds"]] == ["cw0-anchor"]
    assert "pipe +2" in drift["anchor_fds"][0]["detail"]
    assert soak.find_drift({"a": [_point(10, execs=0), _point(9, execs=1)]}) == {
        "anchor_exec_records": [{"ns": "soak-compiled", "id": "a",
                                 "detail": "0 -> 1 exec records"}]}
    assert soak.find_drift({"a": [_point(10)]}) == {}
    assert soak.verdict(_data(_sample(), _sample(), anchors=grew))[0] == 1


def test_stale_items_attribute_by_namespace_and_id() -> None:
    deleted = {("soak-compiled", "cw0-1")}
    items = [{"ns": "soak-compiled", "id": "cw0-1"}, {"ns": "soak-python", "id": "cw0-1"},
             {"ns": "", "id": "cw0-1"}, {"ns": "soak-compiled", "id": "cw0-2"}]
    assert soak.stale_items(items, deleted) == [items[0], items[2]]


def test_rss_stats_over_samples() -> None:
    periodic = [{"monitor_list": [{"kind": "compiled", "rss_kib": 1000},
                                  {"kind": "python", "rss_kib": 10000}]},
                {"monitor_list": [{"kind": "compiled", "rss_kib": 3000}]}]
    assert soak.rss_stats(periodic, "compiled") == {"n": 2, "min": 1000, "median": 2000.0,
                                                    "max": 3000}
    assert soak.rss_stats(periodic, "none") is None


def test_host_sample_reads_the_files_under_the_roots(tmp_path: Path) -> None:
    root, state = str(tmp_path / "root"), str(tmp_path / "state")
    ns = "soak-compiled"
    # .events (the journal) is the namespace's, not a leaked task dir.
    for d in (f"{state}/{ns}/cw0-1", f"{state}/{ns}/.locks", f"{state}/{ns}/.events",
              f"{state}/fifo/{ns}/cw0-1",
              f"{state}/runtime/{ns}/cw0-1", f"{root}/{ns}/containers"):
        os.makedirs(d)
    Path(f"{state}/{ns}/.locks/cw0-1.lock").write_text("")
    Path(f"{state}/{ns}/.locks/cw0-2.lock").write_text("")
    Path(f"{root}/{ns}/containers/cw0-1.json").write_text("{}")
    host = soak.Host(root, state, [ns])
    s = host.sample("t", {(ns, "cw0-2")})
    assert {k: v for k, v in s["counts"].items() if v} == {
        "task_dirs": 1, "locks": 2, "fifo_dirs": 1, "runtime_dirs": 1, "containers": 1}
    assert {k: v for k, v in s["stale"].items() if v} == {"locks": 1}
    after = host.sample("t", {(ns, "cw0-1"), (ns, "cw0-2")})
    leaks = soak.find_leaks(_sample(), after)
    assert sorted(leaks) == ["containers", "fifo_dirs", "locks", "runtime_dirs", "task_dirs"]
