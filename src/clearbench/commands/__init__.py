"""One module per `clearbench` command, each with `register(subparsers)`; `cli.py` lists them."""
