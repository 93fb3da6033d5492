//! Keeps recently authenticated API keys, login sessions and `/auth/me` profiles in
//! memory, so that an authenticated request costs a hash and a map lookup instead of
//! database round trips.
//!
//! Correctness rests on invalidation, not on the time limit:
//! - every change that can end or narrow a principal (key revoked, user deactivated or
//!   changed, session logged out or revoked, organisation renamed) calls
//!   [`PrincipalCache::changed`] after its commit, which empties this instance's cache and,
//!   on PostgreSQL, sends `NOTIFY quire_auth` so every other instance empties its own;
//! - a lookup that started before an emptying may not fill the cache afterwards (the
//!   generation check), so a row read just before a revocation is never kept;
//! - on PostgreSQL the cache is only used while this instance is listening: when the
//!   listening connection drops, the cache is emptied and bypassed until it is back.
//!
//! Only hits are kept: an unknown key or a dead session is read again every time, so a
//! key created a moment ago works at once. `AUTH_CACHE_SECONDS` bounds how long an entry
//! lives regardless (a backstop for a notification lost to a crash between commit and
//! `NOTIFY`); 0 turns the cache off. SQLite is the single-instance mode, so there the
//! in-process emptying is the whole story.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::api_keys::repo::ApiKeyWithOwner;
use crate::auth::repo::SessionUserRow;
use crate::auth::tokens::Claims;
use crate::config::DatabaseUrl;
use crate::db::{Db, DbKind};
use crate::orgs::repo::OrganisationRow;
use crate::users::repo::UserRow;

/// The PostgreSQL channel on which instances announce authentication changes.
pub const CHANGE_CHANNEL: &str = "quire_auth";

/// Entries per shelf; past it the shelf is emptied rather than evicted one by one, which
/// keeps memory bounded under a flood of distinct credentials at the cost of a refill.
const MAX_ENTRIES: usize = 10_000;

/// An API key as cached: the row, and when this instance last recorded its use (so the
/// throttled `last_used_at` write does not repeat on every cached hit).
#[derive(Debug)]
pub struct CachedApiKey {
    pub row: ApiKeyWithOwner,
    pub last_touch: AtomicI64,
}

impl CachedApiKey {
    pub fn new(row: ApiKeyWithOwner) -> Self {
        let last_touch = AtomicI64::new(row.last_used_at.unwrap_or(0));
        Self { row, last_touch }
    }
}

/// What `/auth/me` shows besides the principal: the organisation and the user, if any.
pub type Profile = (OrganisationRow, Option<UserRow>);

/// An access token that verified, and the live session user it stands for. Keyed by the
/// token itself, so a hit skips the signature check too (a verified token stays
/// verified); its time limits are still checked on every use.
#[derive(Debug)]
pub struct CachedSession {
    pub claims: Claims,
    pub user: SessionUserRow,
}

pub struct PrincipalCache {
    ttl: Duration,
    /// Bumped by every emptying; a lookup may only fill the cache with the generation it
    /// saw before reading the database.
    generation: AtomicU64,
    /// Whether changes made by other instances reach this one (always on SQLite).
    hearing_changes: AtomicBool,
    /// Orders fills against emptyings (see [`PrincipalCache::keep`]).
    emptying: Mutex<()>,
    api_keys: Shelf<String, CachedApiKey>,
    sessions: Shelf<String, CachedSession>,
    profiles: Shelf<(String, Option<String>), Profile>,
    /// Counts emptyings, for whoever must re-check principals it holds (open sockets).
    changes: tokio::sync::watch::Sender<u64>,
}

/// A ticket to fill the cache: `None` when the cache is not in use right now.
#[derive(Clone, Copy, Debug)]
pub struct FillTicket(Option<u64>);

