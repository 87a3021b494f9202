"""The denoiser: a small conditional MLP over an actor's future controls.

`AdversaryDenoiser.encode(features)` turns the conditioning (features.py) into a context
vector once per planning call; `forward(x_t, t, context)` predicts the clean normalised
controls x0 (F, 2) from noisy ones at diffusion step t. Parameters ~0.7 M (~2.8 MB float32).

Encoders: history, scalars and road probes -> MLP; neighbours -> shared per-slot MLP + masked max-pool; lanes -> a
per-point MLP max-pooled within each chunk, then a chunk MLP max-pooled over chunks
(PointNet/VectorNet style). The denoiser is a residual MLP over the flattened controls with
the sinusoidal step embedding and the context added at the input and FiLM-modulating each
block.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from scenarios.adversary.features import (
    FUTURE_STEPS,
    HIST_DIM,
    HIST_STEPS,
    LANE_DIM,
    NEIGH_DIM,
    NUM_ROAD_PROBES,
    SCALAR_DIM,
)


@dataclass(frozen=True)
class ModelConfig:
    """Denoiser size.

    - future_steps: controls predicted (0.1 s each).
    - hidden: width of the residual MLP; blocks: how many residual blocks.
    - context: width of the conditioning vector; enc: width of the per-element encoders.
    - diffusion_steps: training steps of the noise schedule (cosine).
    """

    future_steps: int = FUTURE_STEPS
    hidden: int = 192
    blocks: int = 4
    context: int = 128
    enc: int = 64
    diffusion_steps: int = 100


def _mlp(*sizes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def _masked_max(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Max over `dim` of entries where mask (broadcast on the last axis) is set; 0 if none."""
    filled = x.masked_fill(~mask.unsqueeze(-1), -1e9)
    out = filled.max(dim=dim).values
    return out * mask.any(dim=dim).unsqueeze(-1)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) integer steps -> (B, dim) sinusoidal embedding."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class _Block(nn.Module):
    def __init__(self, width: int, cond: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.film = nn.Linear(cond, 2 * width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond).chunk(2, dim=-1)
        z = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(torch.nn.functional.silu(self.fc1(z)))


class AdversaryDenoiser(nn.Module):
    """x0-predicting denoiser of normalised controls, conditioned on the actor's scene."""

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        c, e = config.context, config.enc
        self.hist_enc = _mlp(HIST_STEPS * HIST_DIM + SCALAR_DIM + NUM_ROAD_PROBES, 128, 128)
        self.neigh_enc = _mlp(NEIGH_DIM, e, e)
        self.point_enc = nn.Sequential(nn.Linear(LANE_DIM, e), nn.SiLU())
        self.chunk_enc = _mlp(e + 2 * e, e, e)  # chunk max-pool + neighbours + history summary
        self.hist_to_chunk = nn.Linear(128, e)
        self.ctx = _mlp(128 + e + e + e, c, c)
        f2 = config.future_steps * 2
        self.t_emb = _mlp(64, c, c)
        self.inp = nn.Linear(f2, config.hidden)
        self.cond_in = nn.Linear(c, config.hidden)
        self.blocks = nn.ModuleList([_Block(config.hidden, c) for _ in range(config.blocks)])
        self.out_norm = nn.LayerNorm(config.hidden)
        self.out = nn.Linear(config.hidden, f2)

    def encode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Conditioning (B, ...) tensors -> context (B, context)."""
        hist = features["hist"]
        b = hist.shape[0]
        h = self.hist_enc(torch.cat([hist.reshape(b, -1), features["scalars"], features["road"]], -1))
        neigh = features["neigh"]
        n = _masked_max(self.neigh_enc(neigh), neigh[..., -1] > 0.5, dim=1)
        lanes = features["lanes"]
        # Padding points are all-zero (valid flag 0): they encode to a constant the max can
        # ignore, so no mask is needed at the point level (it is the hot loop of training).
        chunk = self.point_enc(lanes).max(dim=2).values  # (B, M, e)
        chunk_valid = lanes[..., 0, -1] > 0.5  # a chunk's first point is valid iff the chunk is
        hint = self.hist_to_chunk(h)[:, None].expand(-1, chunk.shape[1], -1)
        nn_ = n[:, None].expand(-1, chunk.shape[1], -1)
        lane_feat = _masked_max(self.chunk_enc(torch.cat([chunk, nn_, hint], -1)), chunk_valid, dim=1)
        lane_mean = (chunk * chunk_valid[..., None]).sum(1) / chunk_valid.sum(1, keepdim=True).clamp_min(1)
        return self.ctx(torch.cat([h, n, lane_feat, lane_mean], -1))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x_t (B, F, 2) noisy normalised controls, t (B,) steps, context (B, C) -> x0 (B, F, 2)."""
        b = x_t.shape[0]
        cond = context + self.t_emb(timestep_embedding(t, 64))
        h = self.inp(x_t.reshape(b, -1)) + self.cond_in(cond)
        for block in self.blocks:
            h = block(h, cond)
        return self.out(self.out_norm(h)).reshape(b, -1, 2)

    def config_dict(self) -> dict:
        return asdict(self.config)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- the trained model as one bundle, and its checkpoint file ---------------------------------

CHECKPOINT_FORMAT = "splatsim-adversary"
CHECKPOINT_VERSION = 2  # 2: 12 neighbour slots with their futures, closest approach first (features.py)
DEFAULT_CHECKPOINT = __import__("pathlib").Path(__file__).resolve().parent / "checkpoints" / "default.pt"


@dataclass(frozen=True, eq=False)
class AdversaryModel:
    """A trained denoiser with what sampling needs.

    - denoiser: AdversaryDenoiser (eval mode); schedule: CosineSchedule of its training.
    - control_scale: (2,) float32, physical controls = normalised * control_scale (a m/s^2, w rad/s).
    - metadata: training provenance (seed, dataroots, train / held-out scenes, losses, timings).
    """

    denoiser: AdversaryDenoiser
    schedule: object
    control_scale: torch.Tensor
    metadata: dict


def save_checkpoint(model: AdversaryModel, path) -> object:
    """Write the model atomically (temp file + rename); returns the path."""
    from pathlib import Path

    from sim.atomic import atomic_path

    path = Path(path)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
               "model_config": asdict(model.denoiser.config),
               "state_dict": {k: v.detach().clone() for k, v in model.denoiser.state_dict().items()},
               "control_scale": model.control_scale.detach().clone(), "metadata": model.metadata}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path=None) -> AdversaryModel:
    """Load a checkpoint (default: the shipped one); a ConfigError names a missing or bad file."""
    from pathlib import Path

    from scenarios.adversary.diffusion import CosineSchedule
    from sim.errors import ConfigError

    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"adversary checkpoint {path} does not exist: train one with `splatsim adversary train "
                          "--dataroot DIR --out model.pt`, or omit the option to use the shipped default")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"format is {payload.get('format')!r}, not {CHECKPOINT_FORMAT!r}")
        if payload.get("version", 0) != CHECKPOINT_VERSION:
            raise ValueError(f"version {payload.get('version')} was written for other features than this "
                             f"splatsim's (version {CHECKPOINT_VERSION})")
        denoiser = AdversaryDenoiser(ModelConfig(**payload["model_config"]))
        denoiser.load_state_dict(payload["state_dict"])
    except Exception as err:
        raise ConfigError(f"{path} is not a usable adversary checkpoint ({err}); re-create it with "
                          "`splatsim adversary train`") from None
    denoiser.eval()
    for p in denoiser.parameters():
        p.requires_grad_(False)
    return AdversaryModel(denoiser, CosineSchedule.create(denoiser.config.diffusion_steps),
                          payload["control_scale"].float(), dict(payload["metadata"]))
