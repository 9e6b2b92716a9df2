//! A small LogQL reader, so that the Loki queries of the dashboards, the datasource links and
//! the scripts can be checked against the names Loki really gives OTLP log records
//! (`docker/known-log-fields.txt`).
//!
//! A structural parser, not Loki's: it reads a log query (a stream selector `{…}` of label
//! matchers, then pipeline stages: line filters, label filters, parsers, `keep`/`drop`,
//! `line_format`/`label_format`, `unwrap`) or a metric query (aggregations with `by`/`without`,
//! range functions such as `rate`/`count_over_time` around a log query with a `[range]`,
//! binary operators, `vector`, `label_replace`). It records the stream labels, the field
//! names the pipeline filters on (structured metadata, or labels), the grouping labels and the
//! ranges. Grafana variables (`$service`, `${__tags}`, `$__auto`) are accepted where a value,
//! a whole matcher or a range goes.

use std::collections::BTreeSet;

/// One label matcher of a stream selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub name: String,
    pub op: String,
    pub value: String,
}

/// What a LogQL query reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogScan {
    /// Every stream selector: its matchers (Grafana variables standing for whole matchers,
    /// such as `${__tags}`, are counted in `variable_matchers`, not here).
    pub selectors: Vec<Vec<Matcher>>,
    /// Selectors' matchers that are Grafana variables (`{${__tags}}`).
    pub variable_matchers: usize,
    /// The names the pipeline filters on, keeps, drops, unwraps or copies (`label_format
    /// a=b` reads `b`): index labels or structured metadata, or fields a parser made.
    pub fields: Vec<String>,
    /// The labels of `by (…)`/`without (…)` lists.
    pub grouping: Vec<String>,
    /// Whether a grouping list is a `without`.
    pub without: bool,
    /// The text of every `[…]` range.
    pub ranges: Vec<String>,
    /// A metric query (a range function around a log query), not a log query.
    pub metric: bool,
    /// Labels the query makes: `label_format x=…`, named captures of `regexp`/`pattern`,
    /// `json`/`logfmt` parameters, `label_replace`'s destination.
    pub made: Vec<String>,
    /// A `json`, `logfmt` or `unpack` stage without parameters: it makes fields from the line,
    /// whose names cannot be known here.
    pub parses_line: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Var(String),
    Range(String),
    P(&'static str),
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Ident(s) | Tok::Num(s) | Tok::Var(s) => write!(f, "{s}"),
            Tok::Str(s) => write!(f, "{s:?}"),
            Tok::Range(s) => write!(f, "[{s}]"),
            Tok::P(p) => write!(f, "{p}"),
        }
    }
}

const TWO_CHAR: &[&str] = &["|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<="];
const ONE_CHAR: &[&str] = &[
    "|", "=", ">", "<", "{", "}", "(", ")", ",", "+", "-", "*", "/", "%", "^",
];

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn tokenize(expr: &str) -> Result<Vec<Tok>, String> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'`' {
            let mut s = Vec::new();
            let mut j = i + 1;
            loop {
                match b.get(j) {
                    None => return Err("unterminated string".to_owned()),
                    Some(&q) if q == c => break,
                    Some(b'\\') if c == b'"' => {
                        s.extend(b.get(j + 1));
                        j += 2;
                    }
                    Some(&x) => {
                        s.push(x);
                        j += 1;
                    }
                }
            }
            out.push(Tok::Str(String::from_utf8_lossy(&s).into_owned()));
            i = j + 1;
        } else if c == b'[' {
            let end = expr[i..].find(']').ok_or("unbalanced \"[\"")?;
            out.push(Tok::Range(expr[i + 1..i + end].trim().to_owned()));
            i += end + 1;
        } else if c == b'$' {
            let start = i;
            i += 1;
            if b.get(i) == Some(&b'{') {
                let end = expr[i..].find('}').ok_or("unterminated ${")?;
                i += end + 1;
            } else {
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
            }
            out.push(Tok::Var(expr[start..i].to_owned()));
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num(expr[start..i].to_owned()));
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            out.push(Tok::Ident(expr[start..i].to_owned()));
        } else if let Some(p) = TWO_CHAR.iter().find(|p| expr[i..].starts_with(**p)) {
            out.push(Tok::P(p));
            i += 2;
        } else if let Some(p) = ONE_CHAR.iter().find(|p| p.as_bytes()[0] == c) {
            out.push(Tok::P(p));
            i += 1;
        } else {
            let ch = expr[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected {ch:?}"));
        }
    }
    Ok(out)
}

