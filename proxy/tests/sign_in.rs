//! Sign-in with OpenID Connect, end to end over HTTP against a provider that follows the spec
//! (and, on request, one that cheats): a guest's conversation moves into the account, a second
//! device sees it, sign-out and "delete my data" do what they say, and every bad answer from
//! the provider or the browser is refused with a page that says why, storing nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;
mod oidc_provider;

use std::net::SocketAddr;

use ashley_proxy::{
    AppState, Config,
    api::{Identity, Me, SessionList},
    config::{Accounts, Provider},
};
use oidc_provider::{Behaviour, CLIENT_ID, CLIENT_SECRET, OidcProvider};
use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::{Value, json};

const OPERATOR_KEY: &str = "operator-key-0123456789";
/// Calls `/v1` with the official openai SDK and a key (tests/sdk/api_key.py).
const SDK_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/sdk/api_key.py");

struct Site {
    addr: SocketAddr,
    state: AppState,
    provider: OidcProvider,
    _data: tempfile::TempDir,
}

impl Site {
    async fn start(change: impl FnOnce(&mut Provider)) -> Self {
        Self::start_with(change, |accounts| accounts).await
    }

    async fn start_with(
        change: impl FnOnce(&mut Provider),
        accounts: impl FnOnce(Accounts) -> Accounts,
    ) -> Self {
        let provider = OidcProvider::start().await;
        let data = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = Provider {
            issuer: provider.issuer.clone(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: Some(ashley_proxy::config::Secret::new(CLIENT_SECRET)),
            scopes: vec!["profile".to_owned(), "email".to_owned()],
            name: "Test ID".to_owned(),
            allowed_emails: Vec::new(),
            allowed_domains: Vec::new(),
        };
        change(&mut settings);
        let config = Config {
            data_dir: data.path().to_path_buf(),
            rate_limit_per_minute: 0,
            demo_delay: std::time::Duration::ZERO,
            public_url: Some(reqwest::Url::parse(&format!("http://{addr}")).unwrap()),
            accounts: accounts(Accounts {
                provider: Some(settings),
                api_keys: vec![ashley_proxy::config::Secret::new(OPERATOR_KEY)],
                ..Accounts::default()
            }),
            ..Config::default()
        };
        let state = AppState::new(config).unwrap();
        let serving = state.clone();
        tokio::spawn(async move {
            ashley_proxy::serve(listener, serving, std::future::pending()).await
        });
        Self {
            addr,
            state,
            provider,
            _data: data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A browser: keeps its cookies, follows nothing by itself (each hop is checked).
struct Browser {
    http: Client,
    cookies: Vec<(String, String)>,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: Client::builder()
                .no_proxy()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, value)| value.as_str())
    }

    fn forget_cookie(&mut self, name: &str) {
        self.cookies.retain(|(found, _)| found != name);
    }

    async fn request(&mut self, method: reqwest::Method, url: &str, body: Option<Value>) -> Answer {
        let mut request = self.http.request(method, url);
        if !self.cookies.is_empty() {
            let jar = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("cookie", jar);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.forget_cookie(name);
            if !attributes.contains("Max-Age=0") && !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Answer {
            status: response.status(),
            location: response
                .headers()
                .get("location")
                .map(|value| value.to_str().unwrap().to_owned()),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, url: &str) -> Answer {
        self.request(reqwest::Method::GET, url, None).await
    }

    async fn me(&mut self, site: &Site) -> Me {
        serde_json::from_str(&self.get(&site.url("/api/me")).await.body).unwrap()
    }

    /// Ashley's Sign in button, the provider, and back: the callback's answer.
    async fn sign_in(&mut self, site: &Site) -> Answer {
        let login = self.get(&site.url("/auth/login")).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
        let at_provider = login.location.unwrap();
        assert!(
            at_provider.starts_with(&site.provider.issuer),
            "{at_provider}"
        );
        assert!(
            self.cookie("ashley_sign_in").is_some(),
            "the sign-in is tied to this browser"
        );
        let back = self.get(&at_provider).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER);
        let callback = back.location.unwrap();
        assert!(
            callback.starts_with(&site.url("/auth/callback?")),
            "{callback}"
        );
        self.get(&callback).await
    }

    async fn chat(&mut self, site: &Site, message: &str) -> String {
        let created = self
            .request(reqwest::Method::POST, &site.url("/api/sessions"), None)
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let session: Value = serde_json::from_str(&created.body).unwrap();
        let session = session["session_id"].as_str().unwrap().to_owned();
        let reply = self
            .request(
                reqwest::Method::POST,
                &site.url(&format!("/api/sessions/{session}/messages")),
                Some(json!({"persona": "ashley", "message": message})),
            )
            .await;
        assert!(reply.body.contains("event: done"), "{}", reply.body);
        session
    }

    /// `POST /api/keys` with `name`: the answer as JSON (the key is in it, this once).
    async fn create_key(&mut self, site: &Site, name: &str) -> (StatusCode, Value) {
        let created = self
            .request(
                reqwest::Method::POST,
                &site.url("/api/keys"),
                Some(json!({ "name": name })),
            )
            .await;
        let body = serde_json::from_str(&created.body).unwrap_or(Value::Null);
        (created.status, body)
    }

    async fn sessions(&mut self, site: &Site) -> Vec<String> {
        let list: SessionList =
            serde_json::from_str(&self.get(&site.url("/api/sessions")).await.body).unwrap();
        list.sessions.into_iter().map(|s| s.session_id).collect()
    }
}

#[tokio::test]
async fn a_guest_signs_in_keeps_the_conversation_and_sees_it_on_a_second_device() {
    let site = Site::start(|_| {}).await;
    let mut laptop = Browser::new();
    let me = laptop.me(&site).await;
    assert_eq!(me.identity, Identity::Anonymous);
    assert_eq!(me.sign_in.as_ref().unwrap().provider, "Test ID");

    let session = laptop.chat(&site, "remember the plan").await;
    let guest_cookie = laptop.cookie("ashley_id").unwrap().to_owned();
    assert_eq!(laptop.me(&site).await.identity, Identity::Guest);

    let done = laptop.sign_in(&site).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/"));
    assert!(
        laptop.cookie("ashley_sign_in").is_none(),
        "the sign-in cookie is spent"
    );
    assert_ne!(
        laptop.cookie("ashley_id").unwrap(),
        guest_cookie,
        "a new credential"
    );
    let me = laptop.me(&site).await;
    assert_eq!(me.identity, Identity::User);
    assert_eq!(me.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(me.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        me.avatar_url.as_deref(),
        Some("https://avatars.example.com/ada.png")
    );
    assert_eq!(laptop.sessions(&site).await, vec![session.clone()]);
    let history = laptop
        .get(&site.url(&format!("/api/sessions/{session}")))
        .await;
    assert!(
        history.body.contains("remember the plan"),
        "{}",
        history.body
    );

    // The guest is gone: its old cookie is nobody now.
    let mut old = Browser::new();
    old.cookies.push(("ashley_id".to_owned(), guest_cookie));
    assert_eq!(old.me(&site).await.identity, Identity::Anonymous);

    // The same person on a phone: the same conversation.
    let mut phone = Browser::new();
    let done = phone.sign_in(&site).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(phone.sessions(&site).await, vec![session.clone()]);

    // Signing out on the laptop leaves the phone signed in.
    let out = laptop
        .request(reqwest::Method::POST, &site.url("/auth/logout"), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        laptop.cookie("ashley_id").is_none(),
        "the cookie is cleared"
    );
    assert_eq!(laptop.me(&site).await.identity, Identity::Anonymous);
    assert_eq!(phone.sessions(&site).await, vec![session.clone()]);

    // Delete my data: the account and the conversation, for real.
    let deleted = phone
        .request(reqwest::Method::DELETE, &site.url("/api/me"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(phone.me(&site).await.identity, Identity::Anonymous);
    assert_eq!(site.state.store().stats().await.unwrap().messages, 0);
    assert_eq!(site.state.store().stats().await.unwrap().sessions, 0);
    let again = phone.sign_in(&site).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(
        phone.sessions(&site).await.is_empty(),
        "a new, empty account"
    );
}

/// What a refused sign-in must look like: a page with this title, no credential, nobody
/// signed in.
async fn assert_refused(
    site: &Site,
    browser: &mut Browser,
    answer: &Answer,
    status: StatusCode,
    title: &str,
) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(
        answer.body.contains(&format!("<h1>{title}</h1>")),
        "expected a page titled {title:?}: {}",
        answer.body
    );
    assert!(
        browser.cookie("ashley_id").is_none(),
        "no credential was issued"
    );
    assert!(
        browser.cookie("ashley_sign_in").is_none(),
        "the attempt is over"
    );
    assert_eq!(browser.me(site).await.identity, Identity::Anonymous);
}

#[tokio::test]
async fn bad_answers_from_the_provider_are_refused_with_a_page_and_store_nothing() {
    let site = Site::start(|_| {}).await;
    for (behaviour, status) in [
        (Behaviour::Forged, StatusCode::UNAUTHORIZED),
        (Behaviour::Expired, StatusCode::UNAUTHORIZED),
        (Behaviour::ForeignIssuer, StatusCode::UNAUTHORIZED),
        (Behaviour::WrongAudience, StatusCode::UNAUTHORIZED),
        (Behaviour::WrongNonce, StatusCode::UNAUTHORIZED),
    ] {
        site.provider.behave(behaviour);
        let mut browser = Browser::new();
        let answer = browser.sign_in(&site).await;
        assert_refused(&site, &mut browser, &answer, status, "Sign-in failed").await;
        assert!(
            answer.body.contains("failed verification"),
            "{behaviour:?}: {}",
            answer.body
        );
    }
    site.provider.behave(Behaviour::Declined);
    let mut browser = Browser::new();
    let answer = browser.sign_in(&site).await;
    assert_refused(
        &site,
        &mut browser,
        &answer,
        StatusCode::UNAUTHORIZED,
        "Sign-in was not completed",
    )
    .await;
    assert!(answer.body.contains("The user said no"), "{}", answer.body);
    assert_eq!(site.state.store().stats().await.unwrap().sessions, 0);
}

#[tokio::test]
async fn a_wrong_state_a_replay_a_spent_code_or_another_browser_are_refused() {
    let site = Site::start(|_| {}).await;

    // A state nobody issued.
    let mut browser = Browser::new();
    let answer = browser
        .get(&site.url("/auth/callback?code=code-1&state=made-up"))
        .await;
    assert_refused(
        &site,
        &mut browser,
        &answer,
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
    )
    .await;

    // The provider's redirect followed in another browser (login CSRF): no sign-in cookie.
    let mut starter = Browser::new();
    let login = starter.get(&site.url("/auth/login")).await;
    let back = starter.get(&login.location.unwrap()).await;
    let callback = back.location.unwrap();
    let mut victim = Browser::new();
    let answer = victim.get(&callback).await;
    assert_refused(
        &site,
        &mut victim,
        &answer,
        StatusCode::BAD_REQUEST,
        "This sign-in was started in another browser",
    )
    .await;
    // ...and that attempt is used up, even for the browser that started it.
    let answer = starter.get(&callback).await;
    assert_refused(
        &site,
        &mut starter,
        &answer,
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
    )
    .await;

    // A finished sign-in replayed (the back button, or a leaked URL).
    let mut browser = Browser::new();
    let login = browser.get(&site.url("/auth/login")).await;
    let back = browser.get(&login.location.unwrap()).await;
    let callback = back.location.unwrap();
    let sign_in_cookie = browser.cookie("ashley_sign_in").unwrap().to_owned();
    assert_eq!(browser.get(&callback).await.status, StatusCode::SEE_OTHER);
    let mut replayer = Browser::new();
    replayer
        .cookies
        .push(("ashley_sign_in".to_owned(), sign_in_cookie));
    let answer = replayer.get(&callback).await;
    assert_refused(
        &site,
        &mut replayer,
        &answer,
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
    )
    .await;

    // A code someone else used first: the provider refuses it.
    let mut browser = Browser::new();
    let login = browser.get(&site.url("/auth/login")).await;
    let back = browser.get(&login.location.unwrap()).await;
    site.provider.spend_codes();
    let answer = browser.get(&back.location.unwrap()).await;
    assert_refused(
        &site,
        &mut browser,
        &answer,
        StatusCode::UNAUTHORIZED,
        "Sign-in failed",
    )
    .await;
    assert!(answer.body.contains("did not accept"), "{}", answer.body);
}

#[tokio::test]
async fn only_listed_addresses_may_sign_in() {
    let site = Site::start(|provider| {
        provider.allowed_domains = vec!["team.example.org".to_owned()];
        provider.allowed_emails = vec!["grace@example.com".to_owned()];
    })
    .await;
    let mut browser = Browser::new();
    let answer = browser.sign_in(&site).await;
    assert_refused(
        &site,
        &mut browser,
        &answer,
        StatusCode::FORBIDDEN,
        "This account may not sign in here",
    )
    .await;
    assert!(answer.body.contains("ada@example.com"), "{}", answer.body);

    site.provider.sign_in_as("grace-1", "grace@example.com");
    assert_eq!(browser.sign_in(&site).await.status, StatusCode::SEE_OTHER);
    site.provider.sign_in_as("bob-1", "bob@team.example.org");
    let mut other = Browser::new();
    assert_eq!(other.sign_in(&site).await.status, StatusCode::SEE_OTHER);
    assert_eq!(other.me(&site).await.identity, Identity::User);
}

#[tokio::test]
async fn the_desktop_app_gets_a_one_time_code_on_its_loopback_address() {
    let site = Site::start(|_| {}).await;
    // The app is a guest with a bearer token and a conversation.
    let guest = common::guest_client(site.addr).await;
    let created: Value = guest
        .post(site.url("/api/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = created["session_id"].as_str().unwrap().to_owned();
    let reply = guest
        .post(site.url(&format!("/api/sessions/{session}/messages")))
        .json(&json!({"persona": "ashley", "message": "from the desktop"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reply.contains("event: done"), "{reply}");

    let mut browser = Browser::new();
    let state = "desktopstate0123456789";
    let login = browser
        .get(&site.url(&format!(
            "/auth/login?client=desktop&port=49321&state={state}"
        )))
        .await;
    let back = browser.get(&login.location.unwrap()).await;
    let done = browser.get(&back.location.unwrap()).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let to_app = reqwest::Url::parse(&done.location.unwrap()).unwrap();
    assert_eq!(
        to_app.origin().ascii_serialization(),
        "http://127.0.0.1:49321"
    );
    assert_eq!(to_app.path(), "/callback");
    let query: std::collections::HashMap<_, _> = to_app.query_pairs().into_owned().collect();
    assert_eq!(query["state"], state);
    assert!(
        browser.cookie("ashley_id").is_none(),
        "the browser is not signed in by it"
    );

    // The app swaps the code (with its guest token) for its own token.
    let swapped = guest
        .post(site.url("/api/auth/token"))
        .json(&json!({"code": query["code"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(swapped.status(), StatusCode::CREATED);
    let token: Value = swapped.json().await.unwrap();
    let user = Client::builder().no_proxy().build().unwrap();
    let me: Me = user
        .get(site.url("/api/me"))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.identity, Identity::User);
    let list: SessionList = user
        .get(site.url("/api/sessions"))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list.sessions[0].session_id, session,
        "the app's guest conversation came along"
    );

    // The code works once.
    let again = guest
        .post(site.url("/api/auth/token"))
        .json(&json!({"code": query["code"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_sign_in_code");
}

#[tokio::test]
async fn with_guests_off_only_a_signed_in_person_chats() {
    let site = Site::start_with(
        |_| {},
        |accounts| Accounts {
            guests: false,
            ..accounts
        },
    )
    .await;
    let mut visitor = Browser::new();
    let me = visitor.me(&site).await;
    assert!(!me.guests_allowed);
    assert_eq!(me.identity, Identity::Anonymous);
    for path in ["/api/sessions", "/api/auth/guest"] {
        let refused = visitor
            .request(reqwest::Method::POST, &site.url(path), None)
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}");
        let body: Value = serde_json::from_str(&refused.body).unwrap();
        assert_eq!(body["error"]["code"], "sign_in_required", "{path}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("does not take guests"),
            "{body}"
        );
    }
    assert!(
        visitor.cookie("ashley_id").is_none(),
        "no guest identity was made"
    );
    assert_eq!(visitor.sign_in(&site).await.status, StatusCode::SEE_OTHER);
    visitor.chat(&site, "signed in, so welcome").await;
    assert_eq!(visitor.sessions(&site).await.len(), 1);
}

#[tokio::test]
async fn without_a_provider_sign_in_says_so_and_guests_still_chat() {
    let harness = common::Harness::demo_with(|config| config).await;
    let me: Me = harness.get("/api/me").await.json().await.unwrap();
    assert!(me.sign_in.is_none());
    let page = harness.get("/auth/login").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.text().await.unwrap().contains("Sign-in is not set up"));
    let session = harness.new_session().await;
    assert!(!harness.send(&session, "ashley", "hi").await.is_empty());
}

async fn v1_models(site: &Site, key: Option<&str>, cookie: Option<&str>) -> (StatusCode, Value) {
    let mut request = Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(site.url("/v1/models"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("ashley_id={cookie}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn api_keys_belong_to_accounts_are_shown_once_open_v1_and_stop_when_revoked() {
    let site = Site::start(|_| {}).await;
    let (status, body) = v1_models(&site, None, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "/v1 needs a key by default"
    );
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let (status, _) = v1_models(&site, Some("sk-ashley-not-a-real-key"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = v1_models(&site, Some(OPERATOR_KEY), None).await;
    assert_eq!(status, StatusCode::OK, "an operator key opens /v1");

    // A guest has no keys.
    let mut guest = Browser::new();
    guest.chat(&site, "hello").await;
    let (status, refused) = guest.create_key(&site, "x").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "account_required");

    let mut ada = Browser::new();
    assert_eq!(ada.sign_in(&site).await.status, StatusCode::SEE_OTHER);
    let (status, created) = ada.create_key(&site, " laptop ").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk-ashley-"), "{key}");
    assert_eq!(created["name"], "laptop");
    let listed = ada.get(&site.url("/api/keys")).await;
    assert!(
        !listed.body.contains(&key),
        "the key is shown once, never listed"
    );
    let listed: Value = serde_json::from_str(&listed.body).unwrap();
    assert_eq!(listed["keys"][0]["id"], id.as_str());
    assert_eq!(listed["keys"][0]["last_used_ms"], Value::Null);

    let (status, models) = v1_models(&site, Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{models}");
    let completion = Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(site.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "ashley", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(completion.status(), StatusCode::OK);
    // The official openai SDK, as a person would use the key.
    let sdk = |expect: &'static str| {
        let args = vec![site.url("/v1"), key.clone(), expect.to_owned()];
        common::run_openai_sdk(SDK_SCRIPT, args)
    };
    let answered = sdk("works")
        .await
        .unwrap_or_else(|output| panic!("{output}"));
    assert!(!answered.trim().is_empty());
    // The browser's cookie is no credential for /v1 (another site's page could send it).
    let cookie = ada.cookie("ashley_id").unwrap().to_owned();
    let (status, _) = v1_models(&site, None, Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    common::eventually("the key's last use is noted", async || {
        let listed: Value =
            serde_json::from_str(&ada.get(&site.url("/api/keys")).await.body).unwrap();
        listed["keys"][0]["last_used_ms"].is_i64().then_some(())
    })
    .await;

    // Somebody else cannot revoke it; its owner can, and then it opens nothing.
    site.provider.sign_in_as("eve-1", "eve@example.com");
    let mut eve = Browser::new();
    assert_eq!(eve.sign_in(&site).await.status, StatusCode::SEE_OTHER);
    let theft = eve
        .request(
            reqwest::Method::DELETE,
            &site.url(&format!("/api/keys/{id}")),
            None,
        )
        .await;
    assert_eq!(theft.status, StatusCode::NOT_FOUND);
    let (status, _) = v1_models(&site, Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "still Ada's, still working");
    let revoked = ada
        .request(
            reqwest::Method::DELETE,
            &site.url(&format!("/api/keys/{id}")),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let (status, body) = v1_models(&site, Some(&key), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let refused = sdk("refused")
        .await
        .unwrap_or_else(|output| panic!("{output}"));
    assert!(refused.contains("invalid_api_key"), "{refused}");
}

#[tokio::test]
async fn a_used_up_quota_is_a_429_with_the_reset_in_the_app_and_openai_s_shape_on_v1() {
    use ashley_proxy::config::{Limits, Quotas};
    let site = Site::start_with(
        |_| {},
        |accounts| Accounts {
            quotas: Quotas {
                user: Limits {
                    messages: 1,
                    tokens: 0,
                },
                guest: Limits {
                    messages: 1,
                    tokens: 0,
                },
            },
            ..accounts
        },
    )
    .await;
    // A guest in the app.
    let mut guest = Browser::new();
    let session = guest.chat(&site, "the only one today").await;
    let me = guest.me(&site).await;
    let quota = me.quota.unwrap();
    assert_eq!((quota.messages_used, quota.messages_limit), (1, 1));
    let refused = guest
        .request(
            reqwest::Method::POST,
            &site.url(&format!("/api/sessions/{session}/messages")),
            Some(json!({"persona": "ashley", "message": "one more"})),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("midnight UTC"),
        "{body}"
    );
    assert!(body["error"]["retry_after_secs"].as_u64().unwrap() <= 24 * 3600);

    // A user's key on /v1: OpenAI's insufficient_quota.
    let mut ada = Browser::new();
    assert_eq!(ada.sign_in(&site).await.status, StatusCode::SEE_OTHER);
    let (_, created) = ada.create_key(&site, "sdk").await;
    let key = created["key"].as_str().unwrap().to_owned();
    let client = Client::builder().no_proxy().build().unwrap();
    let ask = || {
        client
            .post(site.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "ashley", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    assert_eq!(ask().await.unwrap().status(), StatusCode::OK);
    let over = ask().await.unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(over.headers().contains_key("retry-after"));
    let body: Value = over.json().await.unwrap();
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert_eq!(body["error"]["code"], "insufficient_quota");
    // The operator's key has no budget.
    let operator = client
        .post(site.url("/v1/chat/completions"))
        .bearer_auth(OPERATOR_KEY)
        .json(&json!({"model": "ashley", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(operator.status(), StatusCode::OK);
}

/// `GET` as `browser` (its cookie), returning the status and the JSON body.
async fn admin_get(browser: &mut Browser, site: &Site, path: &str) -> (StatusCode, Value) {
    let answer = browser.get(&site.url(path)).await;
    let body = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    (answer.status, body)
}

async fn set_blocked(browser: &mut Browser, site: &Site, user: i64, blocked: bool) -> Answer {
    browser
        .request(
            reqwest::Method::PUT,
            &site.url(&format!("/api/admin/users/{user}/blocked")),
            Some(json!({ "blocked": blocked })),
        )
        .await
}

#[tokio::test]
async fn only_admins_reach_the_admin_panel_which_blocks_users_and_revokes_keys() {
    let site = Site::start_with(
        |_| {},
        |accounts| Accounts {
            admins: vec!["root-1".to_owned()],
            ..accounts
        },
    )
    .await;
    // Nobody, a guest and a signed-in user who is not listed are all refused, and learn nothing.
    let nobody = Client::builder().no_proxy().build().unwrap();
    let refused = nobody.get(site.url("/api/admin")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let mut guest = Browser::new();
    guest.chat(&site, "a guest's question").await;
    let (status, body) = admin_get(&mut guest, &site, "/api/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "admin_required");

    let mut ada = Browser::new();
    assert_eq!(ada.sign_in(&site).await.status, StatusCode::SEE_OTHER);
    ada.chat(&site, "Ada's question").await;
    assert!(!ada.me(&site).await.admin);
    let (_, created) = ada.create_key(&site, "laptop").await;
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    let (status, _) = admin_get(&mut ada, &site, "/api/admin?days=7").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (method, path, body) in [
        (
            reqwest::Method::PUT,
            "/api/admin/users/1/blocked".to_owned(),
            Some(json!({"blocked": true})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/admin/keys/{key_id}"),
            None,
        ),
    ] {
        let answer = ada.request(method, &site.url(&path), body).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.body
        );
        assert!(answer.body.contains("admin_required"), "{}", answer.body);
    }
    let (status, _) = v1_models(&site, Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "nothing was revoked");

    // The admin sees everyone's use, day by day, by persona and by user, and every key.
    site.provider.sign_in_as("root-1", "root@example.com");
    let mut root = Browser::new();
    assert_eq!(root.sign_in(&site).await.status, StatusCode::SEE_OTHER);
    assert!(root.me(&site).await.admin);
    let (status, report) = admin_get(&mut root, &site, "/api/admin?days=7").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let report: ashley_proxy::api::AdminReport = serde_json::from_value(report).unwrap();
    assert_eq!(report.days.len(), 7, "every day, the quiet ones too");
    let today = report.days.last().unwrap();
    assert_eq!((today.messages, today.active_users), (2, 2), "{today:?}");
    assert!(today.p50_ms.is_some());
    assert_eq!(report.totals.messages, 2);
    assert_eq!(report.totals.errors, 0);
    assert_eq!(report.personas.len(), 1);
    assert_eq!(report.personas[0].persona, "ashley");
    assert_eq!(report.personas[0].messages, 2);
    let ada_row = report
        .users
        .iter()
        .find(|user| user.name.as_deref() == Some("Ada Lovelace"))
        .unwrap();
    assert_eq!(
        (ada_row.messages, ada_row.guest, ada_row.admin),
        (1, false, false)
    );
    assert!(
        report
            .users
            .iter()
            .any(|user| user.guest && user.messages == 1),
        "the guest who chatted is listed: {:?}",
        report.users
    );
    let root_row = report.users.iter().find(|user| user.admin).unwrap();
    assert_eq!(
        root_row.messages, 0,
        "signed-in users are listed even when idle"
    );
    assert_eq!(report.keys.len(), 1);
    assert_eq!(report.keys[0].id, key_id);
    assert_eq!(report.keys[0].owner_name.as_deref(), Some("Ada Lovelace"));
    let (status, body) = admin_get(&mut root, &site, "/api/admin?days=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 to 90")
    );

    // Revoking Ada's key closes /v1 to it; a second revoke finds nothing.
    let url = site.url(&format!("/api/admin/keys/{key_id}"));
    let revoke = async |root: &mut Browser| {
        root.request(reqwest::Method::DELETE, &url, None)
            .await
            .status
    };
    assert_eq!(revoke(&mut root).await, StatusCode::NO_CONTENT);
    let (status, _) = v1_models(&site, Some(&key), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoke(&mut root).await, StatusCode::NOT_FOUND);

    // Blocking Ada ends her sign-in everywhere and refuses the next one; unblocking restores it.
    let refused = set_blocked(&mut root, &site, root_row.id, true).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "no blocking oneself"
    );
    let unknown = set_blocked(&mut root, &site, 999_999, true).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let blocked = set_blocked(&mut root, &site, ada_row.id, true).await;
    assert_eq!(blocked.status, StatusCode::NO_CONTENT, "{}", blocked.body);
    assert_eq!(ada.me(&site).await.identity, Identity::Anonymous);
    site.provider.sign_in_as("ada-0001", "ada@example.com");
    let mut ada_again = Browser::new();
    let page = ada_again.sign_in(&site).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("blocked"), "{}", page.body);
    let (_, report) = admin_get(&mut root, &site, "/api/admin").await;
    assert!(
        report["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|user| user["id"] == ada_row.id && user["blocked"] == true),
        "{report}"
    );
    let unblocked = set_blocked(&mut root, &site, ada_row.id, false).await;
    assert_eq!(unblocked.status, StatusCode::NO_CONTENT);
    let me = ada.me(&site).await;
    assert_eq!(me.identity, Identity::User);
    assert_eq!(
        ada.sessions(&site).await.len(),
        1,
        "her conversation is still hers"
    );
}
