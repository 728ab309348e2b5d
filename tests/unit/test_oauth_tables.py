"""The OAuth tables migration 0017 creates are the ones slack_sdk's SQLAlchemy stores read and write."""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, Table

from services.models import slack_bots, slack_installations, slack_oauth_states


def shape(table: Table) -> dict[str, tuple[str, bool, bool]]:
    """Column name -> (type, nullable, primary key), and index name -> its columns."""
    columns = {c.name: (repr(c.type), bool(c.nullable), c.primary_key) for c in table.columns}
    indexes = {i.name or "": (",".join(c.name for c in i.columns), False, False) for i in table.indexes}
    return {**columns, **indexes}


def test_our_tables_match_the_stores_column_for_column() -> None:
    theirs = MetaData()
    pairs = [
        (slack_bots, SQLAlchemyInstallationStore.build_bots_table(theirs, "slack_bots")),
        (
            slack_installations,
            SQLAlchemyInstallationStore.build_installations_table(theirs, "slack_installations"),
        ),
        (
            slack_oauth_states,
            SQLAlchemyOAuthStateStore.build_oauth_states_table(theirs, "slack_oauth_states"),
        ),
    ]
    for ours, store in pairs:
        assert shape(ours) == shape(store), ours.name
        assert [c.name for c in ours.columns] == [c.name for c in store.columns], ours.name
