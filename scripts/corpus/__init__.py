"""Helpers of ``scripts/make_corpus.py``: compose labelled music and render it.

Not part of the installed package.  Modules, in the order data flows:

- ``theory``   keys, chords, progressions, General MIDI names, the mood controls table
- ``plan``     the clip list, a pure function of (preset, seed, n)
- ``compose``  a clip spec -> a MIDI file (MMA grooves or our own composers, plus a melody)
- ``render``   MIDI -> 44.1 kHz FLAC with FluidSynth or TiMidity++, light augmentation
- ``manifest`` the append-only, always-valid manifest and resumption
"""
