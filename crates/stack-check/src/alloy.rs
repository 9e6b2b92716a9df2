//! A small parser of Grafana Alloy's configuration language: enough to tell that a file
//! parses, to find the components and their arguments, and to follow references.
//!
//! Grammar (a subset of Alloy's syntax that covers component configs):
//!
//! ```text
//! body      = { statement NEWLINE }
//! statement = IDENT { "." IDENT } [ STRING ] "{" body "}"      (block, optional label)
//!           | IDENT "=" expr                                   (attribute)
//! expr      = unary { binop unary }
//! unary     = [ "!" | "-" ] postfix
//! postfix   = primary { "." IDENT | "[" expr "]" | "(" [ expr { "," expr } [","] ] ")" }
//! primary   = STRING | NUMBER | IDENT | "[" list "]" | "{" object "}" | "(" expr ")"
//! ```
//!
//! Comments are `//` and `/* */`; strings are `"…"` with escapes, or raw `` `…` ``. Newlines end
//! statements, except inside brackets.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Punct(&'static str),
    Newline,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    line: usize,
}

const PUNCTS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "{", "}", "[", "]", "(", ")", ",", "=", ".", "+", "-", "*",
    "/", "%", "^", "<", ">", "!",
];

fn lex(src: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                out.push(Token {
                    tok: Tok::Newline,
                    line,
                });
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let start = line;
                i += 2;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("line {start}: unterminated /* comment")),
                        Some('*') if chars.get(i + 1) == Some(&'/') => {
                            i += 2;
                            break;
                        }
                        Some(ch) => {
                            if *ch == '\n' {
                                line += 1;
                            }
                            i += 1;
                        }
                    }
                }
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None | Some('\n') => {
                            return Err(format!("line {line}: unterminated string"));
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let esc = chars
                                .get(i + 1)
                                .ok_or(format!("line {line}: unterminated string"))?;
                            s.push(match esc {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '"' | '\\' => *esc,
                                other => {
                                    return Err(format!("line {line}: unknown escape \\{other}"));
                                }
                            });
                            i += 2;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    line,
                });
            }
            '`' => {
                let start = line;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("line {start}: unterminated raw string")),
                        Some('`') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            if *ch == '\n' {
                                line += 1;
                            }
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    line: start,
                });
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Num(chars[start..i].iter().collect()),
                    line,
                });
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Ident(chars[start..i].iter().collect()),
                    line,
                });
            }
            _ => {
                let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let p = PUNCTS
                    .iter()
                    .find(|p| rest.starts_with(**p))
                    .ok_or_else(|| format!("line {line}: unexpected character {c:?}"))?;
                out.push(Token {
                    tok: Tok::Punct(p),
                    line,
                });
                i += p.len();
            }
        }
    }
    Ok(out)
}

/// An expression; only what the checks look at is kept in detail.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Str(String),
    Num(String),
    /// A dotted name: `true`, `otelcol.exporter.otlp.tempo.input`, `sys.env`.
    Path(Vec<String>),
    Array(Vec<Expr>),
    Object(Vec<(String, Expr)>),
    /// Anything computed: a call, an index, an operator.
    Other(Vec<Expr>),
}

/// A statement of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Attr {
        name: String,
        value: Expr,
        line: usize,
    },
    Block(Block),
}

