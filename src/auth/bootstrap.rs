//! The first start, and the operator's `quire admin` commands.
//!
//! On an empty database `quire serve` creates an organisation, an admin user (without a
//! password) and an admin API key, prints the key once to the terminal (never to the
//! log) and keeps it, mode 0600, in `<data>/admin-api-key`. A row in
//! `service_metadata`, inserted in the same transaction, makes this happen exactly once
//! even when several instances start at the same moment on one PostgreSQL.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

use crate::api_keys::repo::NewApiKey;
use crate::auth::model::{Role, parse_email, parse_name};
use crate::auth::password;
use crate::auth::tokens::generate_api_key;
use crate::config::Settings;
use crate::db::Db;
use crate::orgs::repo::OrganisationRow;
use crate::time::now_ms;
use crate::users::repo::NewUser;

/// The `service_metadata` key claimed by the instance that sets the installation up.
pub const FIRST_START_MARKER: &str = "first_start_admin";
/// File under the data directory that keeps the first admin key.
pub const ADMIN_KEY_FILE: &str = "admin-api-key";
pub const FIRST_ADMIN_EMAIL: &str = "admin@quire.local";
pub const FIRST_ORG_NAME: &str = "Default organisation";

/// What the first start created. `api_key` is the only copy of the secret.
pub struct FirstAdmin {
    pub org_id: String,
    pub user_id: String,
    pub key_id: String,
    pub api_key: String,
}