/// Vector aggregations (`sum by (x) (…)`); `topk`/`bottomk` take a number first.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
    "approx_topk",
];

/// Range functions over a log query with a `[range]`; `quantile_over_time` takes a number first.
const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "rate_counter",
    "count_over_time",
    "bytes_rate",
    "bytes_over_time",
    "absent_over_time",
    "sum_over_time",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "first_over_time",
    "last_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
];

const BINARY: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "==", "!=", ">", ">=", "<", "<=",
];

const LINE_FILTERS: &[&str] = &["|=", "!=", "|~", "!~", "|>", "!>"];

const LABEL_FILTER_OPS: &[&str] = &["=", "!=", "=~", "!~", ">", ">=", "<", "<=", "=="];

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    out: LogScan,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_p(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::P(x)) if *x == p)
    }

    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x == word)
    }

    fn found(&self) -> String {
        self.peek().map_or("the end".to_owned(), |t| format!("{t}"))
    }

    fn expect_p(&mut self, p: &str, context: &str) -> Result<(), String> {
        if self.is_p(p) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {p:?} {context}, found {}", self.found()))
        }
    }

    fn ident(&mut self, context: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Ident(s)) => Ok(s),
            other => Err(format!(
                "expected a name {context}, found {}",
                other.map_or("the end".to_owned(), |t| format!("{t}"))
            )),
        }
    }

    /// `by (a, b)` / `without (a)`, if there.
    fn grouping(&mut self) -> Result<(), String> {
        if !(self.is_ident("by") || self.is_ident("without")) {
            return Ok(());
        }
        self.out.without |= self.is_ident("without");
        self.pos += 1;
        self.expect_p("(", "after by/without")?;
        while !self.is_p(")") {
            let l = self.ident("in a by/without list")?;
            self.out.grouping.push(l);
            if !self.is_p(")") {
                self.expect_p(",", "between grouping labels")?;
            }
        }
        self.pos += 1;
        Ok(())
    }

    fn query(&mut self) -> Result<(), String> {
        if self.is_p("{") {
            self.log_expr()?;
            if let Some(Tok::Range(r)) = self.peek() {
                return Err(format!(
                    "a range [{r}] needs a range function around the query (count_over_time, rate, …)"
                ));
            }
        } else {
            self.expr()?;
            if !self.out.metric {
                return Err("no stream selector {…}".to_owned());
            }
        }
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {t} after the query")),
        }
    }

    fn expr(&mut self) -> Result<(), String> {
        self.term()?;
        loop {
            let binary = match self.peek() {
                Some(Tok::P(p)) => BINARY.contains(p),
                Some(Tok::Ident(w)) => matches!(w.as_str(), "and" | "or" | "unless"),
                _ => false,
            };
            if !binary {
                return Ok(());
            }
            self.pos += 1;
            if self.is_ident("bool") {
                self.pos += 1;
            }
            if self.is_ident("on") || self.is_ident("ignoring") {
                self.pos += 1;
                self.label_list()?;
            }
            if self.is_ident("group_left") || self.is_ident("group_right") {
                self.pos += 1;
                if self.is_p("(") {
                    self.label_list()?;
                }
            }
            self.term()?;
        }
    }

    fn label_list(&mut self) -> Result<(), String> {
        self.expect_p("(", "before a label list")?;
        while !self.is_p(")") {
            let l = self.ident("in a label list")?;
            self.out.grouping.push(l);
            if !self.is_p(")") {
                self.expect_p(",", "between labels")?;
            }
        }
        self.pos += 1;
        Ok(())
    }

    fn term(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Tok::P("(")) => {
                self.expr()?;
                self.expect_p(")", "to close \"(\"")
            }
            Some(Tok::P("-" | "+")) => self.term(),
            Some(Tok::Num(_)) => Ok(()),
            Some(Tok::P("{")) => Err(
                "a log query {…} inside a metric query needs a range function and a range: rate({…} [$__auto])"
                    .to_owned(),
            ),
            Some(Tok::Ident(f)) if AGGREGATIONS.contains(&f.as_str()) => {
                self.grouping()?;
                self.expect_p("(", &format!("after {f}"))?;
                if matches!(f.as_str(), "topk" | "bottomk" | "approx_topk") {
                    self.scalar(&f)?;
                }
                self.expr()?;
                self.expect_p(")", &format!("to close {f}("))?;
                self.grouping()
            }
            Some(Tok::Ident(f)) if RANGE_FUNCTIONS.contains(&f.as_str()) => {
                self.expect_p("(", &format!("after {f}"))?;
                if f == "quantile_over_time" {
                    self.scalar(&f)?;
                }
                self.log_range(&f)?;
                self.expect_p(")", &format!("to close {f}("))?;
                self.out.metric = true;
                self.grouping()
            }
            Some(Tok::Ident(f)) if f == "vector" => {
                self.expect_p("(", "after vector")?;
                self.scalar("vector")?;
                self.expect_p(")", "to close vector(")
            }
            Some(Tok::Ident(f)) if f == "label_replace" => {
                self.expect_p("(", "after label_replace")?;
                self.expr()?;
                let mut args = Vec::new();
                for _ in 0..4 {
                    self.expect_p(",", "between label_replace's arguments")?;
                    match self.next() {
                        Some(Tok::Str(s)) => args.push(s),
                        _ => return Err("label_replace takes four strings".to_owned()),
                    }
                }
                self.out.made.push(args[0].clone());
                self.expect_p(")", "to close label_replace(")
            }
            Some(Tok::Ident(f)) => Err(format!(
                "unknown function or keyword {f:?} (known: {}, {}, vector, label_replace)",
                AGGREGATIONS.join(", "),
                RANGE_FUNCTIONS.join(", ")
            )),
            Some(t) => Err(format!("unexpected {t}")),
            None => Err("unexpected end of the query".to_owned()),
        }
    }

    /// A number argument (`topk(5, …)`, `quantile_over_time(0.95, …)`, `vector(0)`).
    fn scalar(&mut self, f: &str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Num(_) | Tok::Var(_)) => {}
            _ => return Err(format!("{f} takes a number first")),
        }
        if f != "vector" {
            self.expect_p(",", &format!("after {f}'s number"))?;
        }
        Ok(())
    }

    /// A log query with its range, inside a range function: `{…} | … [range]` (or the
    /// range before the pipeline), then `offset d` if there.
    fn log_range(&mut self, f: &str) -> Result<(), String> {
        if !self.is_p("{") {
            return Err(format!("{f}( takes a log query {{…}} with a range"));
        }
        self.log_expr()?;
        match self.next() {
            Some(Tok::Range(r)) => self.out.ranges.push(r),
            _ => {
                return Err(format!(
                    "{f}(…) needs a range after its log query: {f}({{…}} [$__auto])"
                ));
            }
        }
        self.pipeline()?;
        if self.is_ident("offset") {
            self.pos += 1;
            match self.next() {
                Some(Tok::Num(_) | Tok::Var(_)) => {}
                _ => return Err("offset takes a duration".to_owned()),
            }
        }
        Ok(())
    }

    fn log_expr(&mut self) -> Result<(), String> {
        self.expect_p("{", "to open a stream selector")?;
        let mut matchers = Vec::new();
        let mut variables = 0;
        while !self.is_p("}") {
            match self.next() {
                Some(Tok::Var(_)) => variables += 1,
                Some(Tok::Ident(name)) => {
                    let op = match self.next() {
                        Some(Tok::P(p @ ("=" | "!=" | "=~" | "!~"))) => p.to_owned(),
                        other => {
                            return Err(format!(
                                "matcher {name:?}: expected =, !=, =~ or !~, found {}",
                                other.map_or("the end".to_owned(), |t| format!("{t}"))
                            ));
                        }
                    };
                    let value = match self.next() {
                        Some(Tok::Str(s)) => s,
                        other => {
                            return Err(format!(
                                "matcher {name}{op}: expected a quoted value, found {}",
                                other.map_or("the end".to_owned(), |t| format!("{t}"))
                            ));
                        }
                    };
                    matchers.push(Matcher { name, op, value });
                }
                Some(t) => return Err(format!("unexpected {t} in a stream selector")),
                None => return Err("unbalanced \"{\"".to_owned()),
            }
            if self.peek().is_none() {
                return Err("unbalanced \"{\"".to_owned());
            }
            if !self.is_p("}") {
                self.expect_p(",", "between matchers")?;
            }
        }
        self.pos += 1;
        if matchers.is_empty() && variables == 0 {
            return Err("empty stream selector {}".to_owned());
        }
        self.out.selectors.push(matchers);
        self.out.variable_matchers += variables;
        self.pipeline()
    }

    fn pipeline(&mut self) -> Result<(), String> {
        loop {
            match self.peek() {
                Some(Tok::P(p)) if LINE_FILTERS.contains(p) => {
                    self.pos += 1;
                    self.line_filter_value()?;
                    while self.is_ident("or") {
                        self.pos += 1;
                        self.line_filter_value()?;
                    }
                }
                Some(Tok::P("|")) => {
                    self.pos += 1;
                    self.stage()?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn line_filter_value(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Tok::Str(_) | Tok::Var(_)) => Ok(()),
            Some(Tok::Ident(f)) if f == "ip" => {
                self.expect_p("(", "after ip")?;
                match self.next() {
                    Some(Tok::Str(_)) => self.expect_p(")", "to close ip("),
                    _ => Err("ip( takes a string".to_owned()),
                }
            }
            other => Err(format!(
                "a line filter takes a quoted string, found {}",
                other.map_or("the end".to_owned(), |t| format!("{t}"))
            )),
        }
    }

    fn stage(&mut self) -> Result<(), String> {
        let word = match self.peek() {
            Some(Tok::Ident(w)) => w.clone(),
            Some(Tok::P("(")) => return self.label_filters(),
            _ => {
                return Err(format!(
                    "expected a pipeline stage after \"|\", found {}",
                    self.found()
                ));
            }
        };
        // A name followed by a comparison is a label filter, whatever the name.
        if matches!(self.peek_at(1), Some(Tok::P(p)) if LABEL_FILTER_OPS.contains(p)) {
            return self.label_filters();
        }
        self.pos += 1;
        match word.as_str() {
            "json" | "logfmt" => {
                while self.is_p("-") {
                    // logfmt --strict --keep-empty
                    self.pos += 1;
                    self.expect_p("-", "in a logfmt flag")?;
                    self.ident("after --")?;
                    if self.is_p("-") {
                        self.pos += 1;
                        self.ident("in a logfmt flag")?;
                    }
                }
                let mut params = false;
                while let (Some(Tok::Ident(name)), Some(Tok::P("="))) =
                    (self.peek().cloned(), self.peek_at(1))
                {
                    self.pos += 2;
                    match self.next() {
                        Some(Tok::Str(_)) => {}
                        _ => return Err(format!("{word} {name}=: expected a quoted expression")),
                    }
                    self.out.made.push(name);
                    params = true;
                    if self.is_p(",") {
                        self.pos += 1;
                    }
                }
                self.out.parses_line |= !params;
                Ok(())
            }
            "unpack" => {
                self.out.parses_line = true;
                Ok(())
            }
            "regexp" | "pattern" => match self.next() {
                Some(Tok::Str(s)) => {
                    self.out.made.extend(capture_names(&word, &s));
                    Ok(())
                }
                _ => Err(format!("{word} takes a quoted expression")),
            },
            "line_format" => match self.next() {
                Some(Tok::Str(_)) => Ok(()),
                _ => Err("line_format takes a quoted template".to_owned()),
            },
            "decolorize" => Ok(()),
            "label_format" => loop {
                let name = self.ident("in label_format")?;
                self.expect_p("=", "in label_format")?;
                match self.next() {
                    Some(Tok::Str(_)) => {}
                    Some(Tok::Ident(src)) => self.out.fields.push(src),
                    _ => {
                        return Err(format!(
                            "label_format {name}=: expected a name or a template"
                        ));
                    }
                }
                self.out.made.push(name);
                if !self.is_p(",") {
                    return Ok(());
                }
                self.pos += 1;
            },
            "keep" | "drop" => loop {
                let name = self.ident(&format!("in {word}"))?;
                self.out.fields.push(name);
                if matches!(self.peek(), Some(Tok::P(p)) if ["=", "!=", "=~", "!~"].contains(p)) {
                    self.pos += 1;
                    match self.next() {
                        Some(Tok::Str(_) | Tok::Var(_)) => {}
                        _ => return Err(format!("{word}: expected a quoted value")),
                    }
                }
                if !self.is_p(",") {
                    return Ok(());
                }
                self.pos += 1;
            },
            "unwrap" => {
                let name = self.ident("after unwrap")?;
                if matches!(name.as_str(), "bytes" | "duration" | "duration_seconds")
                    && self.is_p("(")
                {
                    self.pos += 1;
                    let inner = self.ident("in the unwrap conversion")?;
                    self.out.fields.push(inner);
                    self.expect_p(")", "to close the unwrap conversion")?;
                } else {
                    self.out.fields.push(name);
                }
                Ok(())
            }
            other => Err(format!(
                "unknown pipeline stage {other:?} (a label filter is `| name=\"value\"`)"
            )),
        }
    }

    /// `a="x" and (b=~"y" or c!="")`, `a>=5, b="x"`, `a="x" b="y"`.
    fn label_filters(&mut self) -> Result<(), String> {
        self.label_filter_atom()?;
        loop {
            if self.is_ident("and") || self.is_ident("or") || self.is_p(",") {
                self.pos += 1;
                self.label_filter_atom()?;
            } else if matches!(self.peek(), Some(Tok::Ident(w)) if !matches!(w.as_str(), "offset" | "by" | "without"))
                || (self.is_p("(") && matches!(self.peek_at(1), Some(Tok::Ident(_))))
            {
                self.label_filter_atom()?;
            } else {
                return Ok(());
            }
        }
    }

    fn label_filter_atom(&mut self) -> Result<(), String> {
        if self.is_p("(") {
            self.pos += 1;
            self.label_filters()?;
            return self.expect_p(")", "to close a label filter group");
        }
        let name = self.ident("in a label filter")?;
        match self.next() {
            Some(Tok::P(p)) if LABEL_FILTER_OPS.contains(&p) => {}
            other => {
                return Err(format!(
                    "label filter {name:?}: expected a comparison (=, !=, =~, !~, >, >=, <, <=, ==), found {}",
                    other.map_or("the end".to_owned(), |t| format!("{t}"))
                ));
            }
        }
        match self.next() {
            Some(Tok::Str(_) | Tok::Num(_) | Tok::Var(_)) => {}
            Some(Tok::Ident(f)) if f == "ip" => {
                self.expect_p("(", "after ip")?;
                match self.next() {
                    Some(Tok::Str(_)) => self.expect_p(")", "to close ip(")?,
                    _ => return Err("ip( takes a string".to_owned()),
                }
            }
            other => {
                return Err(format!(
                    "label filter {name:?}: expected a value, found {}",
                    other.map_or("the end".to_owned(), |t| format!("{t}"))
                ));
            }
        }
        self.out.fields.push(name);
        Ok(())
    }
}

/// The names a `regexp` (`(?P<name>…)`) or `pattern` (`<name>`) stage extracts.
fn capture_names(stage: &str, text: &str) -> Vec<String> {
    let open = if stage == "regexp" { "(?P<" } else { "<" };
    text.split(open)
        .skip(1)
        .filter_map(|rest| rest.split_once('>').map(|(n, _)| n.to_owned()))
        .filter(|n| n != "_" && !n.is_empty() && n.bytes().all(is_ident))
        .collect()
}

/// Reads a LogQL query (see the module's documentation for what it recognises).
pub fn scan(expr: &str) -> Result<LogScan, String> {
    let mut p = Parser {
        toks: tokenize(expr)?,
        pos: 0,
        out: LogScan::default(),
    };
    if p.toks.is_empty() {
        return Err("empty query".to_owned());
    }
    p.query()?;
    Ok(p.out)
}

/// The names Loki gives OTLP log records: index (stream) labels and structured metadata,
/// from `docker/known-log-fields.txt`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KnownLogFields {
    pub labels: BTreeSet<String>,
    pub metadata: BTreeSet<String>,
}

