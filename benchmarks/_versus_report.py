"""The tables of benchmarks/versus.py: one line per tool and row with both clocks and each
side's CPU and memory, then the ``_common.Row`` rows with the ratios and issue 17's targets."""

from __future__ import annotations

import math
from typing import Any

from _common import Row
from _datasets import DATASETS, median, per_file_ms, per_gib, rate, speed_ratio

__all__ = ["TARGETS", "report", "summary_rows"]

#: Issue 17's targets.
TARGETS = {
    "small_vs_syncthing": 2.0,  #: files/s, x Syncthing's
    "small_cpu_ms": 0.2,  #: getter CPU ms per file
    "big_vs_raw": 0.7,  #: x a raw TCP copy
    "big_cpu_s_gib": 1.5,  #: getter CPU s per GiB
    "new_file_s": 0.1,  #: median
    "multi_mb_s": 90.0,
    "rss_mb": 100.0,
}
MB = 1e6


def done(m: Any) -> int:
    """Files in place at the end of the measurement (fewer when stopped at the time limit)."""
    return int(m.files if m.done < 0 else m.done)


def speed(m: Any, seconds: float) -> float:
    """What ``m`` moved per second: MB/s for one file, files/s for many."""
    if m.files == 1:
        return rate(done(m) * m.total / MB, seconds)
    return rate(done(m), seconds)


def _rate_text(m: Any, seconds: float) -> str:
    return f"{speed(m, seconds):,.0f} {'MB/s' if m.files == 1 else 'files/s'}"


def _cpu_text(stats: Any) -> str:
    return f"{stats.cpu:.2f} ({stats.system:.2f})"


def _unit_cost(m: Any, side: str = "receiver") -> str:
    """A side's CPU per GiB (one file) or per file (many)."""
    return f"{_cost(m, side):.{2 if m.files == 1 else 3}f} {'s/GiB' if m.files == 1 else 'ms/file'}"


def _cost(m: Any, side: str = "receiver") -> float:
    """A side's CPU seconds per GiB (one file) or milliseconds per file (many) it moved."""
    cpu = getattr(m, side).cpu
    if m.files == 1:
        return per_gib(cpu, m.total) if done(m) else float("inf")
    return per_file_ms(cpu, done(m)) if done(m) else float("inf")


def detail_table(measures: list[Any]) -> str:
    """One line per measurement."""
    head = (f"{'row':<8}{'tool':<30}{'transfer s':>11}{'rate':>15}{'whole s':>9}{'rate':>15}"
            f"{'sender CPU s (sys)':>20}{'receiver CPU s (sys)':>22}{'sender cost':>16}"
            f"{'receiver cost':>16}"
            f"{'RSS MB snd/rcv':>16}")
    lines = [head]
    for m in measures:
        if m.row == "newfile":
            rates = ("", "")
            transfer = f"{m.transfer_s:.3f}"
            whole = " ".join(f"{s:.2f}" for s in m.samples)
        else:
            rates = (_rate_text(m, m.transfer_s), _rate_text(m, m.whole_s))
            transfer, whole = f"{m.transfer_s:.2f}", f"{m.whole_s:.2f}"
        lines.append(
            f"{m.row:<8}{m.tool:<30}{transfer:>11}{rates[0]:>15}{whole:>9}{rates[1]:>15}"
            f"{_cpu_text(m.sender):>20}{_cpu_text(m.receiver):>22}"
            f"{_unit_cost(m, 'sender') if m.row != 'newfile' else '':>16}"
            f"{_unit_cost(m) if m.row != 'newfile' else '':>16}"
            f"{m.sender.rss_peak / MB:>8.0f}/{m.receiver.rss_peak / MB:<7.0f}"
            + (f" STOPPED at the time limit: {done(m):,} of {m.files:,} files" if m.done >= 0
               else ""))
    return "\n".join(lines)


def _sent_text(m: Any) -> str:
    """What each source's link carried, e.g. "A sent 540 MB, C sent 534 MB"."""
    return ", ".join(f"{name} sent {n / MB:.0f} MB" for name, n in zip("AC", m.sent,
                                                                         strict=False))


def _find(measures: list[Any], row: str, tool: str) -> Any:
    return next((m for m in measures if m.row == row and m.tool == tool), None)


def _label(m: Any) -> str:
    """The label of the data set ``m`` moved."""
    return str(m.label or m.row)


