//! Configuration: the host's own, and each app's sidecar `<app>.toml`.

mod triggers;
mod webhook_limits;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::capabilities::outbound_override::OutboundOverride;
use crate::storage::StoreLocation;

pub use triggers::{Cadence, Schedule, SecretSource, Webhook, parse_duration, recurring};
use triggers::{ScheduleTable, WebhookTable};
pub use webhook_limits::Rate;

/// Default per-event time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5_000);
/// Default per-event memory limit.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// The largest memory limit a sidecar may grant.
pub const MAX_MEMORY_MB: u64 = 4_096;
/// Default limit on a request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default number of events one app may run at once; the excess gets 503
/// with `Retry-After` at once instead of queueing without bound.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 32;
/// The largest `max_concurrency` a sidecar may grant (the engine's pool
/// holds 1,000 instances for all apps together).
pub const MAX_CONCURRENCY: u32 = 1_000;
/// Default time a client may take to send its request headers.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client may take to send its request body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time limit of one outbound HTTP call (the event's own limit still applies).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_millis(3_000);
/// The most often a sidecar schedule may run, unless `--min-schedule-interval` says otherwise.
pub const DEFAULT_MIN_SCHEDULE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a webhook delivery id is remembered, unless `--webhook-dedup-window`
/// says otherwise. A day covers the quick retries providers make when an
/// answer was lost (Shopify's span 4 hours) and a person redelivering by
/// hand the same day; a provider retrying over days (Stripe, Svix) needs a
/// longer window to be sure an app never sees an id twice.
pub const DEFAULT_WEBHOOK_DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The most `[[schedule]]` or `[[webhook]]` tables one sidecar may hold.
pub const MAX_TRIGGERS_PER_APP: usize = 32;
/// Background runs (scheduled, webhooks) of all apps at once, whatever
/// their own limits: the share of the engine's pool kept for them, so that
/// Keruj's requests keep the rest.
pub const DEFAULT_BACKGROUND_CONCURRENCY: usize = 64;
/// The base of webhook URLs when `--public-url` is not given (the binary
/// uses its listen address instead).
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";
/// Where Keruj's GraphQL API is, unless configured otherwise.
pub const DEFAULT_KERUJ_API_URL: &str = "https://api.keruj.com/api/graphql";
/// The header that carries the company's API key to Keruj's API.
pub const DEFAULT_KERUJ_KEY_HEADER: &str = "x-keruj-api-key";
/// The header that carries the company id to Keruj's API.
pub const DEFAULT_KERUJ_COMPANY_HEADER: &str = "x-keruj-company-id";

/// What the host needs to start: where plugins and data live.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The plugins folder: `<app>.wasm` and optional `<app>.toml`.
    pub plugins_dir: PathBuf,
    /// The data folder: the sled database, the compile cache and, by
    /// default, the age identity.
    pub data_dir: PathBuf,
    /// Where installs and plugin data live: sled in `data_dir` (the
    /// default) or a PostgreSQL database that replicas share, with its
    /// TLS and, behind a pooler, its direct address (`--store-direct`).
    pub store: StoreLocation,
    /// The age identity file; `DATA/identity.txt` when `None`.
    pub identity: Option<PathBuf>,
    /// Follow the plugins folder live (hot reload, see [`crate::apps::reload`]);
    /// `true` by default. Embedders that manage plugins themselves turn it
    /// off and call [`Host::reload`](crate::Host::reload) instead.
    pub watch: bool,
    /// Requests with a larger body get 413.
    pub max_body_bytes: usize,
    /// A client slower to send its headers loses the connection (slow loris).
    pub header_timeout: Duration,
    /// A client slower to send its body gets 408.
    pub body_timeout: Duration,
    /// Connections kept open at once (see [`crate::server::serve`]); `None`:
    /// half the process's descriptor limit ([`crate::server::default_max_connections`]).
    pub max_connections: Option<usize>,
    /// How plugins reach Keruj's API.
    pub keruj_api: KerujApiConfig,
    /// Answers plugins' outbound HTTP and their Keruj API calls in the
    /// process instead of the network, after the same checks and under the
    /// same limits. For tests ([`crate::testing`]); `None` by default, and
    /// the server never sets it.
    pub outbound_override: Option<OutboundOverride>,
    /// The public base of webhook URLs (`--public-url`): what a third party
    /// calls, e.g. `https://apps.example.com`. `None`: `http://` and the
    /// listen address, which only suits a machine the caller can reach.
    pub public_url: Option<String>,
    /// A sidecar schedule running more often is refused at load.
    pub min_schedule_interval: Duration,
    /// Scheduled runs and webhook deliveries of all apps at once.
    pub background_concurrency: usize,
    /// How long a webhook delivery id is remembered; its record is deleted
    /// once older (see [`crate::triggers::webhooks`]).
    pub webhook_dedup_window: Duration,
    /// Where compiled functions are kept across runs, so that an edited app
    /// compiles only what changed (`keruj-host dev --function-cache`; see
    /// [`crate::runtime::function_cache`]). None for a serving host.
    pub function_cache: Option<PathBuf>,
}

