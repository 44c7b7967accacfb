//! The test harness: a real server on an ephemeral port, a real HTTP client,
//! and a real database per test (PostgreSQL or SQLite, never a mock).

pub mod child;
pub mod cluster;
pub mod collector;
pub mod command;
pub mod database;
pub mod raw;
pub mod stats;
pub mod yaml;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use rescind::config::{Settings, TlsMode};
use rescind::domain::client::{ClientId, ClientKind};
use rescind::domain::clock::{AdjustableClock, Clock as _, SystemClock};
use rescind::domain::minted::TokenFormat;
use rescind::domain::secret::ClientSecret;
use rescind::provisioning::{self, GrantTemplate, MintedGrant};
use rescind::server::Server;
use rescind::storage::Store;
use tokio::sync::oneshot;

pub use self::database::{Backend, TestDatabase};

/// Generates one `#[tokio::test]` per backend for each scenario
/// `async fn name(backend: Backend)` of the calling module.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::helpers::Backend::Postgres).await;
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
    };
}

/// The current time, from the same clock the server uses.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    SystemClock.now()
}

/// The issuer of test servers.
pub const ISSUER: &str = "https://rescind.test";

/// A running server with its own database.
pub struct TestApp {
    pub address: SocketAddr,
    /// `http://127.0.0.1:port` (tests run in `tls.mode = "proxy"` unless they
    /// ask for TLS).
    pub base_url: String,
    /// The admin listener, when the settings asked for one ([`with_admin`]).
    pub admin_url: Option<String>,
    pub http: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub db: Arc<TestDatabase>,
    pub settings: Settings,
    /// The server's clock: the wall clock, which a test can move ahead.
    pub clock: Arc<AdjustableClock>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Settings every test server starts from: proxy mode on loopback port 0.
pub fn base_settings(db: &TestDatabase) -> Settings {
    let mut settings = Settings {
        issuer: ISSUER.to_owned(),
        data_dir: db.data_dir().to_owned(),
        ..Settings::default()
    };
    settings.database.url = Some(db.url().into());
    // The production default, so that the batch workers are too.
    settings.database.max_connections = 8;
    settings.database.timeout = Duration::from_secs(5);
    settings.tls.mode = TlsMode::Proxy;
    settings.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.auth.argon2_concurrency = Some(2);
    // Many tests fail authentication on purpose from one address; the
    // lockout has its own tests (tests/api/limits.rs), with the defaults.
    settings.rate_limit.failed_auth_per_client = 0;
    settings.rate_limit.failed_auth_per_address = 0;
    settings
}

/// The admin bearer token of test servers started with [`with_admin`].
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghijklmnop";

/// Turns the admin listener on (loopback, port 0) with [`ADMIN_TOKEN`].
pub fn with_admin(settings: &mut Settings) {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| {
        rescind::auth::hash_secret(&ClientSecret::new(ADMIN_TOKEN.to_owned()))
            .unwrap_or_else(|e| panic!("hash: {e}"))
            .as_phc()
            .to_owned()
    });
    settings.admin.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    settings.admin.token_hash = Some(hash.clone().into());
}