def _bulk_rows(measures: list[Any], key: str) -> list[Row]:
    mf, st, raw = (_find(measures, key, t) for t in ("mfsync", "Syncthing", "raw"))
    if mf is None:
        return []
    label = _label(mf)
    one = mf.files == 1
    unit = "MB/s" if one else "files/s"
    value = round(speed(mf, mf.transfer_s), 1)
    stopped = (f"; mfsync STOPPED at the time limit with {done(mf):,} of {mf.files:,} files"
               if mf.done >= 0 else "")
    rows: list[Row] = []
    if st is not None:
        # rates, not times: a row stopped at its limit has a rate over what arrived
        ratio = speed(mf, mf.transfer_s) / speed(st, st.transfer_s)
        target = (f">= {TARGETS['small_vs_syncthing']:g}x Syncthing" if not one
                  else "reported (Syncthing)")
        rows.append(Row(
            f"versus {label}: sync transfer vs Syncthing", value,
            unit, target, (one or ratio >= TARGETS["small_vs_syncthing"]) and mf.done < 0,
            baseline=f"Syncthing {_rate_text(st, st.transfer_s)}", ratio=round(ratio, 2),
            detail=f"whole: mfsync {mf.whole_s:.2f} s ({_rate_text(mf, mf.whole_s)}), "
                   f"Syncthing {st.whole_s:.2f} s ({_rate_text(st, st.whole_s)}), x"
                   f"{speed(mf, mf.whole_s) / speed(st, st.whole_s):.2f}{stopped}"))
    if raw is not None:
        ratio = speed(mf, mf.transfer_s) / speed(raw, raw.transfer_s)
        rows.append(Row(
            f"versus {label}: sync transfer vs raw TCP", value,
            unit, f">= {TARGETS['big_vs_raw']:g} of raw" if one else "reported (raw)",
            (ratio >= TARGETS["big_vs_raw"] if one else True) and mf.done < 0,
            baseline=f"raw {_rate_text(raw, raw.transfer_s)}", ratio=round(ratio, 2),
            detail=f"whole: raw {raw.whole_s:.2f} s (sender start to last file), mfsync/raw "
                   f"x{speed(mf, mf.whole_s) / speed(raw, raw.whole_s):.2f}{stopped}"))
    cost = _cost(mf)
    limit = TARGETS["big_cpu_s_gib"] if one else TARGETS["small_cpu_ms"]
    st_cost = ""
    if st is not None:
        st_cost = f"Syncthing {_unit_cost(st)} (sys {st.receiver.system:.2f} s)"
    rows.append(Row(
        f"versus {label}: getter CPU", round(cost, 3), "CPU-s/GiB" if one else "CPU-ms/file",
        f"<= {limit:g}", cost <= limit and mf.done < 0, baseline=st_cost,
        detail=f"receiver {mf.receiver.cpu:.2f} s of which sys {mf.receiver.system:.2f} s; "
               f"sender {mf.sender.cpu:.2f} s (sys {mf.sender.system:.2f}, "
               f"{_unit_cost(mf, 'sender')}){stopped}"))
    peak = max(mf.sender.rss_peak, mf.receiver.rss_peak) / MB
    rows.append(Row(
        f"versus {label}: RSS peak", round(peak, 1), "MB", f"< {TARGETS['rss_mb']:g} MB",
        peak < TARGETS["rss_mb"],
        baseline=(f"Syncthing {max(st.sender.rss_peak, st.receiver.rss_peak) / MB:.0f} MB"
                  if st is not None else ""),
        detail=f"mfsync sender {mf.sender.rss_peak / MB:.0f} MB, receiver "
               f"{mf.receiver.rss_peak / MB:.0f} MB"))
    return rows