/// Where Keruj's GraphQL API is and how the company's key is sent to it.
/// Keruj's exact header names are not public, hence configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerujApiConfig {
    pub url: String,
    pub key_header: String,
    pub company_header: String,
}

impl Default for KerujApiConfig {
    fn default() -> Self {
        KerujApiConfig {
            url: DEFAULT_KERUJ_API_URL.into(),
            key_header: DEFAULT_KERUJ_KEY_HEADER.into(),
            company_header: DEFAULT_KERUJ_COMPANY_HEADER.into(),
        }
    }
}

impl HostConfig {
    pub fn new(plugins_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            plugins_dir: plugins_dir.into(),
            data_dir: data_dir.into(),
            store: StoreLocation::Sled,
            identity: None,
            watch: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: None,
            keruj_api: KerujApiConfig::default(),
            outbound_override: None,
            public_url: None,
            min_schedule_interval: DEFAULT_MIN_SCHEDULE_INTERVAL,
            background_concurrency: DEFAULT_BACKGROUND_CONCURRENCY,
            webhook_dedup_window: DEFAULT_WEBHOOK_DEDUP_WINDOW,
            function_cache: None,
        }
    }

    pub fn identity_path(&self) -> PathBuf {
        self.identity
            .clone()
            .unwrap_or_else(|| self.data_dir.join("identity.txt"))
    }
}

/// An app's secret token, compared in constant time and never printed.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The sidecar file as the operator writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    token_env: Option<String>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    timeout_ms: Option<u64>,
    memory_mb: Option<u64>,
    http_timeout_ms: Option<u64>,
    max_concurrency: Option<u32>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    schedule: Vec<ScheduleTable>,
    #[serde(default)]
    webhook: Vec<WebhookTable>,
}

/// An app's grant from the operator, resolved: token, limits, hosts, config.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// `None`: every event is refused with 401 (the log said why at load).
    pub token: Option<Token>,
    /// Where the token was looked for, for the log.
    pub token_source: String,
    pub limits: Limits,
    /// `host[:port]` the plugin may call over HTTP.
    pub allowed_hosts: Arc<[String]>,
    /// Time limit of one outbound HTTP call.
    pub http_timeout: Duration,
    /// Events of this app that may run at once (see [`crate::apps::App::gate`]).
    pub max_concurrency: u32,
    /// Non-secret settings the plugin can read.
    pub config: Arc<BTreeMap<String, String>>,
    /// Events the host delivers on its own, for each installed company.
    pub schedules: Arc<[Schedule]>,
    /// URLs third parties call, one per installed company and name.
    pub webhooks: Arc<[Webhook]>,
}

/// What one event may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            memory_bytes: (DEFAULT_MEMORY_MB * 1024 * 1024) as usize,
        }
    }
}

impl AppSettings {
    /// Scheduled runs and webhook deliveries of this app that may run at
    /// once: a quarter of `max_concurrency` (at least one), apart from it,
    /// so that background work never takes a permit Keruj's requests need.
    pub fn background_concurrency(&self) -> u32 {
        (self.max_concurrency / 4).max(1)
    }

    /// Reads `<app>.toml` beside the plugin if present, and the token from the
    /// environment (`token_env`, else `KERUJ_APP_TOKEN_<APP>`), with the
    /// default `--min-schedule-interval`.
    pub fn load(app: &str, sidecar_path: &Path) -> anyhow::Result<AppSettings> {
        AppSettings::load_with(app, sidecar_path, DEFAULT_MIN_SCHEDULE_INTERVAL)
    }

