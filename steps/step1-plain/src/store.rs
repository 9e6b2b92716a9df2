//! Postgres: users and the outbox, with sqlx. The database is created if it does not exist
//! and the embedded migrations (`migrations/`) run at start.

use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row};

use crate::breaker::Breaker;
use crate::config::redact_url;
use crate::user::{NewUser, User, UserCreated};

/// How long a request waits for a connection from the pool.
const POOL_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a query (or a transaction) may take, connection included: a query on a
/// connection whose peer has vanished would otherwise wait for TCP to give up.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long requests fail at once after the database failed.
const COOL_OFF: Duration = Duration::from_secs(1);

/// SQLSTATE of a unique-constraint violation.
const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATE of "database already exists" (two instances racing to create it).
const DUPLICATE_DATABASE: &str = "42P04";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a user with this email already exists")]
    DuplicateEmail,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("skipped: the database failed less than {0:?} ago")]
    Skipped(Duration),
}

impl StoreError {
    /// Whether the database could not be reached or could not answer now (the request may
    /// succeed later), as opposed to refusing the query (which would be a bug of ours).
    pub fn is_outage(&self) -> bool {
        match self {
            Self::DuplicateEmail => false,
            Self::Timeout(_) | Self::Skipped(_) => true,
            Self::Database(err) => match err {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::BeginFailed => true,
                // SQLSTATE classes 08 (connection), 53 (resources), 57P (shutting down).
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|code| ["08", "53", "57P"].iter().any(|c| code.starts_with(c))),
                _ => false,
            },
        }
    }
}

/// Start-up failures, worded for the person who just typed `cargo run`. The cause is part
/// of the message (not an error `source`), so that it is printed once.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot reach Postgres at {url}: {cause}\n  Start it with `make services` (or `make up` with Docker), or point DATABASE_URL at a running Postgres."
    )]
    Unreachable { url: String, cause: sqlx::Error },
    #[error("cannot migrate the database at {url}: {cause}")]
    Migration {
        url: String,
        cause: sqlx::migrate::MigrateError,
    },
}

const INSERT_USER: &str =
    "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id, name, email, created_at";
const INSERT_OUTBOX: &str =
    "INSERT INTO outbox (event_type, message_key, payload) VALUES ($1, $2, $3)";
const SELECT_USER: &str = "SELECT id, name, email, created_at FROM users WHERE id = $1";
const SELECT_LEGACY_ACCOUNT: &str = "SELECT name FROM legacy_accounts WHERE id = $1";

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    breaker: Arc<Breaker>,
}

impl Store {
    /// Connect, creating the database if needed, and run the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StartError> {
        let unreachable = |cause| StartError::Unreachable {
            url: redact_url(url),
            cause,
        };
        create_database_if_missing(url).await.map_err(unreachable)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(POOL_TIMEOUT)
            .connect(url)
            .await
            .map_err(unreachable)?;
        sqlx::migrate!()
            .run(&pool)
            .await
            .map_err(|cause| StartError::Migration {
                url: redact_url(url),
                cause,
            })?;
        Ok(Self {
            pool,
            breaker: Arc::new(Breaker::new(COOL_OFF, QUERY_TIMEOUT)),
        })
    }

    /// Insert the user and its `user.created` event in one transaction: either both exist
    /// or neither does.
    pub async fn create_user(&self, new_user: &NewUser) -> Result<User, StoreError> {
        self.guarded(self.insert_user(new_user)).await
    }

    pub async fn find_user(&self, id: i64) -> Result<Option<User>, StoreError> {
        self.guarded(self.select_user(id)).await
    }

    /// A query against a table that does not exist: the "viewing an error" demo.
    pub async fn find_legacy_account(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.guarded(self.select_legacy_account(id)).await
    }

    async fn insert_user(&self, new_user: &NewUser) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        let insert = sqlx::query_as(INSERT_USER)
            .bind(&new_user.name)
            .bind(&new_user.email)
            .fetch_one(&mut *tx);
        let user: User = insert.await.map_err(duplicate_email_or_outage)?;
        let payload = serde_json::to_string(&UserCreated::from(&user))
            .map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
        let insert = sqlx::query(INSERT_OUTBOX)
            .bind("user.created")
            .bind(user.id.to_string())
            .bind(payload)
            .execute(&mut *tx);
        insert.await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn select_user(&self, id: i64) -> Result<Option<User>, StoreError> {
        let select = sqlx::query_as(SELECT_USER)
            .bind(id)
            .fetch_optional(&self.pool);
        let user = select.await?;
        Ok(user)
    }

    /// A query against a table that does not exist: the "viewing an error" demo.
    async fn select_legacy_account(&self, id: i64) -> Result<Option<String>, StoreError> {
        let select = sqlx::query(SELECT_LEGACY_ACCOUNT)
            .bind(id)
            .fetch_optional(&self.pool);
        let row = select.await?;
        Ok(row.map(|row| row.get::<String, _>(0)))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let round_trip = async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        };
        self.guarded(round_trip).await
    }

    /// Runs `operation` within [`QUERY_TIMEOUT`], unless the database failed less than
    /// [`COOL_OFF`] ago: then it fails at once (a circuit breaker), so that an outage costs a
    /// request a 503 and not a wait for the pool's timeout every time.
    async fn guarded<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if !self.breaker.allows_call() {
            return Err(StoreError::Skipped(COOL_OFF));
        }
        let result = match tokio::time::timeout(QUERY_TIMEOUT, operation).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(QUERY_TIMEOUT)),
        };
        match &result {
            Err(err) if err.is_outage() => self.breaker.failed(),
            _ => self.breaker.succeeded(),
        }
        result
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A unique violation (on `users.email`) is the client's mistake, a 409; anything else means
/// the database could not do its job.
fn duplicate_email_or_outage(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            StoreError::DuplicateEmail
        }
        _ => StoreError::Database(err),
    }
}

async fn create_database_if_missing(url: &str) -> Result<(), sqlx::Error> {
    if Postgres::database_exists(url).await? {
        return Ok(());
    }
    match Postgres::create_database(url).await {
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(DUPLICATE_DATABASE) => {
            Ok(())
        }
        other => {
            if other.is_ok() {
                tracing::info!(url = %redact_url(url), "created database");
            }
            other
        }
    }
}
