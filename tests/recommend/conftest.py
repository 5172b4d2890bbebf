from __future__ import annotations

import pandas as pd
import pytest

from audiotaste.recommend.simulate import Simulation, simulate


@pytest.fixture(scope="session")
def sim() -> Simulation:
    return simulate(n_users=150, n_artists=60, n_tracks=800, weeks=6, random_state=1)


@pytest.fixture(scope="session")
def split(sim: Simulation) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from audiotaste.recommend.evaluate import time_split

    train, test = time_split(sim.events, sim.split)
    return train, test, sim.tracks.drop(columns=["release", "debut"])


@pytest.fixture(scope="session")
def fitted(split):
    from audiotaste.recommend import Recommender

    train, _, tracks = split
    return Recommender(factors=16, iterations=8).fit(train, tracks)
