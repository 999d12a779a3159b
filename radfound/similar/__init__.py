"""Similar cases: an embedding index of the user's own studies, kept on this machine (radfound.similar.index)."""
