"""The map around a scene as a `RoadMap`, from the dataroot's map-expansion files.

Maps are loaded on first use and cached by name, as are discretised lane centerlines and, for
maps kept whole, the RoadMap itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from nuscenes.map_expansion.arcline_path_utils import discretize_lane
from nuscenes.map_expansion.map_api import NuScenesMap
from nuscenes.map_expansion.map_api import locations as DEVKIT_MAP_NAMES
from shapely.geometry import MultiPolygon, Polygon

from scenarios.nuscenes.config import AdapterConfig
from sim.errors import DatasetError
from sim.geometry import polyline_arclength
from sim.types.roadmap import LaneGraph, RoadMap
from sim.types.scenario import ActorTracks, EgoLog

# The map-expansion format whose layers this adapter reads (the one nuscenes-devkit 1.2 ships for).
MAP_EXPANSION_VERSION = "1.3"


class RoadMaps:
    """The road maps of one dataroot, built on demand and cached.

    log_table_path: the log table, named when a log's location is not a map the devkit knows.
    """

    def __init__(self, dataroot: Path, config: AdapterConfig, log_table_path: Path):
        self.dataroot = dataroot
        self.config = config
        self._log_table_path = log_table_path
        self._maps: dict[str, NuScenesMap] = {}
        self._centerlines: dict[tuple[str, str], np.ndarray | None] = {}
        self._whole_maps: dict[str, RoadMap] = {}

    def road_map(self, location: str, ego: EgoLog, actors: ActorTracks) -> RoadMap:
        """The map of a location: whole when small, else cut to the region of the ego and the actors."""
        nmap = self._map(location)
        width_m, height_m = nmap.canvas_edge
        if width_m * height_m <= self.config.crop_min_canvas_m2:
            if location not in self._whole_maps:
                self._whole_maps[location] = self._build_road_map(location, nmap, None)
            return self._whole_maps[location]
        xy = np.concatenate([ego.xy[ego.valid], actors.xy[actors.valid]])
        margin = self.config.crop_margin_m
        patch = (*(xy.min(axis=0) - margin), *(xy.max(axis=0) + margin))
        return self._build_road_map(location, nmap, patch)

    def _map(self, location: str) -> NuScenesMap:
        if location in self._maps:
            return self._maps[location]
        path = self.dataroot / "maps" / "expansion" / f"{location}.json"
        if location not in DEVKIT_MAP_NAMES:
            raise DatasetError(f"{self._log_table_path}: location {location!r} is not a map nuscenes-devkit 1.2 "
                               f"can load ({', '.join(DEVKIT_MAP_NAMES)}): name the log's location and its map "
                               "file after one of them")
        if not path.is_file():
            raise DatasetError(f"map file {path} is missing (the log's location is {location!r}): put the "
                               f"nuScenes map expansion v{MAP_EXPANSION_VERSION} JSON files into "
                               f"{self.dataroot / 'maps' / 'expansion'}")
        try:
            nmap = NuScenesMap(dataroot=str(self.dataroot), map_name=location)
        except Exception as err:  # noqa: BLE001 - the devkit raises bare Exception/KeyError/JSON errors
            raise _map_load_error(path, err) from None
        if nmap.version != MAP_EXPANSION_VERSION:
            raise _map_version_error(path, nmap.version)
        check_map_values(path, nmap)
        self._maps[location] = nmap
        return nmap

    def _centerline(self, location: str, nmap: NuScenesMap, token: str) -> np.ndarray | None:
        """Discretised centerline (P, 2) of a lane or connector; None without an arcline path."""
        key = (location, token)
        if key not in self._centerlines:
            poses = np.array(discretize_lane(nmap.arcline_path_3.get(token, []), self.config.lane_resolution_m),
                             dtype=np.float64).reshape(-1, 3)
            # Consecutive arcline pieces share their end points: drop the repeats.
            keep = np.ones(len(poses), bool)
            keep[1:] = np.linalg.norm(np.diff(poses[:, :2], axis=0), axis=1) > 1e-6
            xy = poses[keep, :2]
            self._centerlines[key] = xy if len(xy) >= 2 else None
        return self._centerlines[key]

    def _build_road_map(self, location: str, nmap: NuScenesMap,
                        patch: tuple[float, float, float, float] | None) -> RoadMap:
        """The map, whole (patch None) or the records intersecting patch (x_min, y_min, x_max, y_max)."""
        layers = ("drivable_area", "lane", "lane_connector", "ped_crossing", "walkway")
        map_path = self.dataroot / "maps" / "expansion" / f"{location}.json"
        try:
            if patch is None:
                selected = {layer: [r["token"] for r in getattr(nmap, layer)] for layer in layers}
            else:
                selected = nmap.get_records_in_patch(patch, list(layers), mode="intersect")
            drivable = [nmap.extract_polygon(token) for record_token in selected["drivable_area"]
                        for token in nmap.get("drivable_area", record_token)["polygon_tokens"]]
            drivable_area = _polygonal(shapely.union_all([shapely.make_valid(p) for p in drivable]))
            if patch is not None:
                drivable_area = _polygonal(drivable_area.intersection(shapely.box(*patch)))
            lanes = self._lane_graph(location, nmap, selected["lane"], selected["lane_connector"])
            ped_crossings = tuple(nmap.extract_polygon(nmap.get("ped_crossing", t)["polygon_token"])
                                  for t in selected["ped_crossing"])
            walkways = tuple(nmap.extract_polygon(nmap.get("walkway", t)["polygon_token"])
                             for t in selected["walkway"])
        except KeyError as err:
            raise DatasetError(f"{map_path}: a record refers to {err.args[0]!r}, which the map does not hold (a "
                               "broken node, polygon or record link): repair or re-download the map") from None
        return RoadMap(name=location, drivable_area=drivable_area, lanes=lanes, ped_crossings=ped_crossings,
                       walkways=walkways)

    def _lane_graph(self, location: str, nmap: NuScenesMap, lane_tokens: list[str],
                    connector_tokens: list[str]) -> LaneGraph:
        tokens, lines, widths, is_connector = [], [], [], []
        for layer, layer_tokens in (("lane", lane_tokens), ("lane_connector", connector_tokens)):
            for token in layer_tokens:
                line = self._centerline(location, nmap, token)
                if line is None:  # no arcline path: nothing to drive along
                    continue
                polygon_token = nmap.get(layer, token).get("polygon_token")
                area_m2 = nmap.extract_polygon(polygon_token).area if polygon_token else 0.0
                length_m = polyline_arclength(line)[-1]
                # Mean width = area / length; records without a polygon get the default.
                widths.append(area_m2 / length_m if area_m2 > 0 else self.config.default_lane_width_m)
                tokens.append(token)
                lines.append(line)
                is_connector.append(layer == "lane_connector")
        index = {token: i for i, token in enumerate(tokens)}
        successors = [[index[t] for t in nmap.connectivity.get(token, {}).get("outgoing", []) if t in index]
                      for token in tokens]
        return LaneGraph(
            tokens=np.array(tokens, dtype=str),
            centerline_xy=np.concatenate(lines) if lines else np.zeros((0, 2)),
            offsets=np.concatenate([[0], np.cumsum([len(line) for line in lines])]).astype(np.int64),
            width_m=np.array(widths, dtype=np.float64),
            is_connector=np.array(is_connector, dtype=bool),
            successor_offsets=np.concatenate([[0], np.cumsum([len(s) for s in successors])]).astype(np.int64),
            successor_indices=np.array([i for s in successors for i in s], dtype=np.int64),
        )


def check_map_values(path: Path, nmap: NuScenesMap) -> None:
    """A DatasetError naming the map file, the record and the field whose number would bend the road
    map silently: a node coordinate that is no finite number, or an arcline path piece with a pose,
    radius or length that is not finite (radius > 0 and lengths >= 0 too)."""
    def bad(layer: str, token: str, field_name: str, value, problem: str) -> DatasetError:
        return DatasetError(f"{path}: {layer} record {token} has {field_name} {value!r}: {problem}; repair or "
                            "re-download the map")

    try:
        xy = np.array([(n["x"], n["y"]) for n in nmap.node], dtype=np.float64).reshape(-1, 2)
        finite = np.isfinite(xy).all(axis=1)
    except (KeyError, TypeError, ValueError):
        finite = np.array([isinstance(n.get("x"), (int, float)) and isinstance(n.get("y"), (int, float))
                           for n in nmap.node])
    if not finite.all():
        node = nmap.node[int(np.argmin(finite))]
        raise bad("node", node.get("token"), "x, y", (node.get("x"), node.get("y")), "coordinates must be finite "
                  "numbers (metres)")
    pieces = [(token, piece) for token, token_pieces in nmap.arcline_path_3.items() for piece in token_pieces]
    try:
        ok = _arcline_pieces_ok(np.array([_arcline_numbers(piece) for _, piece in pieces], np.float64).reshape(-1, 10))
    except (KeyError, TypeError, ValueError):  # a missing field, a non-number, a list of another length
        ok = np.array([_arcline_piece_ok(piece) for _, piece in pieces])
    if not ok.all():
        token, piece = pieces[int(np.argmin(ok))]
        raise bad("arcline_path_3", token, "a piece", piece, "start_pose and end_pose are 3 finite numbers, radius "
                  "a finite number > 0, segment_length 3 finite numbers >= 0")


def _arcline_numbers(piece: dict) -> list:
    """start_pose (3), end_pose (3), radius, segment_length (3) of an arcline path piece; a KeyError or
    ValueError when a field is missing or of another length."""
    start, end, lengths = piece["start_pose"], piece["end_pose"], piece["segment_length"]
    if (len(start), len(end), len(lengths)) != (3, 3, 3):
        raise ValueError("an arcline piece field of another length")
    return [*start, *end, piece["radius"], *lengths]


def _arcline_pieces_ok(values: np.ndarray) -> np.ndarray:
    """(K,) bool of (K, 10) pieces' numbers (see _arcline_numbers)."""
    return np.isfinite(values).all(axis=1) & (values[:, 6] > 0) & (values[:, 7:] >= 0).all(axis=1)


