import pytest

from hmworld.benchmark.submission import (SubmissionError, SubmissionInfo, read_submission_info,
                                          write_submission_info)


def test_round_trip(tmp_path):
    info = SubmissionInfo(model="repeat-last", split_fingerprint="ab" * 32, fps=15, includes_context=True, params=0)
    write_submission_info(tmp_path, info)
    assert read_submission_info(tmp_path) == info


def test_every_problem_is_listed(tmp_path):
    (tmp_path / "submission.yaml").write_text("model: 3\nfps: fast\nincludes_context: yes-ish\nextra: 1\n")
    with pytest.raises(SubmissionError) as err:
        read_submission_info(tmp_path)
    msg = str(err.value)
    for needle in ("missing field `format_version`", "missing field `split_fingerprint`", "field `model` must be str",
                   "field `fps` must be int/float", "field `includes_context` must be bool", "unknown field(s) 'extra'"):
        assert needle in msg


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(SubmissionError, match="missing"):
        read_submission_info(tmp_path)
    (tmp_path / "submission.yaml").write_text("model: [unclosed")
    with pytest.raises(SubmissionError, match="unreadable YAML"):
        read_submission_info(tmp_path)
