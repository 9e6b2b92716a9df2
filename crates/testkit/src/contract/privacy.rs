//! "Nothing personal leaves the process": the check every step's privacy contract uses. A
//! test user's name, email address and id are looked for in everything a span carries: its
//! name, its attributes, its events (names and attributes) and its status message. The id
//! is allowed only where the semantic conventions put it: `url.path` and
//! `messaging.kafka.message.key`. From step 5, log records are audited the same way: their
//! body, their attributes and their event name.

use crate::otlp::{LogRecord, Span};

/// Attributes that may carry the user id, because the conventions say so.
const ID_ALLOWED_IN: [&str; 2] = ["url.path", "messaging.kafka.message.key"];

/// The personal data of one test user.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    pub name: &'a str,
    pub email: &'a str,
    /// Make it distinctive (see [`crate::TestDatabase::start_user_ids_at`]): a short id such
    /// as `1` matches too much to be looked for.
    pub id: i64,
}

impl Person<'_> {
    /// What in `text` is personal, if anything: the email (or its local part), a word of the
    /// name, or (unless `id_allowed`) the id as a word of its own.
    fn found_in(&self, text: &str, id_allowed: bool) -> Option<&'static str> {
        let lower = text.to_lowercase();
        let local_part = self.email.split('@').next().unwrap_or(self.email);
        if lower.contains(&self.email.to_lowercase()) || lower.contains(&local_part.to_lowercase())
        {
            return Some("the email address");
        }
        let name_words = self.name.split_whitespace().filter(|word| word.len() >= 3);
        if name_words
            .map(str::to_lowercase)
            .any(|word| lower.contains(&word))
        {
            return Some("the name");
        }
        let id = self.id.to_string();
        if !id_allowed
            && text
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| word == id)
        {
            return Some("the user id");
        }
        None
    }
}

/// Panics, naming the span and the place, if any span carries `person`'s data.
#[track_caller]
pub fn assert_nothing_personal(spans: &[Span], person: &Person<'_>) {
    let mut leaks = Vec::new();
    let mut check = |span: &Span, place: String, text: &str, id_allowed: bool| {
        if let Some(what) = person.found_in(text, id_allowed) {
            leaks.push(format!(
                "{what} in {place} of span {:?}: {text:?}",
                span.name
            ));
        }
    };
    for span in spans {
        check(span, "the name".into(), &span.name, false);
        check(
            span,
            "the status message".into(),
            &span.status.message,
            false,
        );
        for (key, value) in span.attributes.iter() {
            let id_allowed = ID_ALLOWED_IN.contains(&key.as_str());
            check(
                span,
                format!("attribute {key}"),
                &value.to_string(),
                id_allowed,
            );
        }
        for event in &span.events {
            check(span, "an event name".into(), &event.name, false);
            for (key, value) in event.attributes.iter() {
                let place = format!("attribute {key} of event {:?}", event.name);
                check(span, place, &value.to_string(), false);
            }
        }
    }
    let events: usize = spans.iter().map(|span| span.events.len()).sum();
    let attributes: usize = spans
        .iter()
        .map(|span| {
            span.attributes.len()
                + span
                    .events
                    .iter()
                    .map(|e| e.attributes.len())
                    .sum::<usize>()
        })
        .sum();
    println!(
        "privacy: looked at {} spans, {events} span events, {attributes} attributes and every status message for {:?}, {:?} and id {}",
        spans.len(),
        person.name,
        person.email,
        person.id
    );
    assert!(
        leaks.is_empty(),
        "personal data leaves the process ({} spans looked at):\n  {}",
        spans.len(),
        leaks.join("\n  ")
    );
}

/// Panics, naming the record and the place, if any log record carries `person`'s data
/// (in its body, event name or attributes; the id nowhere). Returns how many records it
/// looked at.
#[track_caller]
pub fn assert_no_personal_records(records: &[LogRecord], person: &Person<'_>) -> usize {
    let mut leaks = Vec::new();
    for record in records {
        let body = record
            .body
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut places = vec![("the body".to_owned(), body.clone())];
        places.push(("the event name".to_owned(), record.event_name.clone()));
        for (key, value) in record.attributes.iter() {
            places.push((format!("attribute {key}"), value.to_string()));
        }
        for (place, text) in places {
            if let Some(what) = person.found_in(&text, false) {
                leaks.push(format!(
                    "{what} in {place} of the record {body:?}: {text:?}"
                ));
            }
        }
    }
    let attributes: usize = records.iter().map(|r| r.attributes.len()).sum();
    println!(
        "privacy: looked at {} log records and their {attributes} attributes for {:?}, {:?} and id {}",
        records.len(),
        person.name,
        person.email,
        person.id
    );
    assert!(
        leaks.is_empty(),
        "personal data leaves the process in log records ({} looked at):\n  {}",
        records.len(),
        leaks.join("\n  ")
    );
    records.len()
}

#[cfg(test)]
mod tests {
    use super::Person;

    const ADA: Person<'static> = Person {
        name: "Ada Lovelace",
        email: "ada.lovelace@example.com",
        id: 48_213_977,
    };

    #[test]
    fn finds_each_kind_of_personal_data() {
        assert_eq!(
            ADA.found_in("Welcome, Ada Lovelace!", false),
            Some("the name")
        );
        assert_eq!(
            ADA.found_in("to=ADA.LOVELACE@example.com", false),
            Some("the email address")
        );
        assert_eq!(ADA.found_in("user:48213977", false), Some("the user id"));
        assert_eq!(ADA.found_in("/users/48213977", false), Some("the user id"));
        assert_eq!(ADA.found_in("/users/48213977", true), None);
    }

    #[test]
    fn ignores_what_only_looks_alike() {
        assert_eq!(ADA.found_in("GET /users/{id}", false), None);
        assert_eq!(ADA.found_in("482139770", false), None);
        assert_eq!(
            ADA.found_in("4bf92f3577b34da6a3ce929d0e0e4736", false),
            None
        );
        assert_eq!(ADA.found_in("a", false), None);
    }
}
