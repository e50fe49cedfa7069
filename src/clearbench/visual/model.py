"""The face-identification network: a ResNet-18 embedding (transformers' `ResNetModel`, its pooled
output, no classifier) and the AM-Softmax head it is trained with.

The official code uses torchvision's ImageNet ResNet-18 at 224 px (512-d). `width` scales every
stage (64 → the paper's 512-d embedding; the CPU default 16 → 128-d); the stem (7x7 stride-2
convolution, max-pool) is ResNet's, so a 32 px image reaches the last stage at 1x1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ResNetConfig, ResNetModel

AM_SCALE, AM_MARGIN = 30.0, 0.4  # the official code's s and m


def resnet18_config(width: int = 64) -> ResNetConfig:
    """ResNet-18: basic blocks, two per stage, channels width·(1, 2, 4, 8)."""
    return ResNetConfig(
        embedding_size=width,
        hidden_sizes=[width, 2 * width, 4 * width, 8 * width],
        depths=[2, 2, 2, 2],
        layer_type="basic",
        downsample_in_first_stage=False,
    )


class FaceEmbedder(nn.Module):
    """Images [B, 3, H, W] → embeddings [B, 8·width]."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.width = width
        self.backbone = ResNetModel(resnet18_config(width))

    @property
    def dim(self) -> int:
        return 8 * self.width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(pixel_values=images).pooler_output.flatten(1)


class AMSoftmaxHead(nn.Module):
    """Additive-margin softmax (Wang et al. 2018): logits s·(cos θ_j − m·[j = y]), bias-free.

    The class weights are L2-normalised in the forward pass, as the published loss has it. The
    official code means to do the same, but its normalisation loop rebinds a local name and leaves
    the weights unnormalised (clear_spec §7 item 32); clearbench uses the published head.
    """

    def __init__(self, dim: int, classes: int, scale: float = AM_SCALE, margin: float = AM_MARGIN):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, dim) * 0.01)
        self.scale, self.margin = scale, margin

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(embeddings, dim=1) @ F.normalize(self.weight, dim=1).T

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Scaled cosines; with labels, the true class's cosine lowered by the margin (training)."""
        cosines = self.cosines(embeddings)
        if labels is not None:
            cosines = cosines - self.margin * F.one_hot(labels, cosines.shape[1]).to(cosines.dtype)
        return self.scale * cosines

    def loss(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(embeddings, labels), labels)


def save(path, embedder: FaceEmbedder, head: AMSoftmaxHead | None = None) -> None:
    """Weights as safetensors (the head, when given, under `head.`), written atomically."""
    from safetensors.torch import save as to_bytes

    from clearbench import atomic

    tensors = {f"embedder.{k}": v.contiguous() for k, v in embedder.state_dict().items()}
    if head is not None:
        tensors["head.weight"] = head.weight.detach().contiguous()
    atomic.write_bytes(path, to_bytes(tensors, metadata={"width": str(embedder.width)}))


def load(path) -> tuple[FaceEmbedder, torch.Tensor | None]:
    """The embedder saved at `path` and its head's weights (None when saved without one)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        width = int(handle.metadata()["width"])
    tensors = load_file(str(path))
    embedder = FaceEmbedder(width)
    state = {k.removeprefix("embedder."): v for k, v in tensors.items() if k.startswith("embedder.")}
    embedder.load_state_dict(state)
    return embedder, tensors.get("head.weight")
