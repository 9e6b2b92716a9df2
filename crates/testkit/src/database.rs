//! A fresh Postgres database per test, dropped when the test ends.

use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgPool};

use crate::services;

pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// Picks a unique name. The database itself is created by the service under test
    /// (creating its database when missing is part of the contract).
    pub async fn new() -> Self {
        let admin_url = services::postgres_admin_url();
        services::require("Postgres", &admin_url).await;
        let name = crate::unique_name("test");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        Self {
            url: format!("{base}/{name}"),
            name,
            admin_url,
        }
    }

    /// What to put in `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A small pool on the test database, to look at what the service wrote.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to test database {}: {err}", self.name))
    }

    /// New users get ids from `first` on (after the service created its tables). A random
    /// eight-digit id can be looked for in exported telemetry; `1` cannot.
    pub async fn start_user_ids_at(&self, first: i64) {
        let pool = self.pool().await;
        let sql = AssertSqlSafe(format!(
            "ALTER TABLE users ALTER COLUMN id RESTART WITH {first}"
        ));
        sqlx::query(sql)
            .execute(&pool)
            .await
            .unwrap_or_else(|err| panic!("cannot restart the user ids at {first}: {err}"));
        pool.close().await;
    }

    /// `SELECT count(*)` of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let pool = self.pool().await;
        // Test code naming its own tables: safe to format into the SQL.
        let sql = AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
        let count: i64 = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|err| panic!("cannot count {table}: {err}"));
        pool.close().await;
        count
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
        crate::block_on_cleanup(&format!("test database {}", self.name), async move {
            let mut admin = PgConnection::connect(&admin_url).await?;
            sqlx::query(sql).execute(&mut admin).await?;
            Ok(())
        });
    }
}
