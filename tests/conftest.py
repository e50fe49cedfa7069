"""Every test runs offline (never the Hugging Face Hub) on one CPU thread.

Tiny models run several times faster on one thread than on two contended cores; OMP_NUM_THREADS
carries the same setting into the subprocesses some tests start.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import torch  # noqa: E402  (after the environment it reads)

torch.set_num_threads(1)