impl PrincipalCache {
    pub fn new(ttl: Duration, kind: DbKind) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            // PostgreSQL instances start deaf and use the cache once they listen.
            hearing_changes: AtomicBool::new(kind == DbKind::Sqlite),
            emptying: Mutex::new(()),
            api_keys: Shelf::default(),
            sessions: Shelf::default(),
            profiles: Shelf::default(),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Changes at every emptying of the cache (here, or announced by another instance):
    /// holders of a principal re-check it then.
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Whether changes made through other instances reach this one: always on SQLite,
    /// on PostgreSQL while the `LISTEN` connection is up.
    pub fn hears_changes(&self) -> bool {
        self.hearing_changes.load(Ordering::Acquire)
    }

    fn in_use(&self) -> bool {
        !self.ttl.is_zero() && self.hearing_changes.load(Ordering::Acquire)
    }

    /// Take this before reading the database; hand it to the `keep_*` call afterwards.
    pub fn ticket(&self) -> FillTicket {
        if self.in_use() {
            FillTicket(Some(self.generation.load(Ordering::Acquire)))
        } else {
            FillTicket(None)
        }
    }

    pub fn api_key(&self, prefix: &str) -> Option<Arc<CachedApiKey>> {
        self.in_use()
            .then(|| self.api_keys.get(prefix, self.ttl))
            .flatten()
    }

    pub fn keep_api_key(&self, ticket: FillTicket, prefix: &str, key: Arc<CachedApiKey>) {
        self.keep(ticket, || self.api_keys.put(prefix.to_owned(), key));
    }

    pub fn session(&self, access_token: &str) -> Option<Arc<CachedSession>> {
        self.in_use()
            .then(|| self.sessions.get(access_token, self.ttl))
            .flatten()
    }

    pub fn keep_session(
        &self,
        ticket: FillTicket,
        access_token: &str,
        session: Arc<CachedSession>,
    ) {
        self.keep(ticket, || {
            self.sessions.put(access_token.to_owned(), session)
        });
    }

    pub fn profile(&self, org_id: &str, user_id: Option<&str>) -> Option<Arc<Profile>> {
        if !self.in_use() {
            return None;
        }
        self.profiles
            .get(&(org_id.to_owned(), user_id.map(str::to_owned)), self.ttl)
    }

    pub fn keep_profile(
        &self,
        ticket: FillTicket,
        org_id: &str,
        user_id: Option<&str>,
        profile: Arc<Profile>,
    ) {
        self.keep(ticket, || {
            self.profiles
                .put((org_id.to_owned(), user_id.map(str::to_owned)), profile)
        });
    }

    /// Fills only if nothing was emptied since the ticket was taken. The check and the
    /// insert happen under the shelf's write lock, which `empty` also takes, so an
    /// emptying cannot slip in between.
    fn keep(&self, ticket: FillTicket, put: impl FnOnce()) {
        let Some(seen) = ticket.0 else { return };
        let _order = self.emptying_lock();
        if self.generation.load(Ordering::Acquire) == seen {
            put();
        }
    }