/// A block such as `otelcol.exporter.otlp "tempo" { … }` or `client { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub name: String,
    pub label: Option<String>,
    pub body: Vec<Stmt>,
    pub line: usize,
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.line)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.tok.clone());
        self.pos += 1;
        t
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        let found = match self.peek() {
            None => "end of file".to_owned(),
            Some(Tok::Newline) => "end of line".to_owned(),
            Some(Tok::Ident(s)) => format!("{s:?}"),
            Some(Tok::Str(s)) => format!("string {s:?}"),
            Some(Tok::Num(s)) => s.clone(),
            Some(Tok::Punct(p)) => format!("{p:?}"),
        };
        Err(format!(
            "line {}: expected {what}, found {found}",
            self.line()
        ))
    }
    fn eat(&mut self, p: &str) -> bool {
        let found = matches!(self.peek(), Some(Tok::Punct(x)) if *x == p);
        if found {
            self.pos += 1;
        }
        found
    }
    fn expect(&mut self, p: &str) -> Result<(), String> {
        if self.eat(p) {
            Ok(())
        } else {
            self.err(&format!("{p:?}"))
        }
    }
    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Tok::Newline) {
            self.pos += 1;
        }
    }

    fn body(&mut self, top: bool) -> Result<Vec<Stmt>, String> {
        let mut stmts = Vec::new();
        loop {
            self.skip_newlines();
            match self.peek() {
                None if top => return Ok(stmts),
                None => return self.err("\"}\""),
                Some(Tok::Punct("}")) if !top => return Ok(stmts),
                _ => {}
            }
            stmts.push(self.statement()?);
            match self.peek() {
                None | Some(Tok::Newline) => {}
                Some(Tok::Punct("}")) if !top => {}
                _ => return self.err("a new line after the statement"),
            }
        }
    }

    fn statement(&mut self) -> Result<Stmt, String> {
        let line = self.line();
        let mut name = match self.next() {
            Some(Tok::Ident(s)) => s,
            _ => {
                self.pos -= 1;
                return self.err("an attribute or block name");
            }
        };
        let mut dotted = false;
        while self.eat(".") {
            dotted = true;
            match self.next() {
                Some(Tok::Ident(s)) => {
                    name.push('.');
                    name.push_str(&s);
                }
                _ => {
                    self.pos -= 1;
                    return self.err("a name after \".\"");
                }
            }
        }
        if self.eat("=") {
            if dotted {
                return Err(format!(
                    "line {line}: attribute name {name:?} cannot contain dots"
                ));
            }
            let value = self.expr()?;
            return Ok(Stmt::Attr { name, value, line });
        }
        let label = match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Some(s)
            }
            _ => None,
        };
        self.expect("{")?;
        let body = self.body(false)?;
        self.expect("}")?;
        Ok(Stmt::Block(Block {
            name,
            label,
            body,
            line,
        }))
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let first = self.unary()?;
        let mut parts = vec![first];
        while let Some(Tok::Punct(p)) = self.peek() {
            if ![
                "==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "^", "<", ">",
            ]
            .contains(p)
            {
                break;
            }
            self.pos += 1;
            self.skip_newlines();
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::Other(vec![]))
        } else {
            Expr::Other(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") || self.eat("-") {
            return Ok(Expr::Other(vec![self.unary()?]));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        loop {
            if self.eat(".") {
                match (self.next(), &mut e) {
                    (Some(Tok::Ident(s)), Expr::Path(p)) => p.push(s),
                    (Some(Tok::Ident(_)), _) => e = Expr::Other(vec![e]),
                    _ => {
                        self.pos -= 1;
                        return self.err("a name after \".\"");
                    }
                }
            } else if self.eat("[") {
                self.skip_newlines();
                let idx = self.expr()?;
                self.skip_newlines();
                self.expect("]")?;
                e = Expr::Other(vec![e, idx]);
            } else if self.eat("(") {
                let args = self.list(")")?;
                e = Expr::Other(std::iter::once(e).chain(args).collect());
            } else {
                return Ok(e);
            }
        }
    }

    /// Comma-separated expressions up to `close` (consumed); newlines allowed.
    fn list(&mut self, close: &str) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.expr()?);
            self.skip_newlines();
            if !self.eat(",") {
                self.skip_newlines();
                self.expect(close)?;
                return Ok(items);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::Num(n)) => Ok(Expr::Num(n)),
            Some(Tok::Ident(s)) => Ok(Expr::Path(vec![s])),
            Some(Tok::Punct("[")) => Ok(Expr::Array(self.list("]")?)),
            Some(Tok::Punct("(")) => {
                self.skip_newlines();
                let e = self.expr()?;
                self.skip_newlines();
                self.expect(")")?;
                Ok(e)
            }
            Some(Tok::Punct("{")) => {
                let mut fields = Vec::new();
                loop {
                    self.skip_newlines();
                    if self.eat("}") {
                        return Ok(Expr::Object(fields));
                    }
                    let key = match self.next() {
                        Some(Tok::Ident(s) | Tok::Str(s)) => s,
                        _ => {
                            self.pos -= 1;
                            return self.err("an object key");
                        }
                    };
                    self.expect("=")?;
                    self.skip_newlines();
                    fields.push((key, self.expr()?));
                    self.skip_newlines();
                    if !self.eat(",") {
                        self.skip_newlines();
                        self.expect("}")?;
                        return Ok(Expr::Object(fields));
                    }
                }
            }
            _ => {
                self.pos -= 1;
                self.err("a value")
            }
        }
    }
}

