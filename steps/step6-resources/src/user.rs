//! The domain: a user, the request that creates one, and its validation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

/// The body of `POST /users`. Both fields are required: serde rejects a missing one.
#[derive(Debug, Deserialize)]
pub struct CreateUser {
    pub name: String,
    pub email: String,
}

/// A request that passed validation: trimmed name, lower-cased email.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub email: String,
}

const MAX_NAME_CHARS: usize = 100;
const MAX_EMAIL_CHARS: usize = 254;

impl CreateUser {
    // ANCHOR: instrument
    /// `#[instrument]` wraps the function in a span. No `err` since step 5: it would export a
    /// log record, without a message, for every invalid body; the 422 is on the server span.
    #[tracing::instrument(name = "validate_user", skip_all)]
    pub fn validate(self) -> Result<NewUser, ApiError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(ApiError::Unprocessable("name must not be empty".into()));
        }
        // ANCHOR_END: instrument
        // Postgres refuses NUL, and no name has a control character: the client's mistake,
        // said as such, rather than a database error.
        if name.chars().any(char::is_control) {
            return Err(ApiError::Unprocessable(
                "name must not contain control characters".into(),
            ));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::Unprocessable(format!(
                "name must be at most {MAX_NAME_CHARS} characters"
            )));
        }
        let email = self.email.trim().to_lowercase();
        if email.chars().count() > MAX_EMAIL_CHARS || !looks_like_email(&email) {
            return Err(ApiError::Unprocessable(
                "email must be an address like ada@example.com".into(),
            ));
        }
        Ok(NewUser {
            name: name.to_owned(),
            email,
        })
    }
}

/// A deliberately simple check: one `@`, something before it, a dotted domain after it,
/// no spaces or control characters. Real verification is sending the welcome email.
fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty())
}

/// The event published on Kafka when a user is created (key: the user id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserCreated {
    pub id: i64,
    pub name: String,
    pub email: String,
}

impl From<&User> for UserCreated {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            name: user.name.clone(),
            email: user.email.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(name: &str, email: &str) -> Result<NewUser, ApiError> {
        CreateUser {
            name: name.into(),
            email: email.into(),
        }
        .validate()
    }

    #[test]
    fn accepts_and_normalises_a_valid_user() {
        let user = create("  Ada Lovelace ", " Ada@Example.COM").expect("valid");
        assert_eq!(user.name, "Ada Lovelace");
        assert_eq!(user.email, "ada@example.com");
    }

    #[test]
    fn rejects_invalid_names_and_emails() {
        for (name, email) in [
            ("", "a@example.com"),
            ("   ", "a@example.com"),
            (&"x".repeat(101), "a@example.com"),
            ("Ada", "not-an-email"),
            ("Ada", "@example.com"),
            ("Ada", "ada@localhost"),
            ("Ada", "ada@@example.com"),
            ("Ada", "ada lovelace@example.com"),
            ("Ada", "ada@example..com"),
            ("Ada\u{0}", "a@example.com"),
            ("Ada\u{1b}[31m", "a@example.com"),
            ("Ada", "ada\u{0}@example.com"),
        ] {
            assert!(
                matches!(create(name, email), Err(ApiError::Unprocessable(_))),
                "{name:?} {email:?} should be rejected"
            );
        }
    }
}
