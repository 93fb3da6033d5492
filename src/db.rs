//! The data layer's connection: one `AnyPool` that is SQLite or PostgreSQL.
//!
//! Queries are written once with `$1` placeholders and portable types (TEXT ids,
//! BIGINT milliseconds, TEXT JSON). Where the two databases must differ (the job claim),
//! code branches on [`Db::kind`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::config::{DatabaseUrl, Settings};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Defined by the job queue, whose claim differs between the two.
pub use quire_jobs::DbKind;

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub kind: DbKind,
    /// Told of every job change made through a queue of this `Db` (the live events set
    /// it, `crate::events`); none by default.
    pub jobs_observer: quire_jobs::observer::Observer,
}

#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    pub max: u32,
    pub min: u32,
}

impl PoolSize {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            max: s.database_max_connections,
            min: s.database_min_connections,
        }
    }
}

impl Db {
    pub async fn connect(url: &DatabaseUrl, size: PoolSize) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let kind = if url.is_postgres() {
            DbKind::Postgres
        } else {
            DbKind::Sqlite
        };
        if kind == DbKind::Sqlite {
            ensure_sqlite_parent_dir(url.as_str())?;
        }
        let options = AnyConnectOptions::from_str(url.as_str())?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = AnyPoolOptions::new()
            .max_connections(size.max)
            .min_connections(size.min)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL lets readers proceed while a writer commits; the busy timeout
                        // makes concurrent writers wait instead of failing with SQLITE_BUSY.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            kind,
            jobs_observer: Default::default(),
        })
    }

    /// Applies pending migrations; a second run is a no-op.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Applies pending migrations up to and including `version` (tests of a migration
    /// prepare a database in the state before it).
    pub async fn migrate_to(&self, version: i64) -> anyhow::Result<()> {
        let migrator = match self.kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run_to(version, &self.pool).await?;
        Ok(())
    }

    /// Versions of the migrations applied so far, oldest first.
    pub async fn applied_migrations(&self) -> anyhow::Result<Vec<i64>> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }

    /// One round trip, for health checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn ensure_sqlite_parent_dir(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the database directory {}: {e}",
                parent.display()
            )
        })?;
    }
    Ok(())
}

/// A new row id: UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `true` when a database error is a unique-constraint violation (duplicate email,
/// duplicate key prefix), on either database.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
