"""The diffusion noise schedule (spec 8: 1000 steps, linear betas 1e-4 -> 0.02) and the samplers
built on it, all from MONAI's schedulers so training and sampling share one definition."""

from __future__ import annotations

from dataclasses import asdict, dataclass

DIFFUSION_STEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02
DDIM_STEPS = 50  # the default DDIM chain length (fast sampling)


@dataclass(frozen=True)
class DiffusionConfig:
    num_train_timesteps: int = DIFFUSION_STEPS
    beta_start: float = BETA_START
    beta_end: float = BETA_END

    def to_dict(self) -> dict:
        return asdict(self)


def _ddpm(cfg: DiffusionConfig):
    # deferred: MONAI comes with the [ml] extra and takes seconds to import; only sampling and training build a scheduler
    from monai.networks.schedulers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=cfg.num_train_timesteps, schedule="linear_beta",
                         beta_start=cfg.beta_start, beta_end=cfg.beta_end, clip_sample=True)


def _ddim(cfg: DiffusionConfig):
    # deferred: MONAI comes with the [ml] extra and takes seconds to import; only sampling and training build a scheduler
    from monai.networks.schedulers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=cfg.num_train_timesteps, schedule="linear_beta",
                         beta_start=cfg.beta_start, beta_end=cfg.beta_end, clip_sample=True)


# sampler name -> scheduler factory; DDPM walks every training step, DDIM a strided subset
SAMPLERS = {"ddpm": _ddpm, "ddim": _ddim}


def make_scheduler(sampler: str, cfg: DiffusionConfig):
    return SAMPLERS[sampler](cfg)
