"""Training the crop classifier's head (``cat-follow train-classifier``) and checking it."""
