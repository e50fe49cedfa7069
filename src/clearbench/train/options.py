"""Command-line options of the training loop, shared by `clearbench finetune` and `unlearn`."""

from __future__ import annotations


def add_loop_options(parser, *, epochs: float, batch_size: int, grad_accum: int) -> None:
    """The optimisation options; defaults follow the CLEAR paper for the command at hand."""
    group = parser.add_argument_group("optimisation")
    group.add_argument("--epochs", type=float, default=epochs)
    group.add_argument("--max-steps", type=int, default=None, help="optimizer steps (overrides --epochs)")
    group.add_argument("--lr", type=float, default=1e-5, help="learning rate")
    group.add_argument("--weight-decay", type=float, default=0.01)
    group.add_argument("--warmup-steps", type=int, default=0)
    group.add_argument("--batch-size", type=int, default=batch_size)
    group.add_argument("--grad-accum", type=int, default=grad_accum)
    group.add_argument("--max-grad-norm", type=float, default=1.0)
    group.add_argument(
        "--save-every", type=int, default=0, help="optimizer steps between resumable checkpoints (0: none)"
    )
    group.add_argument("--seed", type=int, default=0)


def loop_config(args):
    from clearbench.train.loop import LoopConfig  # torch: imported only when a command runs

    return LoopConfig(
        epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        grad_accum=args.grad_accum,
        max_grad_norm=args.max_grad_norm,
        save_every=args.save_every,
        seed=args.seed,
    )
