"""What a demo scene is made of: the types of traffic participant and the scene's specification."""

from __future__ import annotations

from dataclasses import dataclass

from sim.types.scenario import ActorKind


@dataclass(frozen=True)
class ActorType:
    """A class of traffic participant with nuScenes category and size / speed ranges (uniform)."""

    category: str
    kind: ActorKind
    width_m: tuple[float, float]
    length_m: tuple[float, float]
    height_m: tuple[float, float]
    desired_speed_mps: tuple[float, float]


CAR = ActorType("vehicle.car", ActorKind.VEHICLE, (1.75, 2.0), (4.2, 4.9), (1.45, 1.8), (9.5, 13.5))
TRUCK = ActorType("vehicle.truck", ActorKind.VEHICLE, (2.4, 2.6), (6.5, 9.0), (2.8, 3.5), (8.0, 11.0))
BUS = ActorType("vehicle.bus.rigid", ActorKind.VEHICLE, (2.5, 2.6), (10.5, 12.0), (3.0, 3.4), (8.0, 10.5))
PEDESTRIAN = ActorType("human.pedestrian.adult", ActorKind.PEDESTRIAN, (0.55, 0.75), (0.55, 0.8), (1.6, 1.9),
                       (1.1, 1.6))


@dataclass(frozen=True)
class SceneSpec:
    """One demo scene.

    - name, description: as written to the scene table (the description gets actor counts added).
    - ego_lanes: the ego's route as regular lanes; connectors between them are filled in.
    - ego_start_s_m: where the ego's box centre starts on its first lane.
    - ego_desired_speed_mps: the ego's cruise speed.
    - ego_leader: optional (actor type, bumper gap in m) of a vehicle placed ahead on the ego's route.
    - ego_waits_in_box: on a left turn that must give way, the ego pulls into the intersection and
      waits short of the oncoming traffic's path (as drivers do at unprotected lefts) instead of at
      the stop line.
    - num_cars, num_trucks, num_buses, num_pedestrians: actors placed at the start.
    - mean_spawn_interval_s: mean time between vehicles entering on each entry lane.
    """

    name: str
    description: str
    ego_lanes: tuple[str, ...]
    ego_start_s_m: float
    ego_desired_speed_mps: float
    num_cars: int
    num_trucks: int
    num_buses: int
    num_pedestrians: int
    mean_spawn_interval_s: float
    ego_leader: tuple[ActorType, float] | None = None
    ego_waits_in_box: bool = False
