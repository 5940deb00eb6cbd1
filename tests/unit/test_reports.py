"""``mfsync.reports.Report``: the engine's message as English text and as a code with
arguments at once."""

import copy
import pickle
import re

import pytest

from mfsync.engine.service_status import ServiceError
from mfsync.reports import ENGLISH, Report


def test_a_report_reads_as_its_english_text_and_keeps_its_code() -> None:
    report = Report("overlaps", path="/home/me/Photos", other="/home/me")
    assert report == "/home/me/Photos overlaps the shared folder /home/me"
    assert isinstance(report, str) and f"{report}" == report
    assert report.code == "overlaps"
    assert dict(report.args) == {"path": "/home/me/Photos", "other": "/home/me"}
    with pytest.raises(TypeError):
        report.args["path"] = "elsewhere"  # type: ignore[index]


def test_arguments_become_text_and_a_report_survives_copies_and_pickles() -> None:
    report = Report("no-delivery", seconds=120)
    assert report == "no host delivered any of it for 120 s" and report.args["seconds"] == "120"
    for again in (copy.copy(report), copy.deepcopy(report), pickle.loads(pickle.dumps(report))):
        assert again == report and again.code == "no-delivery"


def test_every_template_takes_its_own_arguments() -> None:
    for code, template in ENGLISH.items():
        fields = {name: f"<{name}>" for name in re.findall(r"\{(\w+)\}", template)}
        assert str(Report(code, **fields)) == template.format(**fields)


def test_an_unknown_code_or_a_missing_argument_is_a_bug_raised_at_once() -> None:
    with pytest.raises(KeyError):
        Report("no-such-code")
    with pytest.raises(KeyError):
        Report("overlaps", path="/a")


def test_an_engine_error_carries_the_report_it_was_raised_with() -> None:
    error = ServiceError(Report("shared-already", path="/srv/music"))
    assert str(error) == "/srv/music is shared already"
    assert isinstance(error.args[0], Report) and error.args[0].code == "shared-already"
