"""Which taggers an analysis runs: the main one, and extra ones whose taxonomies are added.

The extra-tagger policy: ``--real-world`` means :data:`REAL_WORLD_MODEL` when fetched, else the shipped
student; an extra model is dropped when it is the main one, and two models may not produce one taxonomy.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from audiotaste.errors import ModelError

if TYPE_CHECKING:
    from audiotaste.tagger import Tagger

__all__ = ["REAL_WORLD_MODEL", "REAL_WORLD_STUDENT", "load_extras", "load_tagger", "real_world_model"]

#: The real-world tagger ``audiotaste analyze --real-world`` adds: musicnn trained on the Million
#: Song Dataset's Last.fm tags (genres such as rock, jazz, Hip-Hop, folk and moods such as happy, sad,
#: chill, Mellow), the closest of the two musicnn models to our genre/mood taxonomy.
REAL_WORLD_MODEL = "musicnn-msd"
#: Shipped in ``models/``: musicnn-msd pruned to a fraction of its filters and fine-tuned on its own
#: outputs over real soundtracks (``audiotaste.tagger.pruned``), the real-world tags without the fetch.
REAL_WORLD_STUDENT = "musicnn-msd-student"


def real_world_model() -> str:
    """The model behind ``--real-world``: :data:`REAL_WORLD_MODEL` once fetched (``audiotaste models
    fetch musicnn``), else the shipped student :data:`REAL_WORLD_STUDENT`, which tags the same 50
    Last.fm tags several times faster and close to the teacher (``docs/BENCHMARKS.md`` ``## distill``)."""
    from audiotaste._paths import cache_dir

    if (cache_dir() / REAL_WORLD_MODEL / "card.json").is_file():
        return REAL_WORLD_MODEL
    return REAL_WORLD_STUDENT


def load_extras(main: Tagger | None, names: Sequence[str]) -> list[Tagger]:
    """Load extra taggers by name (cached per process), dropping repeats of the main tagger.

    Parameters
    ----------
    main : Tagger or None
        The main tagger, whose taxonomies the extras must not produce again.
    names : sequence of str
        Model names or folders (``"musicnn-msd"``).

    Raises
    ------
    ModelError
        A model cannot be loaded (for musicnn: the message says how to fetch it), or two models
        produce the same taxonomy.
    """
    if isinstance(names, str):  # a bare string would be read as a list of one-letter names
        names = (names,)
    owner: dict[str, str] = {}
    if main is not None:
        owner = dict.fromkeys(main.labels, f"{main.name}@{main.version}")
    out: list[Tagger] = []
    for name in dict.fromkeys(names):
        tagger = load_tagger(name)
        model_id = f"{tagger.name}@{tagger.version}"
        if model_id in owner.values() and set(tagger.labels) <= set(owner):
            continue  # the main tagger already is this model
        for taxonomy in tagger.labels:
            if taxonomy in owner:
                raise ModelError(name, f"its taxonomy {taxonomy!r} is also produced by "
                                       f"{owner[taxonomy]}; use one of the two")
            owner[taxonomy] = model_id
        out.append(tagger)
    return out


@lru_cache(maxsize=4)
def load_tagger(model: str | None) -> Tagger:
    """The tagger ``model`` names (``None``: the shipped ``"default"``), loaded once per process.

    Raises
    ------
    ModelError
        Missing or corrupt, the default included: an analysis asked for tags never quietly comes
        back without them (``analyze(..., tags=False)`` is how to ask for none).
    """
    from audiotaste.tagger import load_model

    return load_model(model or "default")
