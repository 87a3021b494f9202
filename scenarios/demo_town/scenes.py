"""The demo scenes: one ego manoeuvre each, in traffic that the seed varies.

Each ego starts far enough from the town's edge to drive for the whole scene at its desired speed,
and close enough to its manoeuvre to complete it in the seed-0 dataset (tested).
"""

from __future__ import annotations

from scenarios.demo_town.scene_spec import CAR, TRUCK, SceneSpec

DEMO_SCENES: tuple[SceneSpec, ...] = (
    SceneSpec(
        "scene-demo-0000",
        "Ego drives east in the right lane of the four-lane avenue behind a car and goes straight "
        "through the signal-free intersection.",
        ("avenue_w_eb_outer", "avenue_e_eb_outer"), 55.0, 11.0,
        num_cars=14, num_trucks=2, num_buses=1, num_pedestrians=6, mean_spawn_interval_s=10.0,
        ego_leader=(CAR, 15.0)),
    SceneSpec(
        "scene-demo-0001",
        "Ego turns left from the avenue's left eastbound lane onto the north street, giving way to "
        "oncoming traffic, and follows the right-hand curve.",
        ("avenue_w_eb_inner", "north_nb", "curve_nb", "top_eb"), 50.0, 11.0,
        num_cars=14, num_trucks=2, num_buses=0, num_pedestrians=6, mean_spawn_interval_s=10.0),
    SceneSpec(
        "scene-demo-0002",
        "Ego drives north on the south street and turns right onto the eastbound avenue, giving way "
        "to the avenue's traffic.",
        ("south_nb", "avenue_e_eb_outer"), 30.0, 10.0,
        num_cars=16, num_trucks=1, num_buses=1, num_pedestrians=6, mean_spawn_interval_s=8.0),
    SceneSpec(
        "scene-demo-0003",
        "Ego drives north on the south street and crosses the avenue straight through the "
        "intersection, giving way to the avenue's traffic, on towards the north street's curve.",
        ("south_nb", "north_nb", "curve_nb", "top_eb"), 30.0, 10.0,
        num_cars=8, num_trucks=1, num_buses=0, num_pedestrians=4, mean_spawn_interval_s=30.0),
    SceneSpec(
        "scene-demo-0004",
        "Ego drives west in the left lane of the four-lane avenue at up to 12 m/s, with traffic in "
        "both lanes, straight through the intersection.",
        ("avenue_e_wb_inner", "avenue_w_wb_inner"), 40.0, 12.0,
        num_cars=15, num_trucks=2, num_buses=1, num_pedestrians=3, mean_spawn_interval_s=8.0),
    SceneSpec(
        "scene-demo-0005",
        "Ego turns left from the south street onto the westbound avenue across both eastbound "
        "lanes, giving way to the avenue's traffic.",
        ("south_nb", "avenue_w_wb_inner"), 40.0, 9.0,
        num_cars=12, num_trucks=1, num_buses=1, num_pedestrians=4, mean_spawn_interval_s=10.0),
    SceneSpec(
        "scene-demo-0006",
        "Ego turns right from the avenue's right westbound lane onto the north street and into the "
        "78 m radius curve.",
        ("avenue_e_wb_outer", "north_nb", "curve_nb", "top_eb"), 80.0, 11.0,
        num_cars=14, num_trucks=1, num_buses=1, num_pedestrians=6, mean_spawn_interval_s=10.0),
    SceneSpec(
        "scene-demo-0007",
        "Ego follows a truck north out of the intersection and around the 78 m radius curve onto "
        "the top road.",
        ("north_nb", "curve_nb", "top_eb"), 4.0, 11.0,
        num_cars=12, num_trucks=2, num_buses=0, num_pedestrians=6, mean_spawn_interval_s=10.0,
        ego_leader=(TRUCK, 20.0)),
    SceneSpec(
        "scene-demo-0008",
        "Unprotected left turn in dense oncoming traffic: ego turns left from the avenue's left "
        "westbound lane onto the south street, pulls into the intersection and waits there for a "
        "gap in the eastbound traffic.",
        ("avenue_e_wb_inner", "south_sb"), 100.0, 7.0,
        num_cars=18, num_trucks=1, num_buses=1, num_pedestrians=0, mean_spawn_interval_s=7.0,
        ego_waits_in_box=True),
)
