"""The demo town as a nuScenes map expansion (version 1.3), and its semantic-prior raster.

Lane centrelines go into `arcline_path_3`, one arcline path per constant-curvature piece:
- straight, length L: shape "LSR", radius 999.999 (unused), segment_length [0, L, 0];
- left arc of radius r and length a: shape "LSL", radius r, segment_length [a, 0, 0];
- right arc: shape "RSR", likewise.
The devkit's `discretize_lane` concatenates the pieces, so a point repeats where two meet.
Lanes and lane connectors both appear in `connectivity` with their incoming / outgoing tokens.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw
from shapely.geometry import Polygon
from shapely.ops import unary_union

from scenarios.demo_town.tokens import map_token
from scenarios.demo_town.town import DemoTown, Lane, snap_to_grid

MAP_VERSION = "1.3"
STRAIGHT_ARC_RADIUS_M = 999.999  # what nuScenes maps carry for straight pieces
SEMANTIC_PRIOR_RESOLUTION_M = 0.1  # the devkit's MapMask reads PNGs at 0.1 m per pixel
POLYGON_LAYERS = ("drivable_area", "road_segment", "road_block", "lane", "ped_crossing", "walkway", "stop_line",
                  "carpark_area")
LINE_LAYERS = ("road_divider", "lane_divider", "traffic_light")
SAME_DIRECTION_DIVIDER = "DOUBLE_DASHED_WHITE"
NO_MARKING = "NIL"


class MapGeometry:
    """The node, line and polygon layers, filled as records are added."""

    def __init__(self) -> None:
        self.node: list[dict] = []
        self.line: list[dict] = []
        self.polygon: list[dict] = []

    def nodes(self, owner: str, xy: np.ndarray) -> list[str]:
        tokens = []
        for x, y in np.asarray(xy):
            tokens.append(map_token("node", owner, len(tokens)))
            self.node.append({"token": tokens[-1], "x": round(float(x), 3) + 0.0, "y": round(float(y), 3) + 0.0})
        return tokens

    def add_polygon(self, owner: str, polygon: Polygon) -> tuple[str, list[str]]:
        """(polygon token, exterior node tokens); the closing point is not repeated."""
        token = map_token("polygon", owner)
        exterior = self.nodes(owner, np.asarray(polygon.exterior.coords)[:-1])
        holes = [{"node_tokens": self.nodes(f"{owner}/hole{h}", np.asarray(ring.coords)[:-1])}
                 for h, ring in enumerate(polygon.interiors)]
        self.polygon.append({"token": token, "exterior_node_tokens": exterior, "holes": holes})
        return token, exterior

    def add_line(self, owner: str, xy: np.ndarray) -> str:
        return self.add_line_through(owner, self.nodes(owner, xy))

    def add_line_through(self, owner: str, node_tokens: list[str]) -> str:
        """A line through nodes that already exist (lines along lane edges share the lane's nodes)."""
        token = map_token("line", owner)
        self.line.append({"token": token, "node_tokens": list(node_tokens)})
        return token


def _arcline_paths(lane: Lane) -> list[dict]:
    paths = []
    for i, piece in enumerate(lane.pieces):
        start, end = lane.piece_start_poses[i], lane.piece_start_poses[i + 1]
        if piece.curvature_1pm == 0.0:
            shape, radius, lengths = "LSR", STRAIGHT_ARC_RADIUS_M, [0.0, piece.length_m, 0.0]
        else:
            shape = "LSL" if piece.curvature_1pm > 0 else "RSR"
            radius, lengths = 1.0 / abs(piece.curvature_1pm), [piece.length_m, 0.0, 0.0]
        paths.append({
            "start_pose": [round(start[0], 4), round(start[1], 4), round(start[2], 9)],
            "end_pose": [round(end[0], 4), round(end[1], 4), round(end[2], 9)],
            "shape": shape, "radius": round(radius, 6), "segment_length": [round(v, 6) for v in lengths]})
    return paths


def _cap_line(lanes: list[Lane], at_end: bool) -> np.ndarray:
    """(2, 2) the two outermost end-cap points of a road block's lanes."""
    points = np.concatenate([lane.end_caps()[int(at_end)] for lane in lanes])
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    i, j = np.unravel_index(np.argmax(d), d.shape)
    return points[[i, j]]


def build_map_expansion(town: DemoTown) -> dict:
    """The map-expansion JSON object of the town."""
    geo = MapGeometry()
    layers: dict[str, list[dict]] = {name: [] for name in POLYGON_LAYERS + LINE_LAYERS + ("lane_connector",)}
    drivable_token = map_token("drivable_area", "town")
    drivable_polygon, _ = geo.add_polygon("drivable_area", town.drivable_area)
    layers["drivable_area"].append({"token": drivable_token, "polygon_tokens": [drivable_polygon]})
    segment_token = {}
    for seg in town.road_segments:
        segment_token[seg.name] = map_token("road_segment", seg.name)
        polygon, _ = geo.add_polygon(f"road_segment/{seg.name}", seg.polygon)
        layers["road_segment"].append({"token": segment_token[seg.name], "polygon_token": polygon,
                                       "is_intersection": seg.is_intersection, "drivable_area_token": drivable_token})

    lane_token = {lane.name: map_token("lane", lane.name) for lane in town.lanes}
    blocks: dict[str, list[Lane]] = {}
    for lane in town.lanes:
        if lane.block:
            blocks.setdefault(lane.block, []).append(lane)
    block_token = {}
    for block, lanes in blocks.items():
        block_token[block] = map_token("road_block", block)
        outline = snap_to_grid(unary_union([lane.polygon() for lane in lanes]))
        polygon, _ = geo.add_polygon(f"road_block/{block}", outline)
        from_edge = geo.add_line(f"road_block/{block}/from", _cap_line(lanes, at_end=False))
        to_edge = geo.add_line(f"road_block/{block}/to", _cap_line(lanes, at_end=True))
        layers["road_block"].append({"token": block_token[block], "polygon_token": polygon,
                                     "from_edge_line_token": from_edge, "to_edge_line_token": to_edge,
                                     "road_segment_token": segment_token[lanes[0].road]})

    left_edge_nodes: dict[str, list[str]] = {}
    for lane in town.lanes:
        polygon, nodes = geo.add_polygon(f"lane/{lane.name}", lane.polygon())
        if lane.is_connector:
            layers["lane_connector"].append({"token": lane_token[lane.name], "polygon_token": polygon})
            continue
        half = len(nodes) // 2  # the polygon is the left boundary, then the right one reversed
        left_edge_nodes[lane.name] = nodes[:half]
        left_type = SAME_DIRECTION_DIVIDER if lane.name.endswith("_outer") else NO_MARKING
        right_type = SAME_DIRECTION_DIVIDER if lane.name.endswith("_inner") else NO_MARKING
        start_cap, end_cap = lane.end_caps()
        from_edge = geo.add_line(f"lane/{lane.name}/from", start_cap)
        to_edge = geo.add_line(f"lane/{lane.name}/to", end_cap)
        layers["lane"].append({
            "token": lane_token[lane.name], "polygon_token": polygon, "lane_type": "CAR",
            "from_edge_line_token": from_edge, "to_edge_line_token": to_edge,
            "left_lane_divider_segments": [{"node_token": n, "segment_type": left_type} for n in nodes[:half]],
            "right_lane_divider_segments": [{"node_token": n, "segment_type": right_type}
                                            for n in nodes[half:][::-1]]})

    for name, nodes in left_edge_nodes.items():
        lane = town.lanes[town.lane_index[name]]
        if name.endswith("_outer"):  # the line between an avenue block's two lanes
            line = geo.add_line_through(f"lane_divider/{name}", nodes)
            layers["lane_divider"].append({
                "token": map_token("lane_divider", name), "line_token": line,
                "lane_divider_segments": [{"node_token": n, "segment_type": SAME_DIRECTION_DIVIDER} for n in nodes]})
        elif lane.block.endswith(("_eb", "_nb")):  # the centre line of a two-way road, once per road
            line = geo.add_line_through(f"road_divider/{name}", nodes)
            layers["road_divider"].append({"token": map_token("road_divider", name), "line_token": line,
                                           "road_segment_token": segment_token[lane.road]})

    crossing_token = []
    for crossing in town.crossings:
        crossing_token.append(map_token("ped_crossing", crossing.name))
        polygon, _ = geo.add_polygon(f"ped_crossing/{crossing.name}", crossing.polygon)
        layers["ped_crossing"].append({"token": crossing_token[-1], "polygon_token": polygon,
                                       "road_segment_token": segment_token[crossing.road]})
    for w, walkway in enumerate(town.walkways):
        polygon, _ = geo.add_polygon(f"walkway/{w}", walkway)
        layers["walkway"].append({"token": map_token("walkway", w), "polygon_token": polygon})
    for stop in town.stop_lines:
        polygon, _ = geo.add_polygon(f"stop_line/{stop.name}", stop.polygon)
        layers["stop_line"].append({"token": map_token("stop_line", stop.name), "polygon_token": polygon,
                                    "stop_line_type": "PED_CROSSING",
                                    "ped_crossing_tokens": [crossing_token[stop.crossing]],
                                    "traffic_light_tokens": [], "road_block_token": block_token[stop.block]})

    arclines = {lane_token[lane.name]: _arcline_paths(lane) for lane in town.lanes}
    connectivity = {lane_token[lane.name]: {
        "incoming": [lane_token[town.lanes[j].name] for j in town.predecessors[i]],
        "outgoing": [lane_token[town.lanes[j].name] for j in town.successors[i]]}
        for i, lane in enumerate(town.lanes)}
    return {"version": MAP_VERSION, "canvas_edge": list(town.canvas_edge_m), "node": geo.node, "line": geo.line,
            "polygon": geo.polygon, **layers, "arcline_path_3": arclines, "connectivity": connectivity}


def build_empty_map(canvas_edge_m: tuple[float, float]) -> dict:
    """A valid map expansion with no records (for the map names the demo does not use)."""
    return {"version": MAP_VERSION, "canvas_edge": list(canvas_edge_m), "node": [], "line": [], "polygon": [],
            **{name: [] for name in POLYGON_LAYERS + LINE_LAYERS + ("lane_connector",)},
            "arcline_path_3": {}, "connectivity": {}}


def semantic_prior_png(drivable_area: Polygon, canvas_edge_m: tuple[float, float]) -> bytes:
    """The drivable area as a binary PNG (255 on the road) at 0.1 m per pixel over the canvas; row 0
    is the canvas' north edge, as the devkit's MapMask expects."""
    width_px = int(round(canvas_edge_m[0] / SEMANTIC_PRIOR_RESOLUTION_M))
    height_px = int(round(canvas_edge_m[1] / SEMANTIC_PRIOR_RESOLUTION_M))
    image = Image.new("L", (width_px, height_px), 0)
    xy = np.asarray(drivable_area.exterior.coords) / SEMANTIC_PRIOR_RESOLUTION_M
    ImageDraw.Draw(image).polygon([(float(x), float(height_px - y)) for x, y in xy], fill=255)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
