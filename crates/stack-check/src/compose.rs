//! Checks of `compose.yaml`: references between services, volumes and variables, published
//! ports, image tags, memory limits; and what each service listens on, for [`crate::endpoints`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml_ng::Value;

use crate::{yaml_get, yaml_keys, yaml_strings};

type Env = BTreeMap<String, String>;

/// The services of a compose file, by name.
pub fn services(doc: &Value) -> BTreeMap<String, &Value> {
    doc.get("services")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
                .collect()
        })
        .unwrap_or_default()
}

/// A `$VAR` / `${VAR…}` reference in a compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    pub name: String,
    /// `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}` or `${VAR+x}`: works when VAR is unset.
    pub has_default: bool,
}

/// The variable references in one string (`$$` is a literal `$`).
pub fn variables_in(s: &str) -> Vec<VarRef> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let end = s[i..].find('}').map_or(b.len(), |e| i + e);
                let inner = &s[i + 2..end];
                let name_len = inner
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(inner.len());
                let rest = &inner[name_len..];
                let has_default = ["-", ":-", "+", ":+"].iter().any(|op| rest.starts_with(op));
                out.push(VarRef {
                    name: inner[..name_len].to_owned(),
                    has_default,
                });
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                out.push(VarRef {
                    name: s[start..j].to_owned(),
                    has_default: false,
                });
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// Every string (keys and values) in a YAML document, depth first.
fn all_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(seq) => seq.iter().for_each(|x| all_strings(x, out)),
        Value::Mapping(m) => {
            for (k, x) in m {
                all_strings(k, out);
                all_strings(x, out);
            }
        }
        Value::Tagged(t) => all_strings(&t.value, out),
        _ => {}
    }
}

/// Every variable used must be set in the env file, or have a default.
pub fn check_variables(doc: &Value, env: &Env) -> Vec<String> {
    let mut strings = Vec::new();
    all_strings(doc, &mut strings);
    let mut problems = BTreeSet::new();
    for s in &strings {
        for var in variables_in(s) {
            if var.name.is_empty() {
                problems.insert(format!("malformed variable reference in {s:?}"));
            } else if !var.has_default && !env.contains_key(&var.name) {
                problems.insert(format!(
                    "${{{}}} is used but not set in the env file and has no default (in {s:?})",
                    var.name
                ));
            }
        }
    }
    problems.into_iter().collect()
}

/// Replaces `${VAR}`, `${VAR:-default}` and `$VAR` with their values (`$$` → `$`).
pub fn substitute(s: &str, env: &Env) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r.find('}').unwrap_or(r.len());
            let inner = &r[..end];
            let (name, default) = match inner.find([':', '-', '?', '+']) {
                Some(p) => {
                    let op_end = if inner[p..].starts_with(':') {
                        p + 2
                    } else {
                        p + 1
                    };
                    (&inner[..p], inner.get(op_end..).unwrap_or(""))
                }
                None => (inner, ""),
            };
            out.push_str(env.get(name).map_or(default, String::as_str));
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            out.push_str(env.get(&after[..len]).map_or("", String::as_str));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

/// Every service has an image with an explicit tag (or digest) that is not `latest`.
pub fn check_images(doc: &Value, env: &Env) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, svc) in services(doc) {
        let Some(raw) = svc.get("image").and_then(Value::as_str) else {
            if svc.get("build").is_none() {
                problems.push(format!("service {name}: no image"));
            }
            continue;
        };
        let image = substitute(raw, env);
        if image.contains('@') {
            continue; // pinned by digest
        }
        let last = image.rsplit('/').next().unwrap_or(&image);
        match last.split_once(':') {
            None => problems.push(format!(
                "service {name}: image {image:?} has no tag (that means latest)"
            )),
            Some((_, "")) => {
                problems.push(format!("service {name}: image {raw:?} has an empty tag"))
            }
            Some((_, "latest")) => problems.push(format!(
                "service {name}: image {image:?} uses the tag latest"
            )),
            Some(_) => {}
        }
    }
    problems
}

