"""Adversarial diffusion actors: a small trajectory-diffusion model over an actor's future
controls (acceleration, yaw rate; unicycle rollout), conditioned on its history, neighbours and
lanes in its own frame, sampled with guidance toward a conflict with the ego (SAFE-SIM / CTG
style) and re-planned in closed loop as an `sim.engine.ActorPlanner`.

Modules: dynamics (unicycle), features (conditioning), model (denoiser, checkpoints), diffusion
(schedule, loss, DDIM/DDPM sampling), guidance (costs), proposals (collision-type proposals for
partial diffusion), drivable (signed-distance raster), planner (the ActorPlanner), selection
(which actor), realism (outcome checks), data / train (training), evaluate (held-out report).
"""

from scenarios.adversary.model import DEFAULT_CHECKPOINT, AdversaryModel, load_checkpoint
from scenarios.adversary.planner import AdversaryPlanner, PlannerConfig

__all__ = ["DEFAULT_CHECKPOINT", "AdversaryModel", "AdversaryPlanner", "PlannerConfig", "load_checkpoint"]