def _arcline_piece_ok(piece: dict) -> bool:
    try:
        return bool(_arcline_pieces_ok(np.array([_arcline_numbers(piece)], np.float64))[0])
    except (KeyError, TypeError, ValueError):
        return False


def _map_version_error(path: Path, version: str) -> DatasetError:
    return DatasetError(f"{path} is map expansion version {version!r}; nuscenes-devkit 1.2 and this adapter read "
                        f"version {MAP_EXPANSION_VERSION!r}: download the v{MAP_EXPANSION_VERSION} map expansion "
                        "or re-convert the map")


def _map_load_error(path: Path, err: Exception) -> DatasetError:
    """Explain why NuScenesMap() failed on a map file that exists."""
    try:
        with open(path) as f:
            content = json.load(f)
    except json.JSONDecodeError as json_err:
        return DatasetError(f"{path} is not valid JSON ({json_err}): restore the map file")
    version = content.get("version", "1.0") if isinstance(content, dict) else None
    if version != MAP_EXPANSION_VERSION:
        return _map_version_error(path, str(version))
    if isinstance(err, KeyError):
        return DatasetError(f"{path}: the map lacks {err.args[0]!r} (a layer or a record a link points to): "
                            "repair or re-download the map")
    return DatasetError(f"nuscenes-devkit could not load {path}: {type(err).__name__}: {err}")


def _polygonal(geometry: shapely.Geometry) -> Polygon | MultiPolygon:
    """The polygonal part of a geometry (unions and clips can add stray lines and points)."""
    if isinstance(geometry, (Polygon, MultiPolygon)):
        return geometry
    parts = [p for p in shapely.get_parts(geometry) if isinstance(p, (Polygon, MultiPolygon))]
    polygons = [q for p in parts for q in (p.geoms if isinstance(p, MultiPolygon) else [p])]
    return MultiPolygon(polygons) if polygons else Polygon()