    /// [`AppSettings::load`], refusing a schedule that runs more often than
    /// `min_schedule_interval`.
    pub fn load_with(
        app: &str,
        sidecar_path: &Path,
        min_schedule_interval: Duration,
    ) -> anyhow::Result<AppSettings> {
        // Errors name the file, not its folder: they show in the public health answer.
        let file = format!("{app}.toml");
        let sidecar = match std::fs::read_to_string(sidecar_path) {
            Ok(text) => {
                toml::from_str::<Sidecar>(&text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Sidecar::default(),
            Err(e) => anyhow::bail!("{file}: {e}"),
        };
        let memory_mb = sidecar.memory_mb.unwrap_or(DEFAULT_MEMORY_MB);
        anyhow::ensure!(
            (1..=MAX_MEMORY_MB).contains(&memory_mb),
            "{}: memory_mb must be 1 to {MAX_MEMORY_MB}",
            file
        );
        let timeout_ms = sidecar
            .timeout_ms
            .unwrap_or(DEFAULT_TIMEOUT.as_millis() as u64);
        anyhow::ensure!(timeout_ms > 0, "{}: timeout_ms must be positive", file);
        let max_concurrency = sidecar.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
        anyhow::ensure!(
            (1..=MAX_CONCURRENCY).contains(&max_concurrency),
            "{}: max_concurrency must be 1 to {MAX_CONCURRENCY}",
            file
        );

        anyhow::ensure!(
            sidecar.schedule.len() <= MAX_TRIGGERS_PER_APP
                && sidecar.webhook.len() <= MAX_TRIGGERS_PER_APP,
            "{file}: at most {MAX_TRIGGERS_PER_APP} [[schedule]] and {MAX_TRIGGERS_PER_APP} [[webhook]] tables"
        );
        let schedules = sidecar
            .schedule
            .into_iter()
            .map(|table| table.check(&file, min_schedule_interval))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let webhooks = sidecar
            .webhook
            .into_iter()
            .map(|table| table.check(&file))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut names: Vec<&str> = webhooks.iter().map(|w| w.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            anyhow::bail!("{file}: two [[webhook]] tables are named {:?}", pair[0]);
        }

        let token_var = sidecar.token_env.unwrap_or_else(|| default_token_env(app));
        let token = std::env::var(&token_var)
            .ok()
            .filter(|t| !t.is_empty())
            .map(Token::new);
        Ok(AppSettings {
            token,
            token_source: token_var,
            limits: Limits {
                timeout: Duration::from_millis(timeout_ms),
                memory_bytes: (memory_mb * 1024 * 1024) as usize,
            },
            allowed_hosts: sidecar.allowed_hosts.into(),
            http_timeout: sidecar
                .http_timeout_ms
                .map_or(DEFAULT_HTTP_TIMEOUT, Duration::from_millis),
            max_concurrency,
            config: Arc::new(sidecar.config),
            schedules: schedules.into(),
            webhooks: webhooks.into(),
        })
    }
}

/// `KERUJ_APP_TOKEN_<APP>`: the app id upper-cased, `-` as `_`.
pub fn default_token_env(app: &str) -> String {
    format!(
        "KERUJ_APP_TOKEN_{}",
        app.to_ascii_uppercase().replace('-', "_")
    )
}

/// An app id as the contract allows it: `^[a-z0-9][a-z0-9_-]{0,62}$`.
pub fn is_app_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && matches!(bytes[0], b'a'..=b'z' | b'0'..=b'9')
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        for ok in ["hello", "nova-poshta", "a", "0x_1", &"a".repeat(63)] {
            assert!(is_app_name(ok), "{ok} refused");
        }
        for bad in [
            "",
            "Hello",
            "-a",
            "_a",
            "a.b",
            "a/b",
            "..",
            "héllo",
            &"a".repeat(64),
        ] {
            assert!(!is_app_name(bad), "{bad} accepted");
        }
    }

    #[test]
    fn token_env_name() {
        assert_eq!(
            default_token_env("nova-poshta"),
            "KERUJ_APP_TOKEN_NOVA_POSHTA"
        );
    }

    #[test]
    fn token_compares_whole_value() {
        let token = Token::new("s3cret");
        assert!(token.matches(b"s3cret"));
        assert!(!token.matches(b"s3cre"));
        assert!(!token.matches(b"s3cret!"));
        assert!(!token.matches(b""));
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    }

    #[test]
    fn sidecar_sets_limits_and_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.toml");
        std::fs::write(
            &path,
            "token_env = \"DEMO_TOKEN_FOR_TEST\"\ntimeout_ms = 250\nmemory_mb = 16\nmax_concurrency = 3\nallowed_hosts = [\"api.example.com\"]\n[config]\nmode = \"test\"\n",
        )
        .unwrap();
        let settings = AppSettings::load("demo", &path).unwrap();
        assert_eq!(settings.limits.timeout, Duration::from_millis(250));
        assert_eq!(settings.limits.memory_bytes, 16 * 1024 * 1024);
        assert_eq!(settings.max_concurrency, 3);
        assert_eq!(&*settings.allowed_hosts, ["api.example.com"]);
        assert_eq!(settings.config["mode"], "test");
        assert_eq!(settings.token_source, "DEMO_TOKEN_FOR_TEST");
        assert!(settings.token.is_none());
    }

    #[test]
    fn sidecar_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.toml");
        std::fs::write(&path, "timeout = 5\n").unwrap();
        let err = AppSettings::load("demo", &path).unwrap_err().to_string();
        assert!(
            err.contains("demo.toml") && err.contains("timeout"),
            "{err}"
        );
        std::fs::write(&path, "memory_mb = 0\n").unwrap();
        assert!(AppSettings::load("demo", &path).is_err());
        std::fs::write(&path, "max_concurrency = 0\n").unwrap();
        let err = AppSettings::load("demo", &path).unwrap_err().to_string();
        assert!(err.contains("max_concurrency must be 1 to"), "{err}");
    }

    #[test]
    fn missing_sidecar_means_defaults() {
        let settings = AppSettings::load("demo", Path::new("/nonexistent/demo.toml")).unwrap();
        assert_eq!(settings.limits, Limits::default());
        assert_eq!(settings.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        assert_eq!(settings.token_source, "KERUJ_APP_TOKEN_DEMO");
    }
}
