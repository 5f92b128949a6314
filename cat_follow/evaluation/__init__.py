"""``cat-follow evaluate``: replay logs scored against reference boxes (scoring.py, pure) and
the whole video suite replayed and scored (suite.py)."""
