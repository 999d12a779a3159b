"""Model configurations in one place: ``tiny`` (tests), ``small`` (radfound-small), ``smollm2`` (radfound-base:
pretrained SmolLM2-135M decoder and EfficientNet-Lite0 vision) and ``base`` (a ~1B random-weight decoder for
benchmarks only; the name predates radfound-base and is kept for the benchmark history).

A RadFound model is a ViT vision encoder (local patch features), an inter-image
context module (view embeddings for mammogram / CXR views, slice-position
embeddings for CT), a perceiver-style resampler that turns a whole study into
``num_image_tokens`` visual tokens, and a LLaMA-style causal decoder (RMSNorm,
rotary positions, SwiGLU, grouped-query attention, KV cache).

The configuration is serialised into the model folder's ``config.json`` so that
the torch-free engine knows the cache shapes and special token ids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

@dataclass
class VisionConfig:
    image_size: int = 224  # square model-input side S (pixels)
    patch_size: int = 16
    stem: str = "patch"  # "patch": one linear 16x16 patch projection (ViT); "conv": stride-2 3x3 convolutions;
    # "efficientnet_lite0": ImageNet EfficientNet-Lite0's stride-32 features (radfound-base; patch_size 32)
    trunk_blocks: int = 11  # efficientnet_lite0: blocks [0, trunk_blocks) stay frozen, and training caches them
    summary_pool: str = "mean"  # per-image summary token: "mean" of its patches, or "mean_max" (+ projected max)
    num_channels: int = 1
    hidden_size: int = 256
    num_layers: int = 6  # ViT layers, run per image (local patch features)
    num_heads: int = 4
    intermediate_size: int = 1024
    context_layers: int = 2  # inter-image transformer over per-image summary tokens
    num_views: int = 16  # view-id embedding rows (radfound.preprocess.VIEW_IDS uses 0..8; room to grow)
    max_positions: int = 256  # slice / slab positions for CT (clamped)
    num_image_tokens: int = 32  # K visual tokens per study (resampler queries)
    resampler_layers: int = 1
    layer_norm_eps: float = 1e-6
    dropout: float = 0.0  # residual dropout in every block, training only (the exported graphs run in eval mode)

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass
class TextConfig:
    vocab_size: int = 8000
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 6
    num_kv_heads: int = 2
    intermediate_size: int = 1024
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 1024
    dropout: float = 0.0  # residual dropout after attention and MLP, training only
    tie_word_embeddings: bool = False  # the output head is the token embedding matrix (SmolLM2)
    pretrained_vocab_size: int = 0  # rows of the embedding that come from the pretrained model (0: none)
    lora_rank: int = 0  # > 0: the projections are frozen pretrained weights plus rank-r adapters (training)
    lora_alpha: float = 16.0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass
class RadFoundConfig:
    name: str = "radfound-small"
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    initializer_range: float = 0.02

    def to_dict(self) -> dict:
        """HF-style ``config.json`` content (``vision_config`` / ``text_config``)."""
        return {
            "model_type": "radfound",
            "name": self.name,
            "vision_config": asdict(self.vision),
            "text_config": asdict(self.text),
            "initializer_range": self.initializer_range,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "RadFoundConfig":
        def pick(klass, values: dict):
            names = {f.name for f in fields(klass)}
            return klass(**{k: v for k, v in values.items() if k in names})

        return cls(
            name=d.get("name", "radfound"),
            vision=pick(VisionConfig, d.get("vision_config", {})),
            text=pick(TextConfig, d.get("text_config", {})),
            initializer_range=d.get("initializer_range", 0.02),
        )


def get_config(name: str) -> RadFoundConfig:
    """One of the named presets: ``tiny``, ``small`` or ``base``."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown model config {name!r}; choose one of {sorted(PRESETS)}") from None


def _tiny() -> RadFoundConfig:
    return RadFoundConfig(
        name="radfound-tiny",
        vision=VisionConfig(
            image_size=64, patch_size=16, hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128,
            context_layers=1, num_image_tokens=8, resampler_layers=1,
        ),
        text=TextConfig(
            vocab_size=512, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=128,
            max_position_embeddings=512,
        ),
    )


def _small() -> RadFoundConfig:
    return RadFoundConfig(name="radfound-small")


def _base() -> RadFoundConfig:
    # ~1.1B-parameter decoder (LLaMA-3.2-1B-like widths, smaller vocabulary); benchmarking only.
    return RadFoundConfig(
        name="radfound-1b-bench",
        vision=VisionConfig(hidden_size=384, num_layers=6, num_heads=6, intermediate_size=1536, num_image_tokens=64),
        text=TextConfig(
            vocab_size=32000, hidden_size=2048, num_layers=22, num_heads=32, num_kv_heads=8, intermediate_size=5632,
            max_position_embeddings=2048,
        ),
    )


def _smollm2() -> RadFoundConfig:
    """radfound-base: SmolLM2-135M-Instruct's decoder (its 49,152 BPE tokens plus RadFound's special tokens, rank-8
    LoRA on every projection) and an EfficientNet-Lite0 stem, whose 7 x 7 local features per view go through the
    context module and resampler. Sized so the trained parts stay under 25 MB in float16 (docs/training.md)."""
    return RadFoundConfig(
        name="radfound-base",
        vision=VisionConfig(
            image_size=224, patch_size=32, stem="efficientnet_lite0", trunk_blocks=11, hidden_size=256, num_layers=1,
            num_heads=4, intermediate_size=768, context_layers=1, summary_pool="mean_max", num_image_tokens=32,
            resampler_layers=1,
        ),
        text=TextConfig(
            vocab_size=49161, hidden_size=576, num_layers=30, num_heads=9, num_kv_heads=3, intermediate_size=1536,
            rope_theta=100000.0, rms_norm_eps=1e-5, max_position_embeddings=1024, tie_word_embeddings=True,
            pretrained_vocab_size=49152, lora_rank=8, lora_alpha=16.0,
        ),
    )


PRESETS = {"tiny": _tiny, "small": _small, "base": _base, "smollm2": _smollm2}
