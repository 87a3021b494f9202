"""KITTI odometry drives (stereo images, calibration, camera poses) as nuScenes-layout dataroots.

`import_kitti(KittiImport(...))` writes the dataroot (`importer`); `files` reads KITTI's
calibration, poses and times files; `convert` holds the axis conversion and the drawn map.
"""

from scenarios.kitti.importer import ImportSummary, KittiImport, import_kitti

__all__ = ["ImportSummary", "KittiImport", "import_kitti"]