/// Parses an Alloy file into its top-level statements.
pub fn parse(src: &str) -> Result<Vec<Stmt>, String> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    p.body(true)
}

/// A string attribute somewhere in a component, e.g. `client.endpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringAttr {
    /// `otelcol.exporter.otlp "tempo"`
    pub component: String,
    /// `client.endpoint`
    pub path: String,
    pub value: String,
}

fn component_id(b: &Block) -> String {
    match &b.label {
        Some(l) => format!("{} {l:?}", b.name),
        None => b.name.clone(),
    }
}

/// Every string-valued attribute named one of `names` (e.g. `endpoint`, `url`), with where it is.
pub fn string_attrs(stmts: &[Stmt], names: &[&str]) -> Vec<StringAttr> {
    fn walk(
        stmts: &[Stmt],
        component: &str,
        prefix: &str,
        names: &[&str],
        out: &mut Vec<StringAttr>,
    ) {
        for s in stmts {
            match s {
                Stmt::Attr {
                    name,
                    value: Expr::Str(v),
                    ..
                } if names.contains(&name.as_str()) => out.push(StringAttr {
                    component: component.to_owned(),
                    path: format!("{prefix}{name}"),
                    value: v.clone(),
                }),
                Stmt::Attr { .. } => {}
                Stmt::Block(b) => walk(
                    &b.body,
                    component,
                    &format!("{prefix}{}.", b.name),
                    names,
                    out,
                ),
            }
        }
    }
    let mut out = Vec::new();
    for s in stmts {
        if let Stmt::Block(b) = s {
            walk(&b.body, &component_id(b), "", names, &mut out);
        }
    }
    out
}

/// Receivers (`otelcol.receiver.*`) bind 0.0.0.0; every other `endpoint`/`url` points at a
/// compose service and a port it listens on. Returns the problems and the hosts exported to.
pub fn check_endpoints(
    stmts: &[Stmt],
    listeners: &std::collections::BTreeMap<String, BTreeSet<u16>>,
) -> (Vec<String>, BTreeSet<String>) {
    let mut problems = Vec::new();
    let mut hosts = BTreeSet::new();
    for a in string_attrs(stmts, &["endpoint", "url"]) {
        let what = format!("config.alloy {} {}", a.component, a.path);
        if a.component.starts_with("otelcol.receiver.") {
            if !a.value.starts_with("0.0.0.0:") {
                problems.push(format!("{what}: {:?} must be 0.0.0.0:PORT", a.value));
            }
            continue;
        }
        hosts.extend(crate::endpoints::host_port(&a.value).map(|(h, _)| h));
        problems.extend(crate::endpoints::check(&what, &a.value, listeners));
    }
    (problems, hosts)
}

