import json

import pytest

from clearbench import atomic


def test_write_json_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "log.json"
    atomic.write_json(target, {"a": 1})
    atomic.write_json(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}
    assert [p.name for p in target.parent.iterdir()] == ["log.json"]


def test_failed_directory_write_leaves_old_result(tmp_path):
    target = tmp_path / "ckpt"
    with atomic.directory(target) as tmp:
        (tmp / "weights").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic.directory(target) as tmp:
            (tmp / "weights").write_text("half")
            raise RuntimeError("killed")
    assert (target / "weights").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        with atomic.directory(tmp_path / "d") as tmp:
            (tmp / "f").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
