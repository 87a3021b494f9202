"""Other actors in the closed loop: log replay, reactive IDM, scripted plans."""
