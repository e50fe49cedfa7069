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