fn profiles(svc: &Value) -> BTreeSet<String> {
    yaml_strings(svc.get("profiles")).into_iter().collect()
}

/// `depends_on` names existing services, with a valid condition; `service_healthy` needs a
/// healthcheck on the dependency; a service without profiles cannot depend on one that only
/// runs in some profile (compose refuses that when the profile is off).
pub fn check_depends_on(doc: &Value) -> Vec<String> {
    let all = services(doc);
    let mut problems = Vec::new();
    for (name, svc) in &all {
        let deps: Vec<(String, Option<String>)> = match svc.get("depends_on") {
            None => continue,
            Some(Value::Sequence(seq)) => seq
                .iter()
                .filter_map(|v| v.as_str().map(|s| (s.to_owned(), None)))
                .collect(),
            Some(Value::Mapping(m)) => m
                .iter()
                .filter_map(|(k, v)| {
                    let cond = v
                        .get("condition")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    Some((k.as_str()?.to_owned(), cond))
                })
                .collect(),
            Some(_) => {
                problems.push(format!(
                    "service {name}: depends_on must be a list or a mapping"
                ));
                continue;
            }
        };
        for (dep, cond) in deps {
            let Some(target) = all.get(&dep) else {
                problems.push(format!(
                    "service {name}: depends_on names {dep:?}, which is not a service"
                ));
                continue;
            };
            match cond.as_deref() {
                None | Some("service_started") | Some("service_completed_successfully") => {}
                Some("service_healthy") => {
                    let check = target.get("healthcheck");
                    let disabled = check
                        .and_then(|h| h.get("disable"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if check.is_none() || disabled {
                        problems.push(format!(
                            "service {name}: waits for {dep} to be healthy, but {dep} has no healthcheck"
                        ));
                    }
                }
                Some(other) => problems.push(format!(
                    "service {name}: unknown depends_on condition {other:?}"
                )),
            }
            let (mine, theirs) = (profiles(svc), profiles(target));
            if !theirs.is_empty() && (mine.is_empty() || !mine.is_subset(&theirs)) {
                problems.push(format!(
                    "service {name}: depends on {dep}, which only runs with profile(s) {theirs:?}"
                ));
            }
        }
    }
    problems
}

/// A volume entry: `Some(name)` for a named volume, `None` for a bind mount or tmpfs.
fn volume_source(entry: &Value) -> (Option<String>, Option<String>) {
    match entry {
        Value::String(s) => {
            let source = s.split(':').next().unwrap_or("");
            if s.contains(':') && !source.starts_with(['.', '/', '~', '$']) {
                (Some(source.to_owned()), None)
            } else if s.contains(':') {
                (None, Some(source.to_owned()))
            } else {
                (None, None) // anonymous volume
            }
        }
        Value::Mapping(_) => {
            let source = entry
                .get("source")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match entry.get("type").and_then(Value::as_str) {
                Some("volume") => (source, None),
                Some("bind") => (None, source),
                _ => (None, None),
            }
        }
        _ => (None, None),
    }
}

/// Named volumes used by services are declared under the top-level `volumes`, and every
/// declared volume is used.
pub fn check_volumes(doc: &Value) -> Vec<String> {
    let declared: BTreeSet<String> = yaml_keys(doc.get("volumes")).into_iter().collect();
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    for (name, svc) in services(doc) {
        for entry in svc
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if let (Some(vol), _) = volume_source(entry) {
                if !declared.contains(&vol) {
                    problems.push(format!(
                        "service {name}: volume {vol:?} is not declared under top-level volumes"
                    ));
                }
                used.insert(vol);
            }
        }
    }
    for vol in declared.difference(&used) {
        problems.push(format!("volume {vol:?} is declared but no service uses it"));
    }
    problems
}

/// Bind-mounted files and directories exist (relative to the compose file's directory).
pub fn check_bind_sources(doc: &Value, base: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, svc) in services(doc) {
        for entry in svc
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if let (_, Some(src)) = volume_source(entry)
                && src.starts_with('.')
                && !base.join(&src).exists()
            {
                problems.push(format!(
                    "service {name}: bind mount source {src:?} does not exist"
                ));
            }
        }
    }
    problems
}