    fn emptying_lock(&self) -> MutexGuard<'_, ()> {
        self.emptying
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Empties this instance's cache. Lookups already under way will not refill it.
    pub fn empty(&self) {
        let _order = self.emptying_lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.api_keys.clear();
        self.sessions.clear();
        self.profiles.clear();
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Announces, after its commit, a change that can end or narrow principals: empties
    /// this instance's cache and tells the other instances (PostgreSQL `NOTIFY`). A
    /// failed `NOTIFY` is logged, not returned: the change itself is committed, and the
    /// other instances drop the entry within `AUTH_CACHE_SECONDS` at the latest.
    pub async fn changed(&self, db: &Db) {
        self.empty();
        if db.kind == DbKind::Postgres
            && let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("NOTIFY {CHANGE_CHANNEL}")))
                .execute(&db.pool)
                .await
        {
            tracing::warn!(error = %e, "could not announce an authentication change to other instances");
        }
    }

    /// On PostgreSQL: listens on [`CHANGE_CHANNEL`] until `stop`, emptying the cache at
    /// every notification and whenever the connection is lost or regained; the cache is
    /// bypassed while not listening. Nothing to do on SQLite.
    pub fn listen_for_changes(
        self: &Arc<Self>,
        url: DatabaseUrl,
        kind: DbKind,
        stop: CancellationToken,
    ) {
        if kind != DbKind::Postgres || self.ttl.is_zero() {
            return;
        }
        let cache = Arc::clone(self);
        tokio::spawn(async move { cache.listen(url, stop).await });
    }

    async fn listen(&self, url: DatabaseUrl, stop: CancellationToken) {
        loop {
            match sqlx::postgres::PgListener::connect(url.as_str()).await {
                Ok(mut listener) => match listener.listen(CHANGE_CHANNEL).await {
                    Ok(()) => {
                        // Anything may have changed while nobody listened.
                        self.empty();
                        self.hearing_changes.store(true, Ordering::Release);
                        loop {
                            tokio::select! {
                                _ = stop.cancelled() => return,
                                received = listener.recv() => match received {
                                    Ok(_) => self.empty(),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "authentication change notifications interrupted; cache off until reconnected");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot LISTEN for authentication changes")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot connect to listen for authentication changes");
                }
            }
            self.hearing_changes.store(false, Ordering::Release);
            self.empty();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }
}

/// One kind of cached value, with the time it was read.
struct Shelf<K, V> {
    map: RwLock<HashMap<K, (Instant, Arc<V>)>>,
}

impl<K, V> Default for Shelf<K, V> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V> Shelf<K, V> {
    fn get<Q>(&self, key: &Q, ttl: Duration) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let map = self.map.read().ok()?;
        let (read_at, value) = map.get(key)?;
        (read_at.elapsed() < ttl).then(|| Arc::clone(value))
    }

    fn put(&self, key: K, value: Arc<V>) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, (Instant::now(), value));
        }
    }

    fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_row(role: &str) -> Arc<CachedSession> {
        Arc::new(CachedSession {
            claims: Claims {
                sub: "u".into(),
                org: "o".into(),
                role: role.into(),
                typ: crate::auth::tokens::TokenType::Access,
                iat: 0,
                nbf: 0,
                exp: 0,
                jti: "j".into(),
                fam: Some("f".into()),
            },
            user: SessionUserRow {
                id: "u".into(),
                org_id: "o".into(),
                role: role.into(),
                is_active: 1,
                is_superuser: 0,
                live_tokens: 1,
            },
        })
    }

    const TOKEN: &str = "header.claims.signature";

    #[test]
    fn a_lookup_that_began_before_an_emptying_does_not_refill_the_cache() {
        let cache = PrincipalCache::new(Duration::from_secs(30), DbKind::Sqlite);
        let ticket = cache.ticket();
        cache.empty();
        cache.keep_session(ticket, TOKEN, session_row("admin"));
        assert!(cache.session(TOKEN).is_none());

        let ticket = cache.ticket();
        cache.keep_session(ticket, TOKEN, session_row("admin"));
        assert_eq!(
            cache.session(TOKEN).map(|r| r.user.role.clone()).as_deref(),
            Some("admin")
        );
    }

    #[test]
    fn entries_expire_and_a_zero_lifetime_turns_the_cache_off() {
        let off = PrincipalCache::new(Duration::ZERO, DbKind::Sqlite);
        let ticket = off.ticket();
        off.keep_session(ticket, TOKEN, session_row("viewer"));
        assert!(off.session(TOKEN).is_none());

        let short = PrincipalCache::new(Duration::from_millis(20), DbKind::Sqlite);
        let ticket = short.ticket();
        short.keep_session(ticket, TOKEN, session_row("viewer"));
        assert!(short.session(TOKEN).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(short.session(TOKEN).is_none());
    }

    #[test]
    fn a_postgres_instance_does_not_cache_until_it_listens() {
        let cache = PrincipalCache::new(Duration::from_secs(30), DbKind::Postgres);
        let ticket = cache.ticket();
        cache.keep_session(ticket, TOKEN, session_row("admin"));
        assert!(cache.session(TOKEN).is_none());
    }
}
