"""clearbench: the CLEAR benchmark for multimodal machine unlearning."""

__version__ = "0.1.0"