/// A published port: host address, host port, container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub host_ip: Option<String>,
    pub host_port: Option<u16>,
    pub container_port: Option<u16>,
}

fn parse_port(entry: &Value) -> Published {
    match entry {
        Value::Mapping(_) => Published {
            host_ip: entry
                .get("host_ip")
                .and_then(Value::as_str)
                .map(str::to_owned),
            host_port: entry
                .get("published")
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                .and_then(|p| u16::try_from(p).ok()),
            container_port: entry
                .get("target")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok()),
        },
        _ => {
            let s = match entry {
                Value::Number(n) => n.to_string(),
                other => other.as_str().unwrap_or("").to_owned(),
            };
            let s = s.split('/').next().unwrap_or("");
            let parts: Vec<&str> = s.rsplitn(3, ':').collect(); // container, host port, ip
            Published {
                container_port: parts.first().and_then(|p| p.parse().ok()),
                host_port: parts.get(1).and_then(|p| p.parse().ok()),
                host_ip: parts
                    .get(2)
                    .map(|ip| ip.trim_matches(['[', ']']).to_owned()),
            }
        }
    }
}

/// The published ports of a service.
pub fn published(svc: &Value) -> Vec<Published> {
    svc.get("ports")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().map(parse_port).collect())
        .unwrap_or_default()
}

/// Every published port names a host port and is bound to 127.0.0.1.
pub fn check_ports(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, svc) in services(doc) {
        for p in published(svc) {
            if p.host_ip.as_deref() != Some("127.0.0.1") {
                problems.push(format!(
                    "service {name}: port {:?} is not bound to 127.0.0.1 (write \"127.0.0.1:HOST:CONTAINER\")",
                    p.container_port
                ));
            }
            if p.host_port.is_none() || p.container_port.is_none() {
                problems.push(format!(
                    "service {name}: a published port lacks the host or container port"
                ));
            }
        }
    }
    problems
}

/// Two services may publish the same host port only if they never run together: both are in
/// profiles, and no profile has both (the collector and Alloy).
pub fn check_port_conflicts(doc: &Value) -> Vec<String> {
    let all = services(doc);
    let mut by_port: BTreeMap<u16, Vec<&String>> = BTreeMap::new();
    for (name, svc) in &all {
        for p in published(svc) {
            if let Some(port) = p.host_port {
                by_port.entry(port).or_default().push(name);
            }
        }
    }
    let mut problems = Vec::new();
    for (port, names) in by_port {
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                let (pa, pb) = (profiles(all[*a]), profiles(all[*b]));
                if pa.is_empty() || pb.is_empty() || !pa.is_disjoint(&pb) {
                    problems.push(format!(
                        "host port {port} is published by both {a} and {b}, which can run at the same time"
                    ));
                }
            }
        }
    }
    problems
}

/// Every service has a memory limit (`deploy.resources.limits.memory` or `mem_limit`).
pub fn check_memory_limits(doc: &Value) -> Vec<String> {
    services(doc)
        .into_iter()
        .filter(|(_, svc)| {
            yaml_get(svc, &["deploy", "resources", "limits", "memory"]).is_none()
                && svc.get("mem_limit").is_none()
        })
        .map(|(name, _)| {
            format!("service {name}: no memory limit (deploy.resources.limits.memory)")
        })
        .collect()
}

