//! The `docker/.env` file that `docker compose` reads: `KEY=value` lines and `#` comments.

use std::collections::BTreeMap;

/// Parses an env file the way compose does for the simple cases used here: `KEY=value`,
/// optional `export `, single or double quotes around the value, `#` comments on their own
/// line or after an unquoted value (preceded by a space). Malformed lines are errors.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=value, found {raw:?}", n + 1));
        };
        let key = key.trim();
        let valid_key = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return Err(format!("line {}: invalid variable name {key:?}", n + 1));
        }
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let rest = &value[1..];
                let end = rest
                    .find(q)
                    .ok_or_else(|| format!("line {}: unterminated {q} quote", n + 1))?;
                rest[..end].to_owned()
            }
            _ => match value.find(" #") {
                Some(i) => value[..i].trim_end().to_owned(),
                None => value.to_owned(),
            },
        };
        if vars.insert(key.to_owned(), value).is_some() {
            return Err(format!("line {}: {key} is set twice", n + 1));
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_quotes_and_comments() {
        let vars = parse("# c\nA=1\nexport B=\"two words\"\nC='x' \nD=v # note\nE=\n").unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "x");
        assert_eq!(vars["D"], "v");
        assert_eq!(vars["E"], "");
    }

    #[test]
    fn rejects_malformed_lines() {
        assert!(
            parse("JUST_A_NAME\n")
                .unwrap_err()
                .contains("expected KEY=value")
        );
        assert!(
            parse("1A=x\n")
                .unwrap_err()
                .contains("invalid variable name")
        );
        assert!(parse("A=\"open\n").unwrap_err().contains("unterminated"));
        assert!(parse("A=1\nA=2\n").unwrap_err().contains("set twice"));
    }
}
