"""Gaussian-splatting rendering of the camera rig (gsplat on CUDA, own CPU rasterizer otherwise)."""