/// The services' names, network aliases and hostnames, each with the container ports the
/// service listens on (the container side of `ports`, plus `expose`).
pub fn listeners(doc: &Value) -> BTreeMap<String, BTreeSet<u16>> {
    let mut out: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for (name, svc) in services(doc) {
        let mut ports: BTreeSet<u16> = published(svc)
            .into_iter()
            .filter_map(|p| p.container_port)
            .collect();
        for e in svc
            .get("expose")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let s = match e {
                Value::Number(n) => n.to_string(),
                other => other.as_str().unwrap_or("").to_owned(),
            };
            if let Ok(p) = s.split('/').next().unwrap_or("").parse() {
                ports.insert(p);
            }
        }
        let mut names = vec![name.clone()];
        if let Some(h) = svc.get("hostname").and_then(Value::as_str) {
            names.push(h.to_owned());
        }
        if let Some(nets) = svc.get("networks").and_then(Value::as_mapping) {
            for net in nets.values() {
                names.extend(yaml_strings(net.get("aliases")));
            }
        }
        for n in names {
            out.entry(n).or_default().extend(ports.iter().copied());
        }
    }
    out
}

/// The `environment` of a service as a map (both list and mapping forms).
pub fn environment(svc: &Value) -> BTreeMap<String, String> {
    match svc.get("environment") {
        Some(Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => String::new(),
                };
                Some((k.as_str()?.to_owned(), value))
            })
            .collect(),
        Some(Value::Sequence(seq)) => seq
            .iter()
            .filter_map(|v| {
                v.as_str()?
                    .split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn finds_variable_references() {
        let vars = variables_in("a ${A} $B ${C:-x} ${D-y} ${E:?err} $$F ${G:+z}");
        let names: Vec<_> = vars
            .iter()
            .map(|v| (v.name.as_str(), v.has_default))
            .collect();
        assert_eq!(
            names,
            [
                ("A", false),
                ("B", false),
                ("C", true),
                ("D", true),
                ("E", false),
                ("G", true)
            ]
        );
    }

    #[test]
    fn undefined_variable_fails() {
        let d =
            doc("services:\n  a:\n    image: x:${TAG}\n    environment:\n      P: ${PASS:-p}\n");
        assert!(check_variables(&d, &env(&[("TAG", "1")])).is_empty());
        let problems = check_variables(&d, &env(&[]));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("${TAG}"));
    }

    #[test]
    fn substitutes_like_compose() {
        let e = env(&[("V", "1.2")]);
        assert_eq!(substitute("img:${V}", &e), "img:1.2");
        assert_eq!(substitute("img:${W:-9}", &e), "img:9");
        assert_eq!(substitute("$V-$$", &e), "1.2-$");
    }

    #[test]
    fn latest_or_missing_tags_fail() {
        let e = env(&[("T", "latest")]);
        let ok = doc(
            "services:\n  a:\n    image: grafana/tempo:3.0.3\n  b:\n    image: localhost:5000/x:1@sha256:ab\n",
        );
        assert!(check_images(&ok, &e).is_empty());
        let bad = doc(
            "services:\n  a:\n    image: grafana/tempo:latest\n  b:\n    image: grafana/loki\n  c:\n    image: x:${T}\n  d:\n    image: localhost:5000/x\n  e:\n    command: [x]\n",
        );
        let problems = check_images(&bad, &e);
        assert_eq!(problems.len(), 5, "{problems:?}");
    }

    #[test]
    fn depends_on_must_name_a_service_with_a_healthcheck() {
        let d = doc(
            "services:\n  a:\n    image: x:1\n    depends_on:\n      b:\n        condition: service_healthy\n      c:\n        condition: service_started\n      ghost:\n        condition: service_started\n  b:\n    image: x:1\n  c:\n    image: x:1\n    depends_on: [nope]\n",
        );
        let problems = check_depends_on(&d);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("b has no healthcheck")));
        assert!(problems.iter().any(|p| p.contains("\"ghost\"")));
        assert!(problems.iter().any(|p| p.contains("\"nope\"")));
    }

    #[test]
    fn depending_on_a_profiled_service_fails() {
        let d = doc(
            "services:\n  a:\n    image: x:1\n    depends_on: [b]\n  b:\n    image: x:1\n    profiles: [extra]\n",
        );
        let problems = check_depends_on(&d);
        assert!(
            problems[0].contains("only runs with profile"),
            "{problems:?}"
        );
    }

    #[test]
    fn undeclared_or_unused_volumes_fail() {
        let d = doc(
            "services:\n  a:\n    image: x:1\n    volumes:\n      - data:/data\n      - ./conf.yaml:/c.yaml:ro\n      - type: volume\n        source: other\n        target: /o\nvolumes:\n  data:\n  spare:\n",
        );
        let problems = check_volumes(&d);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("\"other\" is not declared"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("\"spare\" is declared but"))
        );
    }

    #[test]
    fn missing_bind_source_fails() {
        let d = doc(
            "services:\n  a:\n    image: x:1\n    volumes:\n      - ./does-not-exist.yaml:/c.yaml:ro\n",
        );
        let problems = check_bind_sources(&d, Path::new(env!("CARGO_MANIFEST_DIR")));
        assert_eq!(problems.len(), 1);
        let d =
            doc("services:\n  a:\n    image: x:1\n    volumes:\n      - ./Cargo.toml:/c.toml:ro\n");
        assert!(check_bind_sources(&d, Path::new(env!("CARGO_MANIFEST_DIR"))).is_empty());
    }

    #[test]
    fn ports_must_bind_loopback() {
        let ok = doc(
            "services:\n  a:\n    image: x:1\n    ports: [\"127.0.0.1:3000:3000\", {target: 80, published: 8080, host_ip: 127.0.0.1}]\n",
        );
        assert!(check_ports(&ok).is_empty());
        let bad = doc(
            "services:\n  a:\n    image: x:1\n    ports: [\"3000:3000\", \"0.0.0.0:4317:4317\", 9000, {target: 80, published: 8080}]\n",
        );
        assert_eq!(check_ports(&bad).len(), 5, "{:?}", check_ports(&bad));
    }

    #[test]
    fn same_host_port_needs_disjoint_profiles() {
        let ok = doc(
            "services:\n  a:\n    image: x:1\n    profiles: [p1]\n    ports: [\"127.0.0.1:4317:4317\"]\n  b:\n    image: x:1\n    profiles: [p2]\n    ports: [\"127.0.0.1:4317:4317\"]\n",
        );
        assert!(check_port_conflicts(&ok).is_empty());
        let bad = doc(
            "services:\n  a:\n    image: x:1\n    ports: [\"127.0.0.1:4317:4317\"]\n  b:\n    image: x:1\n    profiles: [p2]\n    ports: [\"127.0.0.1:4317:4317\"]\n",
        );
        assert_eq!(check_port_conflicts(&bad).len(), 1);
    }

    #[test]
    fn missing_memory_limit_fails() {
        let d = doc(
            "services:\n  a:\n    image: x:1\n    deploy:\n      resources:\n        limits:\n          memory: 1g\n  b:\n    image: x:1\n    mem_limit: 1g\n  c:\n    image: x:1\n",
        );
        assert_eq!(
            check_memory_limits(&d),
            ["service c: no memory limit (deploy.resources.limits.memory)"]
        );
    }

    #[test]
    fn listeners_include_aliases_and_expose() {
        let d = doc(
            "services:\n  c:\n    image: x:1\n    ports: [\"127.0.0.1:4318:4318\"]\n    expose: [\"13133\"]\n    networks:\n      default:\n        aliases: [collector]\n",
        );
        let l = listeners(&d);
        assert_eq!(l["collector"], BTreeSet::from([4318, 13133]));
        assert_eq!(l["c"], l["collector"]);
    }
}