/// Parses `known-log-fields.txt`: `name label` or `name metadata` per line, `#` comments.
pub fn parse_known_log_fields(text: &str) -> Result<KnownLogFields, String> {
    let mut known = KnownLogFields::default();
    for (n, line) in text.lines().enumerate() {
        let words: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        match words.as_slice() {
            [] => {}
            [name, "label"] => {
                known.labels.insert((*name).to_owned());
            }
            [name, "metadata"] => {
                known.metadata.insert((*name).to_owned());
            }
            _ => {
                return Err(format!(
                    "line {}: {:?}: expected `name label` or `name metadata`",
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    Ok(known)
}

/// Labels Loki's query engine adds itself (a failed parser or filter sets `__error__`).
const ENGINE_LABELS: &[&str] = &["__error__", "__error_details__"];

/// Range windows that follow Grafana's interval: a fixed `[5m]` is a 5-minute average at any
/// zoom, and too coarse (or too fine) for most of them.
const RANGE_VARIABLES: &[&str] = &[
    "$__auto",
    "${__auto}",
    "$__interval",
    "${__interval}",
    "$__rate_interval",
    "${__rate_interval}",
    "$__range",
    "${__range}",
];

/// A matcher that selects something: `=` a non-empty value, or `=~` a regex that does not
/// match the empty string. Loki refuses a selector without one ("queries require at least
/// one regexp or equality matcher that does not have an empty-compatible value"). A value
/// with a Grafana variable is assumed to be one (`$service`'s "All" is `.+`).
fn selects(m: &Matcher) -> bool {
    match m.op.as_str() {
        "=" => !m.value.is_empty(),
        "=~" => {
            m.value.contains('$')
                || !matches!(m.value.as_str(), "" | ".*" | "^.*$" | ".*?" | "(.*)")
        }
        _ => false,
    }
}

fn legend_labels(legend: &str) -> Vec<String> {
    legend
        .split("{{")
        .skip(1)
        .filter_map(|part| part.split_once("}}"))
        .map(|(label, _)| label.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Checks one LogQL query against `known`: it reads as LogQL; every stream selector matches
/// only index labels, and at least one of its matchers selects something; every field of the
/// pipeline (label filters, `keep`/`drop`, `unwrap`), every grouping label and every
/// `{{label}}` of the legend is an index label, structured metadata, or a label the query
/// makes; a metric query's ranges follow Grafana's interval. A field after a `json`/`logfmt`
/// without parameters is not checked (it may come from the line).
pub fn check(expr: &str, known: &KnownLogFields, legend: Option<&str>) -> Vec<String> {
    let scan = match scan(expr) {
        Ok(s) => s,
        Err(e) => return vec![format!("cannot read {expr:?} as LogQL: {e}")],
    };
    let mut problems = Vec::new();
    let labels = known.labels.iter().cloned().collect::<Vec<_>>().join(", ");
    for selector in &scan.selectors {
        for m in selector {
            if known.labels.contains(&m.name) {
                continue;
            }
            if known.metadata.contains(&m.name) {
                problems.push(format!(
                    "{expr}: {:?} is structured metadata, not an index label: filter it in the pipeline ({{…}} | {}{}\"…\"), not in the stream selector",
                    m.name, m.name, m.op
                ));
            } else {
                problems.push(format!(
                    "{expr}: stream label {:?} is not one Loki indexes for these OTLP logs (docker/known-log-fields.txt: {labels})",
                    m.name
                ));
            }
        }
        if scan.variable_matchers == 0 && !selector.iter().any(selects) {
            problems.push(format!(
                "{expr}: the stream selector needs a matcher that selects something (= a value, or =~ a regex that does not match \"\"): Loki refuses it"
            ));
        }
    }
    let known_field = |f: &str| {
        known.labels.contains(f)
            || known.metadata.contains(f)
            || scan.made.iter().any(|m| m == f)
            || ENGINE_LABELS.contains(&f)
    };
    if !scan.parses_line {
        for f in &scan.fields {
            if !known_field(f) {
                problems.push(format!(
                    "{expr}: field {f:?} is neither an index label nor structured metadata of these records (docker/known-log-fields.txt)"
                ));
            }
        }
        for g in &scan.grouping {
            if !known_field(g) {
                problems.push(format!(
                    "{expr}: groups by {g:?}, which is neither an index label nor structured metadata of these records (docker/known-log-fields.txt)"
                ));
            }
        }
    }
    if scan.metric {
        for r in &scan.ranges {
            if !RANGE_VARIABLES.contains(&r.as_str()) {
                problems.push(format!(
                    "{expr}: fixed range [{r}]: use [$__auto] (or $__interval, $__rate_interval), which follows the panel's step"
                ));
            }
        }
    }
    if let Some(legend) = legend {
        for l in legend_labels(legend) {
            let shown = if !scan.grouping.is_empty() && !scan.without {
                scan.grouping.contains(&l) || scan.made.contains(&l)
            } else {
                known_field(&l)
            };
            if !shown {
                problems.push(format!(
                    "{expr}: the legend shows {l:?}, which the query's result does not have"
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownLogFields {
        parse_known_log_fields(
            "# c\nservice_name label\nservice_namespace label # x\ntrace_id metadata\nspan_id metadata\nseverity_text metadata\ndetected_level metadata\nerr metadata\n",
        )
        .unwrap()
    }

    #[test]
    fn reads_log_queries() {
        let s = scan(r#"{service_name=~"$service", service_namespace!=""} |= "user" != `x` | trace_id != "" | severity_text=~"(?i)(error|fatal)" and (err="a" or span_id="b"), detected_level="info""#).unwrap();
        assert!(!s.metric);
        assert_eq!(
            s.selectors[0],
            [
                Matcher {
                    name: "service_name".into(),
                    op: "=~".into(),
                    value: "$service".into()
                },
                Matcher {
                    name: "service_namespace".into(),
                    op: "!=".into(),
                    value: "".into()
                }
            ]
        );
        assert_eq!(
            s.fields,
            [
                "trace_id",
                "severity_text",
                "err",
                "span_id",
                "detected_level"
            ]
        );
        let s = scan(r#"{${__tags}} | trace_id="${__trace.traceId}""#).unwrap();
        assert_eq!(
            (s.variable_matchers, s.fields),
            (1, vec!["trace_id".into()])
        );
        let s = scan(r#"{a="b"} | regexp "(?P<user>\\w+) (?P<n>\\d+)" | label_format who=user, x="{{.n}}" | keep who, n | line_format "{{.who}}" | drop __error__"#).unwrap();
        assert_eq!(s.made, ["user", "n", "who", "x"]);
        assert_eq!(s.fields, ["user", "who", "n", "__error__"]);
        assert!(scan(r#"{a="b"} | json"#).unwrap().parses_line);
        assert!(!scan(r#"{a="b"} | json x="y.z""#).unwrap().parses_line);
    }

    #[test]
    fn reads_metric_queries() {
        let s = scan(r#"sum by (severity_text) (rate({service_name=~"$service"} | severity_text=~"$severity" [$__auto]))"#).unwrap();
        assert!(s.metric);
        assert_eq!(s.grouping, ["severity_text"]);
        assert_eq!(s.ranges, ["$__auto"]);
        assert_eq!(s.fields, ["severity_text"]);
        let s = scan(r#"topk(5, sum without (x) (count_over_time({a="b"}[5m] | trace_id!="") )) / on (a) group_left sum(bytes_rate({a="c"} |~ "e" [$__interval] offset 1h)) > bool 0 or vector(0)"#).unwrap();
        assert_eq!(s.ranges, ["5m", "$__interval"]);
        assert_eq!(s.grouping, ["x", "a"]);
        assert!(s.without);
        let s = scan(
            r#"quantile_over_time(0.95, {a="b"} | unwrap duration(latency) [$__auto]) by (a)"#,
        )
        .unwrap();
        assert_eq!(
            (s.fields, s.grouping),
            (vec!["latency".into()], vec!["a".into()])
        );
    }

    #[test]
    fn malformed_queries_fail() {
        for (bad, why) in [
            ("", "empty"),
            (r#"service_name="x""#, "unknown function"),
            (r#"{service_name="x""#, "unbalanced"),
            (r#"{service_name="x}"#, "unterminated"),
            ("{}", "empty stream selector"),
            (r#"{service_name}"#, "expected =, !=, =~ or !~"),
            (r#"{service_name=x}"#, "quoted value"),
            (r#"{service_name.x="a"}"#, "unexpected '.'"),
            (r#"{a="b"} | severity_text"#, "unknown pipeline stage"),
            (r#"{a="b"} | severity_text=~"#, "expected a value"),
            (r#"{a="b"} |= x"#, "quoted string"),
            (r#"{a="b"} [5m]"#, "range function"),
            (r#"rate({a="b"})"#, "needs a range"),
            (r#"sum(rate({a="b"}[1m])"#, "to close sum("),
            (r#"sum by (a) ({a="b"})"#, "needs a range function"),
            (r#"count_over_time({a="b"}[1m]) extra"#, "unexpected"),
            (r#"{a="b"} | json | "#, "expected a pipeline stage"),
        ] {
            let err = scan(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err:?} does not say {why:?}");
        }
    }

    #[test]
    fn good_queries_pass() {
        for q in [
            r#"{service_name=~"$service"} | severity_text=~"$severity""#,
            r#"{service_name="user-service"} | trace_id != """#,
            r#"sum by (severity_text) (rate({service_name=~"$service"} | severity_text=~"$severity" [$__auto]))"#,
            r#"{${__tags}} | trace_id="${__trace.traceId}""#,
            r#"{service_name="a"} | json | whatever="x""#,
            r#"sum by (who) (count_over_time({service_name="a"} | label_format who=err [$__interval]))"#,
            r#"{service_name="a"} | __error__="""#,
        ] {
            assert_eq!(check(q, &known(), None), Vec::<String>::new(), "{q}");
        }
        assert!(
            check(
                r#"sum by (severity_text) (rate({service_name="a"}[$__auto]))"#,
                &known(),
                Some("{{severity_text}}")
            )
            .is_empty()
        );
    }

    #[test]
    fn unknown_stream_label_fails() {
        // The span metrics' label, and a structured-metadata field, in the stream selector.
        let p = check(r#"{service="user-service"}"#, &known(), None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("stream label \"service\" is not one Loki indexes"),
            "{p:?}"
        );
        let p = check(r#"{service_name="a", trace_id="x"}"#, &known(), None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("\"trace_id\" is structured metadata"),
            "{p:?}"
        );
    }

    #[test]
    fn unknown_field_fails() {
        // severity (not severity_text), traceid (not trace_id), in a filter, a keep, a by.
        for (q, name) in [
            (r#"{service_name="a"} | severity="INFO""#, "severity"),
            (r#"{service_name="a"} | traceid != """#, "traceid"),
            (r#"{service_name="a"} | keep level"#, "level"),
            (
                r#"sum by (level) (rate({service_name="a"}[$__auto]))"#,
                "level",
            ),
        ] {
            let p = check(q, &known(), None);
            assert_eq!(p.len(), 1, "{q}: {p:?}");
            assert!(p[0].contains(&format!("{name:?}")), "{q}: {p:?}");
        }
    }

    #[test]
    fn fixed_ranges_empty_selectors_and_legends_fail() {
        let p = check(r#"sum(rate({service_name="a"}[1m]))"#, &known(), None);
        assert!(p.len() == 1 && p[0].contains("fixed range [1m]"), "{p:?}");
        let p = check(r#"{service_name=~".*"}"#, &known(), None);
        assert!(p.len() == 1 && p[0].contains("selects something"), "{p:?}");
        assert_eq!(check(r#"{service_name!="a"}"#, &known(), None).len(), 1);
        let q = r#"sum by (severity_text) (rate({service_name="a"}[$__auto]))"#;
        let p = check(q, &known(), Some("{{detected_level}}"));
        assert!(
            p.len() == 1 && p[0].contains("legend shows \"detected_level\""),
            "{p:?}"
        );
        let p = check("{a=", &known(), None);
        assert!(p[0].starts_with("cannot read"), "{p:?}");
    }

    #[test]
    fn known_log_fields_file_format() {
        let k = known();
        assert_eq!(k.labels.len(), 2);
        assert!(k.metadata.contains("trace_id"));
        assert!(parse_known_log_fields("trace_id\n").is_err());
        assert!(parse_known_log_fields("trace_id metadta\n").is_err());
        assert!(parse_known_log_fields("a label b\n").is_err());
    }
}
