import pytest

from clearbench.cli import main
from clearbench.errors import UserError


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "clearbench" in capsys.readouterr().out


def test_user_error_becomes_exit_code_2(monkeypatch, capsys):
    def broken(args):
        raise UserError("config 'forget10' is missing from mini")

    import clearbench.cli as cli

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_command(parser(), broken))
    assert main(["boom"]) == 2
    assert "config 'forget10' is missing from mini" in capsys.readouterr().err


def _with_command(parser, func):
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.add_parser("boom").set_defaults(func=func)
    return parser


def test_a_full_disk_in_a_writer_that_is_not_an_oserror_is_one_line_and_exit_2(monkeypatch, capsys):
    from clearbench.commands import methods

    class SafetensorError(Exception):
        pass

    def full_disk(args):
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )

    monkeypatch.setattr(methods, "run", full_disk)
    assert main(["methods"]) == 2
    err = capsys.readouterr().err
    assert "disk full" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_unexpected_error_is_not_swallowed(monkeypatch):
    from clearbench.commands import methods

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(methods, "run", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["methods"])
