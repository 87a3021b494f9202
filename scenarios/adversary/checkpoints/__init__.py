"""The shipped adversary checkpoint (`default.pt`, trained by `splatsim adversary train`), its
loss curve (`default.loss.png`) and training report (`default.train.json`). A package only so
that the checkpoint ships as package data."""
