"""The gRPC boundary: simulator server, client SDK, Gymnasium env and policy serving."""