def _get_rows(measures: list[Any], m: Any) -> list[Row]:
    """The classic mode's rows: against raw (one file) or Syncthing's sync (many files), as
    issue 17's own table compares them; and the getter's CPU."""
    one = m.files == 1
    base = _find(measures, m.row, "raw" if one else "Syncthing")
    ratio = speed(m, m.transfer_s) / speed(base, base.transfer_s) if base else None
    floor = TARGETS["big_vs_raw"] if one else TARGETS["small_vs_syncthing"]
    cost, limit = _cost(m), TARGETS["big_cpu_s_gib"] if one else TARGETS["small_cpu_ms"]
    return [
        Row(f"versus {_label(m)}: mfsync get transfer", round(speed(m, m.transfer_s), 1),
            "MB/s" if one else "files/s",
            f">= {floor:g}{' of raw' if one else 'x Syncthing (sync)'}",
            ratio is not None and ratio >= floor,
            baseline=f"{base.tool} {_rate_text(base, base.transfer_s)}" if base else "",
            ratio=round(ratio, 2) if ratio is not None else None,
            detail=f"whole get command {m.whole_s:.2f} s ({_rate_text(m, m.whole_s)}: "
                   "start, discovery, --window included)"),
        Row(f"versus {_label(m)}: mfsync get, getter CPU", round(cost, 3),
            "CPU-s/GiB" if one else "CPU-ms/file", f"<= {limit:g}", cost <= limit,
            detail=f"get {m.receiver.cpu:.2f} s of which sys {m.receiver.system:.2f} s; share "
                   f"{m.sender.cpu:.2f} s ({_unit_cost(m, 'sender')}); RSS get "
                   f"{m.receiver.rss_peak / MB:.0f} MB, share {m.sender.rss_peak / MB:.0f} MB"),
    ]


def summary_rows(measures: list[Any]) -> list[Row]:
    """The ``_common.Row`` rows of a run (what benchmarks/run.py prints and keeps)."""
    rows: list[Row] = []
    for key in DATASETS:
        rows += _bulk_rows(measures, key)
    for m in measures:
        if m.tool == "mfsync get" and m.row in DATASETS:
            rows += _get_rows(measures, m)
    mf = _find(measures, "newfile", "mfsync")
    if mf is not None:
        st = _find(measures, "newfile", "Syncthing")
        st1 = next((m for m in measures if m.row == "newfile" and "DelayS" in m.tool), None)
        rows.append(Row(
            "versus new file at a running peer", round(mf.transfer_s, 3), "s median",
            f"<= {TARGETS['new_file_s']:g} s", mf.transfer_s <= TARGETS["new_file_s"],
            baseline=(f"Syncthing {st.transfer_s:.2f} s" if st else "")
            + (f", fsWatcherDelayS=1 {st1.transfer_s:.2f} s" if st1 else ""),
            ratio=round(speed_ratio(mf.transfer_s, st.transfer_s), 1) if st else None,
            detail=f"{len(mf.samples)} files; mfsync max {max(mf.samples):.3f} s"))
    multi = _find(measures, "multi", "mfsync get, two sources")
    if multi is not None:
        raw = _find(measures, "multi", "raw, one link")
        st = _find(measures, "multi", "Syncthing, two sources")
        mb_s = rate(multi.total / MB, multi.transfer_s)
        rows.append(Row(
            "versus one file from two 50 MB/s sources", round(mb_s, 1), "MB/s",
            f">= {TARGETS['multi_mb_s']:g} MB/s", mb_s >= TARGETS["multi_mb_s"],
            baseline=(f"raw one link {_rate_text(raw, raw.transfer_s)}" if raw else "")
            + (f"; Syncthing two sources {_rate_text(st, st.transfer_s)}" if st else ""),
            ratio=round(speed_ratio(multi.transfer_s, raw.transfer_s), 2) if raw else None,
            detail=f"{multi.total / MB:.0f} MB; tc tbf 400 mbit on each sender; get CPU "
                   f"{multi.receiver.cpu:.2f} s; {_sent_text(multi)}"
                   + (f"; Syncthing: {_sent_text(st)}" if st else "")))
    return rows


def report(measures: list[Any], quick: bool) -> list[Row]:
    """Print both tables; return the rows."""
    from run import table  # noqa: PLC0415  (the runner's Markdown table)

    print()
    print("mfsync beside Syncthing and a raw TCP copy (network namespaces, data on tmpfs"
          + (", --quick sizes" if quick else "") + ")")
    print("transfer: first entry at B -> last file in place; whole: data renamed into A's "
          "folder -> last file in place (raw: sender started; get: get started -> exited)")
    print("CPU s = user + system over the row (system in brackets); RSS = peak (VmHWM)")
    print()
    print(detail_table(measures))
    for m in measures:
        if m.sent:
            print(f"  {m.tool}: {_sent_text(m)} (kernel counters of each source's eth0)")
    rows = summary_rows(measures)
    print()
    print(table(rows))
    nan_free = [r for r in rows if not math.isnan(r.value)]
    print(f"\n{sum(r.passed for r in nan_free)} of {len(nan_free)} rows meet their target; "
          f"median new-file latencies: "
          + ", ".join(f"{m.tool} {median(list(m.samples)):.3f} s" for m in measures
                      if m.row == "newfile"))
    return rows