/// Creates the first organisation, admin and admin key if this installation has never
/// been set up and holds no organisation. `None` when there is nothing to do (set up
/// before, by this or another instance, or data already present).
pub async fn create_first_admin(db: &Db) -> anyhow::Result<Option<FirstAdmin>> {
    let mut tx = db.pool.begin().await?;
    // The claim comes first: on PostgreSQL a concurrent instance's insert of the same key
    // waits for this transaction and then does nothing; on SQLite writers are serialised.
    let claimed = sqlx::query(
        "INSERT INTO service_metadata (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(FIRST_START_MARKER)
    .bind("pending")
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        tx.rollback().await?;
        return Ok(None);
    }
    let (orgs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM organisations")
        .fetch_one(&mut *tx)
        .await?;
    if orgs > 0 {
        set_marker(&mut tx, "skipped: organisations existed").await?;
        tx.commit().await?;
        return Ok(None);
    }
    let org = crate::orgs::repo::insert_organisation(&mut *tx, FIRST_ORG_NAME).await?;
    let user = crate::users::repo::insert_user(
        &mut *tx,
        &org.id,
        NewUser {
            email: FIRST_ADMIN_EMAIL,
            display_name: "Admin",
            password_hash: None,
            role: Role::Admin,
        },
    )
    .await?;
    let key = generate_api_key();
    let key_row = crate::api_keys::repo::insert_api_key(
        &mut *tx,
        &org.id,
        NewApiKey {
            name: "first-start admin key",
            role: Role::Admin,
            created_by: Some(&user.id),
            expires_at: None,
            prefix: &key.prefix,
            secret_hash: &key.secret_hash,
        },
    )
    .await?;
    set_marker(&mut tx, &org.id).await?;
    tx.commit().await?;
    Ok(Some(FirstAdmin {
        org_id: org.id,
        user_id: user.id,
        key_id: key_row.id,
        api_key: key.plaintext,
    }))
}

async fn set_marker(tx: &mut sqlx::Transaction<'_, sqlx::Any>, value: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE service_metadata SET value = $1, updated_at = $2 WHERE key = $3")
        .bind(value)
        .bind(now_ms())
        .bind(FIRST_START_MARKER)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Called by `quire serve` before it accepts requests: sets up an empty installation and
/// shows the admin key on the terminal once.
pub async fn first_start(db: &Db, settings: &Settings, addr: SocketAddr) -> anyhow::Result<()> {
    let path = settings.data_dir.join(ADMIN_KEY_FILE);
    let Some(admin) = create_first_admin(db).await? else {
        if path.exists() {
            println!(
                "  admin key: kept in {} since the first start",
                path.display()
            );
        }
        return Ok(());
    };
    tracing::info!(
        org.id = %admin.org_id,
        user.id = %admin.user_id,
        key.id = %admin.key_id,
        "first start: created an organisation, an admin user and an admin API key"
    );
    let stored = store_admin_key(&settings.data_dir, &path, &admin.api_key);
    if let Err(e) = &stored {
        tracing::warn!(error = %e, path = %path.display(), "could not save the admin API key");
    }
    // Straight to the terminal, never through the logger; and only to a terminal: a
    // service manager or container runtime keeps stdout in a log, where the key would
    // outlive the moment it is shown.
    if std::io::stdout().is_terminal() {
        print_admin_key_banner(&admin.api_key, &path, stored.is_ok(), addr);
    } else {
        print_admin_key_location(&path, stored.is_ok());
    }
    Ok(())
}

fn print_admin_key_banner(key: &str, path: &Path, stored: bool, addr: SocketAddr) {
    println!();
    println!(
        "  First start: created organisation \"{FIRST_ORG_NAME}\" and admin {FIRST_ADMIN_EMAIL}."
    );
    println!("  Admin API key (shown once):");
    println!();
    println!("    {key}");
    println!();
    if stored {
        println!("  Also saved, readable only by you, in {}", path.display());
    } else {
        println!("  Could not save it to {}: copy it now.", path.display());
    }
    println!("  Try: curl -H 'Authorization: Bearer <key>' http://{addr}/api/v1/auth/me");
    println!();
}

/// Off a terminal: where the key is and how to read it, never the key.
fn print_admin_key_location(path: &Path, stored: bool) {
    println!(
        "  First start: created organisation \"{FIRST_ORG_NAME}\" and admin {FIRST_ADMIN_EMAIL}."
    );
    if stored {
        println!(
            "  Admin API key: not shown (output is not a terminal); read it with: cat {}",
            path.display()
        );
    } else {
        println!(
            "  Admin API key: not shown (output is not a terminal) and could not be saved to {}; \
             create one on this machine with: quire admin create-api-key --name admin --role admin",
            path.display()
        );
    }
}

fn store_admin_key(dir: &Path, path: &Path, key: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    crate::fsutil::write_private_file(path, format!("{key}\n").as_bytes())
}

/// Finds an organisation by id or exact name; with none given, the only one there is.
pub async fn resolve_organisation(
    db: &Db,
    wanted: Option<&str>,
) -> anyhow::Result<OrganisationRow> {
    let all: Vec<OrganisationRow> = sqlx::query_as(
        "SELECT id, name, created_at, updated_at FROM organisations ORDER BY created_at",
    )
    .fetch_all(&db.pool)
    .await?;
    let matches: Vec<&OrganisationRow> = match wanted {
        Some(w) => all.iter().filter(|o| o.id == w || o.name == w).collect(),
        None => all.iter().collect(),
    };
    match (matches.as_slice(), wanted) {
        ([one], _) => Ok((*one).clone()),
        ([], Some(w)) => anyhow::bail!("no organisation has the id or name '{w}'"),
        ([], None) => {
            anyhow::bail!("there is no organisation yet: run `quire serve` once, or register")
        }
        (_, Some(w)) => anyhow::bail!("several organisations are named '{w}': pass the id"),
        (_, None) => anyhow::bail!("there are several organisations: pass --org <id or name>"),
    }
}

pub struct AdminNewUser {
    pub org: Option<String>,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub password: Option<String>,
    pub superuser: bool,
}

/// `quire admin create-user`. Returns the user's id and organisation.
pub async fn admin_create_user(
    db: &Db,
    settings: &Settings,
    input: AdminNewUser,
) -> anyhow::Result<(String, OrganisationRow)> {
    let org = resolve_organisation(db, input.org.as_deref()).await?;
    let email = parse_email("email", &input.email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let display_name = match &input.display_name {
        Some(n) => parse_name("display-name", n).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => crate::auth::service::default_display_name(&email),
    };
    let hash = match input.password {
        Some(p) => {
            password::validate_new_password("password", &p, settings.password_min_length)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some(password::hash_password(p).await?)
        }
        None => None,
    };
    let mut tx = db.pool.begin().await?;
    let user = crate::users::repo::insert_user(
        &mut *tx,
        &org.id,
        NewUser {
            email: &email,
            display_name: &display_name,
            password_hash: hash.as_deref(),
            role: input.role,
        },
    )
    .await
    .map_err(|e| {
        if crate::db::is_unique_violation(&e) {
            anyhow::anyhow!("a user with the email {email} already exists")
        } else {
            e.into()
        }
    })?;
    if input.superuser {
        sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1 AND org_id = $2")
            .bind(&user.id)
            .bind(&org.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((user.id, org))
}

/// `quire admin set-password`: gives a user (the first-start admin has none) a
/// password, so they can log in (`POST /auth/login`, the dashboard). A new password
/// narrows nothing a principal may do, so no cache needs emptying.
pub async fn admin_set_password(
    db: &Db,
    settings: &Settings,
    email: &str,
    password: String,
) -> anyhow::Result<crate::users::repo::UserRow> {
    let email = parse_email("email", email).map_err(|e| anyhow::anyhow!("{e}"))?;
    password::validate_new_password("password", &password, settings.password_min_length)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut user = crate::users::repo::find_user_by_email(&db.pool, &email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user has the email {email}"))?;
    user.password_hash = Some(password::hash_password(password).await?);
    user.updated_at = crate::time::now_ms();
    crate::users::repo::update_user(&db.pool, &user.org_id.clone(), &user).await?;
    Ok(user)
}

/// `quire admin create-api-key`. Returns the key (the only copy) and its organisation.
pub async fn admin_create_api_key(
    db: &Db,
    org: Option<&str>,
    name: &str,
    role: Role,
) -> anyhow::Result<(String, OrganisationRow)> {
    let org = resolve_organisation(db, org).await?;
    let name = parse_name("name", name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = generate_api_key();
    crate::api_keys::repo::insert_api_key(
        &db.pool,
        &org.id,
        NewApiKey {
            name: &name,
            role,
            created_by: None,
            expires_at: None,
            prefix: &key.prefix,
            secret_hash: &key.secret_hash,
        },
    )
    .await
    .context("could not store the API key")?;
    Ok((key.plaintext, org))
}
