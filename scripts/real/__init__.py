"""Rebuild the real-recordings corpus (docs/DATA.md ``## Real recordings``) from repository snapshots
and Debian packages: rhythm-game charts (tempo, first beat, meter), the 4Q dev clips (quadrant,
valence, arousal, genres) and unlabelled free music, in one manifest with artist-disjoint splits."""
