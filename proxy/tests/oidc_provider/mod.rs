//! A small OpenID Connect provider for the sign-in tests, built from `openidconnect`'s provider
//! side: discovery, JWKS, an authorize endpoint that signs "Ada" in at once, a token endpoint
//! that checks the client secret, the code (once) and PKCE, and userinfo. It can be told to
//! misbehave the ways an attacker or a broken provider would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use openidconnect::{
    AccessToken, Audience, AuthUrl, EmptyAdditionalClaims, EmptyAdditionalProviderMetadata,
    EmptyExtraTokenFields, IssuerUrl, JsonWebKeyId, JsonWebKeySetUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, PrivateSigningKey as _, ResponseTypes, StandardClaims, SubjectIdentifier,
    TokenUrl, UserInfoUrl,
    core::{
        CoreIdToken, CoreIdTokenClaims, CoreIdTokenFields, CoreJsonWebKeySet,
        CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType, CoreRsaPrivateSigningKey,
        CoreSubjectIdentifierType, CoreTokenResponse, CoreTokenType,
    },
};
use serde::Deserialize;
use serde_json::json;

pub const CLIENT_ID: &str = "ashley-test-client";
pub const CLIENT_SECRET: &str = "ashley-test-secret";
const PROVIDER_KEY: &str = include_str!("../fixtures/oidc-provider-key.pem");
const FORGER_KEY: &str = include_str!("../fixtures/oidc-forger-key.pem");

/// How the provider answers the token request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Honest,
    /// The id token is signed with a key the provider never published.
    Forged,
    /// The id token expired an hour ago.
    Expired,
    /// The id token names another issuer.
    ForeignIssuer,
    /// The id token is for another client.
    WrongAudience,
    /// The id token carries another sign-in's nonce.
    WrongNonce,
    /// The authorize endpoint reports that the person declined.
    Declined,
}

struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Shared {
    behaviour: Behaviour,
    subject: String,
    email: String,
    grants: HashMap<String, Grant>,
    next: u64,
    token_requests: u64,
}

#[derive(Clone)]
struct Provider {
    issuer: String,
    shared: Arc<Mutex<Shared>>,
}

pub struct OidcProvider {
    pub issuer: String,
    shared: Arc<Mutex<Shared>>,
}

impl OidcProvider {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared {
            behaviour: Behaviour::Honest,
            subject: "ada-0001".to_owned(),
            email: "ada@example.com".to_owned(),
            grants: HashMap::new(),
            next: 0,
            token_requests: 0,
        }));
        let provider = Provider {
            issuer: issuer.clone(),
            shared: Arc::clone(&shared),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(provider);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { issuer, shared }
    }

    pub fn behave(&self, behaviour: Behaviour) {
        self.shared.lock().unwrap().behaviour = behaviour;
    }

    /// Who the next sign-ins are.
    pub fn sign_in_as(&self, subject: &str, email: &str) {
        let mut shared = self.shared.lock().unwrap();
        shared.subject = subject.to_owned();
        shared.email = email.to_owned();
    }

    /// Spends every code handed out so far, as if someone had used them first.
    pub fn spend_codes(&self) {
        self.shared.lock().unwrap().grants.clear();
    }

    pub fn token_requests(&self) -> u64 {
        self.shared.lock().unwrap().token_requests
    }
}

fn key(pem: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("test-key".to_owned()))).unwrap()
}

async fn discovery(State(provider): State<Provider>) -> Json<serde_json::Value> {
    let issuer = &provider.issuer;
    let metadata = CoreProviderMetadata::new(
        IssuerUrl::new(issuer.clone()).unwrap(),
        AuthUrl::new(format!("{issuer}/authorize")).unwrap(),
        JsonWebKeySetUrl::new(format!("{issuer}/jwks")).unwrap(),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        EmptyAdditionalProviderMetadata {},
    )
    .set_token_endpoint(Some(TokenUrl::new(format!("{issuer}/token")).unwrap()))
    .set_userinfo_endpoint(Some(
        UserInfoUrl::new(format!("{issuer}/userinfo")).unwrap(),
    ));
    Json(serde_json::to_value(metadata).unwrap())
}

