"""The run: its config, the pipeline that carries it out, sweeps over it, reuse of another
run's reference models, and export of its models."""