impl TestApp {
    /// Waits until every configured webhook endpoint's cursor exists: its
    /// dispatcher has run once, and an event from now on is delivered (the
    /// cursor starts at the outbox's head). At most ten seconds.
    pub async fn wait_for_webhook_cursors(&self) {
        let endpoints = i64::try_from(self.settings.events.webhooks.len()).unwrap_or(i64::MAX);
        let started = std::time::Instant::now();
        while self.db.count("SELECT count(*) FROM webhook_cursors").await < endpoints {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the webhook dispatcher never ran"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// A server with the default test settings.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server whose settings `adjust` changes first.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDatabase::create(backend).await;
        Self::spawn_on(db, adjust).await
    }

    /// A server on an existing database.
    pub async fn spawn_on(db: TestDatabase, adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = base_settings(&db);
        adjust(&mut settings);
        Self::start(Arc::new(db), settings).await
    }

    /// A second instance on the same database and settings, as behind a load
    /// balancer.
    pub async fn spawn_beside(other: &Self) -> Self {
        Self::start(other.db.clone(), other.settings.clone()).await
    }

    async fn start(db: Arc<TestDatabase>, settings: Settings) -> Self {
        settings
            .validate()
            .unwrap_or_else(|error| panic!("test settings are invalid: {error}"));
        let store = rescind::server::open_store(&settings)
            .await
            .unwrap_or_else(|e| panic!("cannot open store: {e}"));
        let listener = std::net::TcpListener::bind(settings.server.listen)
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let clock = Arc::new(AdjustableClock::default());
        let mut server = Server::build(&settings, store.clone(), listener, clock.clone())
            .unwrap_or_else(|e| panic!("build: {e}"));
        if let Some(admin) = settings.admin.listen {
            let listener =
                std::net::TcpListener::bind(admin).unwrap_or_else(|e| panic!("bind admin: {e}"));
            server = server
                .with_admin(listener)
                .unwrap_or_else(|e| panic!("admin: {e}"));
        }
        let admin_address = server
            .admin_addr()
            .unwrap_or_else(|e| panic!("admin_addr: {e}"));
        let address = server
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let scheme = if server.is_tls() { "https" } else { "http" };
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = tokio::spawn(server.run(async move {
            let _ = signal.await;
        }));
        Self {
            address,
            admin_url: admin_address.map(|admin| format!("{scheme}://{admin}")),
            base_url: format!("{scheme}://{address}"),
            http: http_client(None),
            store,
            db,
            clock,
            settings,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Signals shutdown and waits for the server to drain; `true` when it
    /// stopped cleanly within `within`.
    pub async fn stop(&mut self, within: Duration) -> bool {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.server.take() {
            Some(server) => matches!(tokio::time::timeout(within, server).await, Ok(Ok(Ok(())))),
            None => false,
        }
    }

    /// POSTs a form-encoded body (already encoded) to the revocation endpoint.
    pub async fn revoke_raw(
        &self,
        body: impl Into<String>,
        headers: HeaderMap,
    ) -> reqwest::Response {
        self.http
            .post(self.url(&format!("{}/oauth2/revoke", self.settings.issuer_path())))
            .header("content-type", "application/x-www-form-urlencoded")
            .headers(headers)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"))
    }

    /// POSTs form parameters to the revocation endpoint.
    pub async fn revoke(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.revoke_raw(encode(params), HeaderMap::new()).await
    }

    /// POSTs form parameters with HTTP Basic client credentials.
    pub async fn revoke_basic(
        &self,
        id: &str,
        secret: &str,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        self.revoke_raw(encode(params), basic_header(id, secret))
            .await
    }

    /// An admin API request to `path` with the admin bearer token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.admin_without_token(method, path)
            .bearer_auth(ADMIN_TOKEN)
    }

    /// An admin API request to `path` without credentials.
    pub fn admin_without_token(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let base = self
            .admin_url
            .as_deref()
            .unwrap_or_else(|| panic!("this test server has no admin listener"));
        self.http.request(method, format!("{base}{path}"))
    }

    /// Sends an admin request and returns its status and JSON body.
    pub async fn admin_json(&self, request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("admin request failed: {e}"));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.admin_without_token(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .unwrap_or_else(|e| panic!("metrics: {e}"))
            .text()
            .await
            .unwrap_or_default()
    }

    /// Revokes every grant of `client` through the admin API (bulk revocation).
    pub async fn revoke_all_grants_of(&self, client: &str) {
        let (status, body) = self
            .admin_json(
                self.admin(reqwest::Method::POST, "/admin/revocations")
                    .json(&serde_json::json!({ "client_id": client })),
            )
            .await;
        assert_eq!(status, 200, "bulk revocation: {body}");
    }

    /// Disables a client through the same code as the CLI.
    pub async fn disable_client(&self, id: &str) {
        let id = ClientId::parse(id).unwrap_or_else(|e| panic!("bad test client id: {e}"));
        let update = rescind::domain::audit::ClientUpdate {
            disabled: Some(true),
            ..Default::default()
        };
        provisioning::update_client(self.store.as_ref(), &id, &update, now())
            .await
            .unwrap_or_else(|e| panic!("disable: {e}"));
    }

    /// Registers Shared Signals receiver `id` through the same code as the
    /// CLI; returns its credential.
    pub async fn ssf_receiver(&self, id: &str) -> String {
        let store: &dyn rescind::storage::SharedSignalsStore = self.store.as_ref();
        let id = rescind::domain::shared_signals::ReceiverId::parse(id)
            .unwrap_or_else(|| panic!("bad test receiver id {id:?}"));
        let (_, credential) =
            rescind::shared_signals::receivers::add_receiver(store, id, None, &[], now())
                .await
                .unwrap_or_else(|e| panic!("add receiver: {e}"));
        credential.expose().to_owned()
    }

    /// Registers a client through the same code as the CLI; returns its secret.
    pub async fn create_client(&self, id: &str, kind: ClientKind) -> Option<ClientSecret> {
        let id = ClientId::parse(id).unwrap_or_else(|e| panic!("bad test client id: {e}"));
        let new = provisioning::NewClient::plain(id, kind);
        provisioning::create_client(self.store.as_ref(), new, now())
            .await
            .unwrap_or_else(|e| panic!("create_client: {e}"))
    }

    /// A confidential client; returns its secret.
    pub async fn confidential_client(&self, id: &str) -> String {
        let secret = self.create_client(id, ClientKind::Confidential).await;
        secret.map_or_else(|| panic!("no secret generated"), |s| s.expose().to_owned())
    }

    /// A confidential client marked as a resource server (it may
    /// introspect); returns its secret.
    pub async fn resource_server(&self, id: &str) -> String {
        let id = ClientId::parse(id).unwrap_or_else(|e| panic!("bad test client id: {e}"));
        let new = provisioning::NewClient {
            resource_server: true,
            ..provisioning::NewClient::plain(id, ClientKind::Confidential)
        };
        let secret = provisioning::create_client(self.store.as_ref(), new, now())
            .await
            .unwrap_or_else(|e| panic!("create_client: {e}"));
        secret.map_or_else(|| panic!("no secret generated"), |s| s.expose().to_owned())
    }

    /// Mints one grant for `client` with the default lifetimes.
    pub async fn grant(&self, client: &str) -> MintedGrant {
        self.grant_with_ttl(client, 3600).await
    }

    /// Mints one grant whose tokens live `ttl_secs` (0: already expired).
    pub async fn grant_with_ttl(&self, client: &str, ttl_secs: u64) -> MintedGrant {
        let mut minted = self.grants_with_ttl(client, ttl_secs, 1).await;
        minted.pop().unwrap_or_else(|| panic!("no grant minted"))
    }

    /// `count` grants in one transaction (for load tests).
    pub async fn grants_with_ttl(
        &self,
        client: &str,
        ttl_secs: u64,
        count: usize,
    ) -> Vec<MintedGrant> {
        let template = GrantTemplate {
            client_id: ClientId::parse(client).unwrap_or_else(|e| panic!("bad client id: {e}")),
            subject: "alice".to_owned(),
            scope: Some("openid".to_owned()),
            origin: rescind::domain::grant::GrantOrigin::default(),
            access_ttl_secs: ttl_secs,
            refresh_ttl_secs: ttl_secs,
        };
        provisioning::issue_grants(
            self.store.as_ref(),
            &self.token_format(),
            &template,
            count,
            now(),
        )
        .await
        .unwrap_or_else(|e| panic!("issue_grants: {e}"))
    }

    pub fn token_format(&self) -> TokenFormat {
        TokenFormat::new(
            &self.settings.tokens.access_prefix,
            &self.settings.tokens.refresh_prefix,
        )
        .unwrap_or_else(|e| panic!("prefixes: {e}"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Serves `router` on 127.0.0.1, port 0, for the rest of the test (a
/// webhook receiver, a key server, a collector); returns its address.
pub async fn serve_on_loopback(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("address: {e}"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    listener
        .local_addr()
        .map_or_else(|e| panic!("{e}"), |a| a.port())
}

/// GETs `path` and returns the status, headers and JSON body (`null` if none).
pub async fn get_json(app: &TestApp, path: &str) -> (u16, HeaderMap, serde_json::Value) {
    let response = app
        .http
        .get(app.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (
        status,
        headers,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// Stores a grant of `client` with tokens given as (value, kind, issued at,
/// lifetime in seconds): for rotated, expired or foreign-shaped tokens.
pub async fn insert_grant(
    app: &TestApp,
    client: &str,
    tokens: &[(
        &str,
        rescind::domain::token::TokenKind,
        chrono::DateTime<chrono::Utc>,
        u64,
    )],
) {
    use rescind::domain::grant::{GrantId, GrantOrigin, NewGrant};
    let created_at = tokens.iter().map(|token| token.2).min().unwrap_or_else(now);
    let grant = NewGrant {
        id: GrantId::generate(),
        client_id: ClientId::parse(client).unwrap_or_else(|e| panic!("{e}")),
        subject: "bob".to_owned(),
        scope: None,
        origin: GrantOrigin::default(),
        created_at,
        tokens: tokens
            .iter()
            .map(|&(value, kind, issued, ttl)| provisioning::new_token(value, kind, issued, ttl))
            .collect(),
    };
    app.store
        .issue_grants(&[grant])
        .await
        .unwrap_or_else(|e| panic!("issue_grants: {e}"));
}

/// A client that never follows redirects; `root` adds a trusted certificate.
pub fn http_client(root: Option<reqwest::Certificate>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30));
    if let Some(root) = root {
        builder = builder.add_root_certificate(root);
    }
    builder
        .build()
        .unwrap_or_else(|e| panic!("http client: {e}"))
}

/// Form-encodes parameters (RFC 6749 Appendix B).
pub fn encode(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(name, value)| format!("{}={}", form_escape(name), form_escape(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Form-escapes one value: unreserved characters stay, space is `+`.
pub fn form_escape(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// `Authorization: Basic` with both halves form-encoded first (RFC 6749 §2.3.1).
pub fn basic_header(id: &str, secret: &str) -> HeaderMap {
    use base64::Engine as _;
    let credentials = format!("{}:{}", form_escape(id), form_escape(secret));
    let value = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    header_map(&[("authorization", &value)])
}

/// Builds a header map from pairs.
pub fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let value = reqwest::header::HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}"));
        headers.append(name, value);
    }
    headers
}

/// Asserts the caching headers that every revocation answer carries (docs/behaviour.md, Answers every endpoint shares).
pub fn assert_no_store(response: &reqwest::Response) {
    assert_eq!(
        header(response, "cache-control"),
        Some("no-store"),
        "Cache-Control"
    );
    assert_eq!(header(response, "pragma"), Some("no-cache"), "Pragma");
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Asserts an OAuth error answer: status, error code, JSON type and no-store.
pub async fn assert_oauth_error(response: reqwest::Response, status: u16, code: &str) -> HeaderMap {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_no_store(&response);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    let headers = response.headers().clone();
    let body: serde_json::Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("error body is not JSON: {e}"));
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "error_description in {body}"
    );
    headers
}

/// Asserts a success answer: `200`, empty body, no-store.
pub async fn assert_revocation_ok(response: reqwest::Response) {
    assert_eq!(response.status().as_u16(), 200, "status");
    assert_no_store(&response);
    let body = response.bytes().await.unwrap_or_default();
    assert!(body.is_empty(), "a successful revocation has an empty body");
}