async fn jwks() -> Json<serde_json::Value> {
    let keys = CoreJsonWebKeySet::new(vec![key(PROVIDER_KEY).as_verification_key()]);
    Json(serde_json::to_value(keys).unwrap())
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// "Ada" is signed in at once; the browser goes back with a code (or the person declined).
async fn authorize(
    State(provider): State<Provider>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    assert_eq!(query.client_id, CLIENT_ID);
    assert_eq!(
        query.code_challenge_method.as_deref(),
        Some("S256"),
        "PKCE with S256"
    );
    let mut shared = provider.shared.lock().unwrap();
    let location = if shared.behaviour == Behaviour::Declined {
        format!(
            "{}?error=access_denied&error_description=The+user+said+no&state={}",
            query.redirect_uri, query.state
        )
    } else {
        shared.next += 1;
        let code = format!("code-{}", shared.next);
        shared.grants.insert(
            code.clone(),
            Grant {
                nonce: query.nonce,
                challenge: query.code_challenge.unwrap_or_default(),
                redirect_uri: query.redirect_uri.clone(),
            },
        );
        format!("{}?code={code}&state={}", query.redirect_uri, query.state)
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response()
}

async fn token(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let mut shared = provider.shared.lock().unwrap();
    shared.token_requests += 1;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    // client_secret_basic: base64("id:secret"); compared as the client would send it.
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if basic != expected {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    if form.grant_type != "authorization_code" {
        return token_error("unsupported_grant_type");
    }
    let Some(grant) = shared.grants.remove(&form.code) else {
        return token_error("invalid_grant");
    };
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(form.code_verifier));
    if challenge.as_str() != grant.challenge || form.redirect_uri != grant.redirect_uri {
        return token_error("invalid_grant");
    }
    let now = chrono::Utc::now();
    let (issuer, audience, expires, nonce, signer) = match shared.behaviour {
        Behaviour::Forged => (
            provider.issuer.clone(),
            CLIENT_ID,
            now + chrono::Duration::minutes(5),
            grant.nonce,
            FORGER_KEY,
        ),
        Behaviour::Expired => (
            provider.issuer.clone(),
            CLIENT_ID,
            now - chrono::Duration::hours(1),
            grant.nonce,
            PROVIDER_KEY,
        ),
        Behaviour::ForeignIssuer => (
            "http://evil.example".to_owned(),
            CLIENT_ID,
            now + chrono::Duration::minutes(5),
            grant.nonce,
            PROVIDER_KEY,
        ),
        Behaviour::WrongAudience => (
            provider.issuer.clone(),
            "another-client",
            now + chrono::Duration::minutes(5),
            grant.nonce,
            PROVIDER_KEY,
        ),
        Behaviour::WrongNonce => (
            provider.issuer.clone(),
            CLIENT_ID,
            now + chrono::Duration::minutes(5),
            "another-nonce".to_owned(),
            PROVIDER_KEY,
        ),
        Behaviour::Honest | Behaviour::Declined => (
            provider.issuer.clone(),
            CLIENT_ID,
            now + chrono::Duration::minutes(5),
            grant.nonce,
            PROVIDER_KEY,
        ),
    };
    let access_token = AccessToken::new(format!("access-{}", shared.subject));
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer).unwrap(),
        vec![Audience::new(audience.to_owned())],
        expires,
        now - chrono::Duration::minutes(1),
        StandardClaims::new(SubjectIdentifier::new(shared.subject.clone())),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let id_token = CoreIdToken::new(
        claims,
        &key(signer),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&access_token),
        None,
    )
    .unwrap();
    let response = CoreTokenResponse::new(
        access_token,
        CoreTokenType::Bearer,
        CoreIdTokenFields::new(Some(id_token), EmptyExtraTokenFields {}),
    );
    Json(serde_json::to_value(response).unwrap()).into_response()
}

/// The profile, as OpenID Connect's userinfo (names and picture are not in the id token).
async fn userinfo(State(provider): State<Provider>, headers: HeaderMap) -> Response {
    let shared = provider.shared.lock().unwrap();
    let expected = format!("Bearer access-{}", shared.subject);
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({
        "sub": shared.subject,
        "name": if shared.subject.starts_with("ada") { "Ada Lovelace" } else { "Someone Else" },
        "preferred_username": shared.subject,
        "email": shared.email,
        "email_verified": true,
        "picture": "https://avatars.example.com/ada.png",
    }))
    .into_response()
}