/// References to other components' exports (`otelcol.exporter.otlp.tempo.input`,
/// `prometheus.remote_write.mimir.receiver`) must name a component defined in the file: the
/// name is all parts but the last two, the label the second to last.
pub fn check_references(stmts: &[Stmt]) -> Vec<String> {
    let defined: BTreeSet<(String, String)> = stmts
        .iter()
        .filter_map(|s| match s {
            Stmt::Block(Block {
                name,
                label: Some(l),
                ..
            }) => Some((name.clone(), l.clone())),
            _ => None,
        })
        .collect();
    fn paths(e: &Expr, out: &mut Vec<Vec<String>>) {
        match e {
            Expr::Path(p) => out.push(p.clone()),
            Expr::Array(items) | Expr::Other(items) => items.iter().for_each(|i| paths(i, out)),
            Expr::Object(fields) => fields.iter().for_each(|(_, v)| paths(v, out)),
            Expr::Str(_) | Expr::Num(_) => {}
        }
    }
    fn walk(
        stmts: &[Stmt],
        owner: &str,
        defined: &BTreeSet<(String, String)>,
        problems: &mut Vec<String>,
    ) {
        for s in stmts {
            match s {
                Stmt::Attr { name, value, line } => {
                    let mut found = Vec::new();
                    paths(value, &mut found);
                    for p in found.into_iter().filter(|p| p.len() >= 4) {
                        let key = (p[..p.len() - 2].join("."), p[p.len() - 2].clone());
                        if !defined.contains(&key) {
                            problems.push(format!(
                                "line {line}: {owner}: {name} refers to {}, but there is no component {} {:?}",
                                p.join("."),
                                key.0,
                                key.1
                            ));
                        }
                    }
                }
                Stmt::Block(b) => walk(&b.body, owner, defined, problems),
            }
        }
    }
    let mut problems = Vec::new();
    for s in stmts {
        if let Stmt::Block(b) = s {
            walk(&b.body, &component_id(b), &defined, &mut problems);
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
// comment
otelcol.receiver.otlp "default" {
  http {
    endpoint = "0.0.0.0:4318" /* inline */
  }
  output {
    traces = [otelcol.exporter.otlp.tempo.input,]
  }
}

otelcol.exporter.otlp "tempo" {
  client {
    endpoint = "tempo:4317"
    headers  = { "X-Scope-OrgID" = sys.env("TENANT"), other = `raw` }
    tls {
      insecure = true
    }
  }
  retry_on_failure {
    max_elapsed_time = -1 + 2 * (3 - 1)
  }
}

logging {
  level = "info"
}
"#;

    #[test]
    fn parses_blocks_attributes_and_expressions() {
        let stmts = parse(CONFIG).unwrap();
        assert_eq!(stmts.len(), 3);
        let Stmt::Block(b) = &stmts[1] else { panic!() };
        assert_eq!(
            (b.name.as_str(), b.label.as_deref()),
            ("otelcol.exporter.otlp", Some("tempo"))
        );
        let attrs = string_attrs(&stmts, &["endpoint"]);
        assert_eq!(
            attrs,
            [
                StringAttr {
                    component: "otelcol.receiver.otlp \"default\"".into(),
                    path: "http.endpoint".into(),
                    value: "0.0.0.0:4318".into()
                },
                StringAttr {
                    component: "otelcol.exporter.otlp \"tempo\"".into(),
                    path: "client.endpoint".into(),
                    value: "tempo:4317".into()
                },
            ]
        );
        assert!(check_references(&stmts).is_empty());
    }

    #[test]
    fn syntax_errors_fail() {
        for (src, want) in [
            ("a \"x\" {\n  b = \n}\n", "expected a value"),
            ("a \"x\" {\n  b = \"y\"\n", "expected \"}\""),
            ("a {\n  b = \"unterminated\n}\n", "unterminated string"),
            ("a {\n  b.c = 1\n}\n", "cannot contain dots"),
            ("a {\n  b = 1 c = 2\n}\n", "new line"),
            ("a {\n  b = [1, 2\n}\n", "expected \"]\""),
            ("a { b = 1 } }", "new line"),
            ("}\n", "expected an attribute or block name"),
            ("a {\n  b = 1 @\n}\n", "unexpected character"),
            ("/* open\n", "unterminated /*"),
        ] {
            let err = parse(src).unwrap_err();
            assert!(err.contains(want), "{src:?}: {err}");
        }
    }

    #[test]
    fn wrong_endpoints_fail() {
        let listeners =
            std::collections::BTreeMap::from([("tempo".to_owned(), BTreeSet::from([4317]))]);
        let stmts = parse(CONFIG).unwrap();
        let (problems, hosts) = check_endpoints(&stmts, &listeners);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(hosts, BTreeSet::from(["tempo".to_owned()]));
        let bad = parse(
            &CONFIG
                .replace("0.0.0.0:4318", "127.0.0.1:4318")
                .replace("tempo:4317", "tempo:4418"),
        )
        .unwrap();
        assert_eq!(check_endpoints(&bad, &listeners).0.len(), 2);
    }

    #[test]
    fn dangling_reference_fails() {
        let stmts = parse(&CONFIG.replace("otlp.tempo.input", "otlphttp.tempo.input")).unwrap();
        let problems = check_references(&stmts);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("no component otelcol.exporter.otlphttp \"tempo\""));
    }
}
