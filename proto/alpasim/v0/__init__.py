"""splatsim's copy of the messages of NVIDIA AlpaSim's `egodriver.EgodriverService` (alpasim_grpc v0).

Message names, field numbers and field types are AlpaSim's (NVlabs/alpasim
`src/grpc/alpasim_grpc/v0/{common,sensorsim,egodriver}.proto`, checked against the copy
carla-driver-interface 2.3 vendors); only what the driver contract uses is kept. The protobuf
package is renamed `splatsim.alpasim.v0` so that these descriptors never collide in one Python
process with alpasim_grpc's or carla-driver-interface's (both define `common.Empty`, ...): the
package never travels on the wire, the field numbers do. The service itself is called by its
upstream path, `/egodriver.EgodriverService/<rpc>` (policies_api/egodriver/client.py).

Regenerate the Python code with `python proto/generate.py`.
"""

SERVICE_PATH = "/egodriver.EgodriverService/"
RPCS = ("start_session", "close_session", "submit_image_observation", "submit_egomotion_observation",
        "submit_route", "submit_recording_ground_truth", "drive", "get_version")
