"""Contract version 1: the .proto files and their generated Python code (do not edit *_pb2*.py;
run `python proto/generate.py`)."""

CONTRACT_VERSION = 1
