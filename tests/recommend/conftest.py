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


def discover_app(monkeypatch: pytest.MonkeyPatch, tracks: pd.DataFrame):  # type: ignore[no-untyped-def]
    """A typer app holding only `discover`, reading ``tracks`` instead of a catalogue."""
    import typer

    from audiotaste import cli_discover, cli_recommend

    monkeypatch.setattr(cli_recommend, "load_tracks", lambda db: tracks)
    app = typer.Typer()
    cli_discover.register(app)

    @app.callback()
    def _root() -> None:  # a group, so the command keeps its name
        pass

    return app
