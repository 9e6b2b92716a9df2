//! Endpoints (`host:port` or URLs) in the configs must point at a compose service, or one of
//! its network aliases, and at a port that service listens on.

use std::collections::{BTreeMap, BTreeSet};

/// Host and port of an endpoint: `tempo:4317`, `http://loki:3100/otlp`, `https://x` (443).
/// `None` if there is no host or no port can be told.
pub fn host_port(endpoint: &str) -> Option<(String, u16)> {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, endpoint),
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host.to_owned(), port.parse().ok()?)),
        Some(_) => None,
        None if authority.is_empty() => None,
        None => match scheme {
            Some("http") => Some((authority.to_owned(), 80)),
            Some("https") => Some((authority.to_owned(), 443)),
            _ => None,
        },
    }
}

/// Checks one endpoint, found at `what` (e.g. `otel-collector.yaml exporters.otlp_grpc/tempo`),
/// against the listeners of the compose file ([`crate::compose::listeners`]).
pub fn check(
    what: &str,
    endpoint: &str,
    listeners: &BTreeMap<String, BTreeSet<u16>>,
) -> Option<String> {
    let Some((host, port)) = host_port(endpoint) else {
        return Some(format!("{what}: cannot tell host and port of {endpoint:?}"));
    };
    match listeners.get(&host) {
        None => Some(format!(
            "{what}: {endpoint:?} points at host {host:?}, which is not a compose service or alias"
        )),
        Some(ports) if !ports.contains(&port) => Some(format!(
            "{what}: {endpoint:?} uses port {port}, but {host} listens on {ports:?} (its ports and expose)"
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        assert_eq!(host_port("tempo:4317"), Some(("tempo".into(), 4317)));
        assert_eq!(
            host_port("http://loki:3100/otlp"),
            Some(("loki".into(), 3100))
        );
        assert_eq!(
            host_port("http://mimir:9009/api/v1/push?x=1"),
            Some(("mimir".into(), 9009))
        );
        assert_eq!(
            host_port("https://grafana.example"),
            Some(("grafana.example".into(), 443))
        );
        assert_eq!(host_port("0.0.0.0:4318"), Some(("0.0.0.0".into(), 4318)));
        assert_eq!(host_port("tempo"), None);
        assert_eq!(host_port(":4317"), None);
    }

    #[test]
    fn wrong_host_or_port_fails() {
        let listeners = BTreeMap::from([("tempo".to_owned(), BTreeSet::from([4317, 4318, 3200]))]);
        assert_eq!(check("x", "tempo:4317", &listeners), None);
        assert!(
            check("x", "http://tempo:4418", &listeners)
                .unwrap()
                .contains("port 4418")
        );
        assert!(
            check("x", "http://localhost:4318", &listeners)
                .unwrap()
                .contains("not a compose service")
        );
        assert!(
            check("x", "tempo", &listeners)
                .unwrap()
                .contains("cannot tell")
        );
    }
}
