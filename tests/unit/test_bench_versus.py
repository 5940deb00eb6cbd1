"""The pure parts of benchmarks/versus.py (mfsync beside Syncthing and a raw copy): Syncthing's
key and ID parsing and the REST bodies it is configured with, the data set layouts, the raw
copy's record stream (real sockets on loopback, hostile streams), /proc parsing, and the
ratios and targets of the table."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _datasets  # noqa: E402
import _netns  # noqa: E402
import _rawcopy  # noqa: E402
import _syncthing  # noqa: E402
import _versus_report  # noqa: E402
from _common import BenchError  # noqa: E402

DEVICE_ID = "KPRRMPD-KRIJG4R-OOO53K7-7HILKXT-XWXNTRF-6PHZCMN-R7MIH2L-Z7YDHQJ"


# -- Syncthing ---------------------------------------------------------------------------------


def test_device_id_is_read_from_generate_output() -> None:
    out = ("12:00:01 INFO: Generating ECDSA key and certificate for syncthing...\n"
           f"12:00:01 INFO: Device ID: {DEVICE_ID}\n12:00:01 INFO: Default folder created\n")
    assert _syncthing.parse_device_id(out) == DEVICE_ID


@pytest.mark.parametrize("text", ["", "Device ID: KPRRMPD-KRIJG4R", "no id here at all"])
def test_output_without_a_device_id_is_an_error(text: str) -> None:
    with pytest.raises(BenchError):
        _syncthing.parse_device_id(text)


def test_api_key_comes_from_the_gui_section() -> None:
    xml = ('<configuration version="35"><folder id="x"><apikey>not this</apikey></folder>'
           '<gui enabled="true" tls="false"><address>127.0.0.1:8384</address>'
           "<apikey> X96rWKYWkk4TwbcoWnEDHwFfg3y9KiSK </apikey></gui></configuration>")
    assert _syncthing.api_key(xml) == "X96rWKYWkk4TwbcoWnEDHwFfg3y9KiSK"


@pytest.mark.parametrize("xml", ["<configuration><gui></gui></configuration>",
                                 "<configuration><gui><apikey> </apikey></gui></configuration>"])
def test_config_without_an_api_key_is_an_error(xml: str) -> None:
    with pytest.raises(BenchError):
        _syncthing.api_key(xml)


def test_options_switch_off_everything_that_could_leave_the_lan() -> None:
    opts = _syncthing.SAFE_OPTIONS
    for name in ("globalAnnounceEnabled", "localAnnounceEnabled", "relaysEnabled",
                 "natEnabled", "crashReportingEnabled"):
        assert opts[name] is False, name
    assert opts["urAccepted"] == -1
    assert opts["autoUpgradeIntervalH"] == 0
    assert opts["listenAddresses"] == ["tcp://0.0.0.0:22000"]


def test_device_has_its_static_lan_address() -> None:
    body = _syncthing.device_config(DEVICE_ID, "hB", "10.213.7.11")
    assert body["deviceID"] == DEVICE_ID
    assert body["addresses"] == ["tcp://10.213.7.11:22000"]
    assert body["autoAcceptFolders"] is False and body["introducer"] is False


def test_folder_keeps_the_watcher_defaults_unless_told() -> None:
    body = _syncthing.folder_config(Path("/data/b"), ["A", "B"])
    assert body["type"] == "sendreceive" and body["path"] == "/data/b"
    assert body["devices"] == [{"deviceID": "A"}, {"deviceID": "B"}]
    assert "fsWatcherDelayS" not in body and "fsWatcherEnabled" not in body
    assert _syncthing.folder_config(Path("/d"), ["A"], 1)["fsWatcherDelayS"] == 1


@pytest.mark.parametrize(("name", "temp"), [(".syncthing.f000001.bin.tmp", True),
                                            ("f000001.bin", False), (".syncthing.x", False),
                                            ("x.tmp", False)])
def test_syncthing_temp_names(name: str, temp: bool) -> None:
    assert _syncthing.is_temp_name(name) is temp


# -- data sets and ratios ----------------------------------------------------------------------


def test_full_data_sets_have_the_issue_layouts() -> None:
    big, ten, hundred = (_datasets.DATASETS[k][0] for k in ("1gib", "10k", "100k"))
    assert big.layout() == {".": 1} and big.total == 1 << 30
    assert ten.layout() == {f"d{i:02d}": 100 for i in range(100)}
    assert hundred.layout() == {f"d{i:03d}": 100 for i in range(1000)}
    assert ten.label == "10,000 x 4 KiB in 100 folders"
    assert big.label == "1 GiB, one file"


def test_data_set_files_are_written_old_and_digested(tmp_path: Path) -> None:
    ds = _datasets.Dataset("t", 5, 100, 2)
    digests = ds.make(tmp_path)
    assert sorted(digests) == sorted(ds.rel_path(i) for i in range(5))
    for rel in digests:
        assert (tmp_path / "t" / rel).stat().st_size == 100
        assert (tmp_path / "t" / rel).stat().st_mtime < __import__("time").time() - 3000


def test_ratio_arithmetic() -> None:
    assert _datasets.speed_ratio(2.0, 3.0) == 1.5  # we take 2 s, they 3 s: 1.5x as fast
    assert _datasets.speed_ratio(0.0, 1.0) == float("inf")
    assert _datasets.per_gib(3.0, 2 << 30) == 1.5
    assert _datasets.per_file_ms(2.0, 10_000) == pytest.approx(0.2)
    assert _datasets.rate(100, 4.0) == 25.0


# -- the raw copy ------------------------------------------------------------------------------


def test_header_round_trip_and_end_record() -> None:
    head = _rawcopy.encode_header("d0/f.bin", 12345)
    assert _rawcopy.decode_header(head[:_rawcopy.HEADER.size]) == (8, 12345)
    assert head[_rawcopy.HEADER.size:] == b"d0/f.bin"
    assert _rawcopy.encode_header("", 0) == bytes(_rawcopy.HEADER.size)


def test_oversize_names_are_refused_both_ways() -> None:
    with pytest.raises(ValueError, match="too long"):
        _rawcopy.encode_header("x" * 5000, 1)
    with pytest.raises(ValueError, match="name length"):
        _rawcopy.decode_header(_rawcopy.HEADER.pack(5000, 1))


def _listener() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    return srv, srv.getsockname()[1]


def test_a_tree_arrives_whole_over_a_real_socket(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    ds = _datasets.Dataset("t", 30, 3000, 3)
    ds.make(src)
    (src / "t" / "big.bin").write_bytes(bytes(range(256)) * 9000)  # > one 1 MiB chunk
    dest.mkdir()
    srv, port = _listener()
    result: dict[str, Any] = {}

    def receive() -> None:
        conn, _ = srv.accept()
        with conn:
            result.update(_rawcopy.receive_tree(conn, dest))

    worker = threading.Thread(target=receive)
    worker.start()
    sent = _rawcopy.send_tree(src, "127.0.0.1", port)
    worker.join(10)
    srv.close()
    assert result["files"] == 31 and result["bytes"] == sent == 30 * 3000 + 256 * 9000
    assert result["first"] <= result["last"]
    for rel, path in _rawcopy.tree_files(src):
        assert (dest / rel).read_bytes() == path.read_bytes()


def _feed(tmp_path: Path, stream: bytes) -> dict[str, float]:
    a, b = socket.socketpair()
    with a:
        a.sendall(stream)
        a.shutdown(socket.SHUT_WR)
        with b:
            return _rawcopy.receive_tree(b, tmp_path)


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../../b"])
def test_receiver_refuses_names_outside_its_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        _feed(tmp_path, _rawcopy.encode_header(name, 1) + b"x")
    assert not (tmp_path.parent / "escape").exists()


def test_receiver_refuses_a_stream_that_ends_inside_a_record(tmp_path: Path) -> None:
    with pytest.raises(EOFError):
        _feed(tmp_path, _rawcopy.encode_header("f", 10) + b"abc")
    with pytest.raises(EOFError):
        _feed(tmp_path, _rawcopy.encode_header("f", 1)[:5])


# -- the rig's pure parts --------------------------------------------------------------------------


def test_proc_stats_are_parsed_from_stat_and_status() -> None:
    stat = "123 (python3 -m (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 99"
    status = "Name:\tpython3\nVmPeak:\t  9000 kB\nVmHWM:\t  51200 kB\nVmRSS:\t  40000 kB\n"
    stats = _netns.parse_proc_stats(stat, status, 100)
    assert (stats.user, stats.system, stats.rss_peak) == (2.5, 0.5, 51200 * 1024)
    assert stats.cpu == 3.0


def test_bytes_sent_come_from_ip_json() -> None:
    out = ('[{"ifindex":2,"ifname":"eth0","stats64":{"rx":{"bytes":7,"packets":1},'
           '"tx":{"bytes":268867153,"packets":9}}}]')
    assert _netns.parse_tx_bytes(out) == 268867153


def test_link_limit_is_400_mbit_and_only_for_the_lan(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _netns.tbf_args(400)[:4] == ["root", "tbf", "rate", "400mbit"]
    calls: list[list[str]] = []
    monkeypatch.setattr(_netns.subprocess, "run", lambda argv, **kw: calls.append(argv))
    for ns in ("", "default", "mfst-1/../x", "../run/netns/mfst-1"):
        with pytest.raises(ValueError, match="refusing"):
            _netns.limit_rate(ns, "eth0", 400)
    _netns.limit_rate("mfst-1-2-ab-h0", "eth0", 400)
    assert calls == [["tc", "-n", "mfst-1-2-ab-h0", "qdisc", "replace", "dev", "eth0",
                      *_netns.tbf_args(400)]]


# -- the table ---------------------------------------------------------------------------------


def _measure(row: str, tool: str, transfer: float, files: int, total: int, *,
             cpu: float = 1.0, rss: int = 50_000_000) -> Any:
    from _measure import Measure  # noqa: PLC0415

    stats = _netns.ProcStats(cpu * 0.75, cpu * 0.25, rss)
    return Measure(row, tool, transfer, transfer + 1, stats, stats, files, total)


def test_small_files_pass_only_at_twice_syncthing() -> None:
    n, size = 10_000, 10_000 * 4096
    for mf_s, passed in ((2.5, True), (2.6, False)):
        rows = _versus_report.summary_rows([
            _measure("10k", "mfsync", mf_s, n, size, cpu=1.5),
            _measure("10k", "Syncthing", 5.0, n, size),
            _measure("10k", "raw", 0.5, n, size)])
        vs = next(r for r in rows if r.benchmark.endswith("vs Syncthing"))
        assert vs.passed is passed and vs.ratio == pytest.approx(5.0 / mf_s, abs=0.01)
        assert vs.unit == "files/s" and vs.value == pytest.approx(n / mf_s, abs=0.1)
    cpu = next(r for r in rows if r.benchmark.endswith("getter CPU"))
    assert cpu.value == pytest.approx(0.15) and cpu.passed  # 1.5 s / 10,000 files


def test_big_file_is_judged_against_raw_and_cpu_per_gib() -> None:
    gib = 1 << 30
    rows = _versus_report.summary_rows([
        _measure("1gib", "mfsync", 4.0, 1, gib, cpu=1.6, rss=120_000_000),
        _measure("1gib", "Syncthing", 4.0, 1, gib),
        _measure("1gib", "raw", 2.9, 1, gib)])
    by = {r.benchmark.split(": ")[1]: r for r in rows}
    assert by["sync transfer vs raw TCP"].ratio == pytest.approx(0.72, abs=0.01)
    assert by["sync transfer vs raw TCP"].passed
    assert by["getter CPU"].value == pytest.approx(1.6) and not by["getter CPU"].passed
    assert not by["RSS peak"].passed and by["RSS peak"].value == 120.0


def test_a_row_stopped_at_its_limit_is_judged_by_what_arrived() -> None:
    from dataclasses import replace  # noqa: PLC0415

    n, size = 100_000, 100_000 * 1024
    stopped = replace(_measure("100k", "mfsync", 900.0, n, size, cpu=90.0), done=18_000)
    rows = _versus_report.summary_rows([
        stopped, _measure("100k", "Syncthing", 100.0, n, size),
        _measure("100k", "raw", 5.0, n, size)])
    vs = next(r for r in rows if r.benchmark.endswith("vs Syncthing"))
    assert vs.value == pytest.approx(20.0)  # 18,000 files in 900 s
    assert vs.ratio == pytest.approx(0.02)  # against Syncthing's 1,000 files/s
    assert not vs.passed and "STOPPED" in vs.detail and "18,000 of 100,000" in vs.detail
    cpu = next(r for r in rows if r.benchmark.endswith("getter CPU"))
    assert cpu.value == pytest.approx(5.0)  # 90 s over the 18,000 files that arrived
    assert not cpu.passed
