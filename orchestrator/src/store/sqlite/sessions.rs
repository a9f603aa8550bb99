//! The session history in SQLite: who held which address when. Reads run on
//! a reader's connection like the others; writes run in the writer's group
//! transaction (see [`writer`](super::writer)).

use std::path::Path;

use cordon_proto::subscriber::{SessionRecord, SessionSource};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};

use crate::store::StoreError;
use cordon_policy::lifecycle::Unix;

/// A query of whole rows, in the columns [`row`] reads (a macro, so each
/// query below is one constant the tests can ask SQLite's plan of).
macro_rules! rows_where {
    ($tail:literal) => {
        concat!(
            "SELECT subscriber, address, source, session_id, nas, calling_station, started, ended
             FROM sessions ",
            $tail
        )
    };
}

/// Every open row, oldest first. Without statistics SQLite would rather
/// scan the whole history in id order than sort the few open rows the
/// partial index finds, so the index is named (`INDEXED BY` fails the
/// query if the index ever cannot answer it, rather than scanning).
pub(super) const OPEN: &str =
    rows_where!("INDEXED BY sessions_open WHERE ended IS NULL ORDER BY id");

/// One subscriber's history, newest first.
pub(super) const OF_SUBSCRIBER: &str =
    rows_where!("WHERE subscriber = ?1 ORDER BY started DESC, id DESC LIMIT ?2");

/// Everyone's history, newest first.
pub(super) const OF_EVERYONE: &str = rows_where!("ORDER BY started DESC, id DESC LIMIT ?1");

/// Closes the open rows of a subscriber and address (see [`ended`]).
pub(super) const END: &str = "UPDATE sessions SET ended = MAX(started, ?3)
     WHERE subscriber = ?1 AND address = ?2 AND ended IS NULL";

/// The retention purge's part (see [`purge`]).
pub(super) const PURGE: &str = "DELETE FROM sessions WHERE ended < ?1";

/// A row as a record. A source name only a newer cordond could have
/// written is refused rather than guessed: it would misname who said so.
fn row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let name: String = r.get(2)?;
    let source = SessionSource::from_name(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown session source {name:?}").into(),
        )
    })?;
    Ok(SessionRecord {
        subscriber: r.get(0)?,
        address: r.get(1)?,
        source,
        session_id: r.get(3)?,
        nas: r.get(4)?,
        calling_station: r.get(5)?,
        started: r.get(6)?,
        ended: r.get(7)?,
    })
}

/// The rows `sql` (one of the queries above) chooses.
fn select(
    conn: &Connection,
    path: &Path,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<SessionRecord>, StoreError> {
    let io = |e| StoreError::io(path, e);
    let mut stmt = conn.prepare(sql).map_err(io)?;
    stmt.query_map(args, row)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)
}

/// Every open session, oldest first (what a start loads).
pub(super) fn open(conn: &Connection, path: &Path) -> Result<Vec<SessionRecord>, StoreError> {
    select(conn, path, OPEN, [])
}

/// The history, newest first, of one subscriber or everyone. Two queries
/// rather than `?1 IS NULL OR subscriber = ?1`, which SQLite cannot answer
/// from the subscriber index.
pub(super) fn history(
    conn: &Connection,
    path: &Path,
    subscriber: Option<&str>,
    limit: u32,
) -> Result<Vec<SessionRecord>, StoreError> {
    match subscriber {
        Some(s) => select(conn, path, OF_SUBSCRIBER, params![s, limit]),
        None => select(conn, path, OF_EVERYONE, params![limit]),
    }
}

/// Most addresses asked in one query: a unit and its wider prefixes are at
/// most 129, and SQLite takes at most 32 766 parameters; a longer list is
/// asked in parts.
const HOLDER_CHUNK: usize = 256;

/// The query [`holder_at`] runs for `n` addresses (1 to [`HOLDER_CHUNK`]):
/// `?1` is the time, `?2`.. the addresses. The index `sessions_address
/// (address, started)` answers it with a search per address (the test
/// `session_questions_are_index_searches` checks the plan).
pub(super) fn holder_sql(n: usize) -> String {
    let marks = (0..n)
        .map(|i| format!("?{}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT started, id, subscriber FROM sessions
         WHERE address IN ({marks}) AND started <= ?1 AND (ended IS NULL OR ended > ?1)
         ORDER BY started DESC, id DESC LIMIT 1"
    )
}

/// Who held any of `addresses` at `at`; of several, who started latest
/// (then who was written last).
pub(super) fn holder_at(
    conn: &Connection,
    path: &Path,
    addresses: &[String],
    at: Unix,
) -> Result<Option<String>, StoreError> {
    let io = |e| StoreError::io(path, e);
    let mut best: Option<(i64, i64, String)> = None;
    for chunk in addresses.chunks(HOLDER_CHUNK) {
        let args =
            std::iter::once(Value::Integer(at)).chain(chunk.iter().map(|a| Value::Text(a.clone())));
        let found: Option<(i64, i64, String)> = conn
            .prepare_cached(&holder_sql(chunk.len()))
            .map_err(io)?
            .query_row(params_from_iter(args), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(io)?;
        best = best.max(found);
    }
    Ok(best.map(|(_, _, subscriber)| subscriber))
}

/// Adds an open row.
pub(super) fn began(tx: &Transaction<'_>, s: &SessionRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sessions (subscriber, address, source, session_id, nas, calling_station, started)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        s.subscriber,
        s.address,
        s.source.as_str(),
        s.session_id,
        s.nas,
        s.calling_station,
        s.started
    ])?;
    Ok(())
}

/// Closes the open rows of `subscriber` at `address`, never before their
/// own start (a Stop dated before its Start, by a clock that stepped back,
/// would otherwise leave a row that ends before it began).
pub(super) fn ended(
    tx: &Transaction<'_>,
    subscriber: &str,
    address: &str,
    at: Unix,
) -> rusqlite::Result<()> {
    tx.prepare_cached(END)?
        .execute(params![subscriber, address, at])?;
    Ok(())
}

/// The retention purge's part: sessions that ended before `before` (an
/// open one stays, whatever its age).
pub(super) fn purge(tx: &Transaction<'_>, before: Unix) -> rusqlite::Result<()> {
    tx.prepare_cached(PURGE)?.execute([before])?;
    Ok(())
}
