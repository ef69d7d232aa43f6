//! Sign-in with an OpenID Connect provider (Hugging Face on a Space, or any other): discovery,
//! the authorization-code flow with PKCE, and the id token checked by `openidconnect` (issuer,
//! audience, expiry, nonce, and the signature against the provider's published keys).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
    core::{
        CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata,
        CoreUserInfoClaims,
    },
};
use reqwest::Url;
use tokio::sync::Mutex;

use crate::{config::Provider, store::UserProfile};

/// The client once discovery has filled in its endpoints.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Discovery (endpoints and signing keys) is read again after this long, so a provider's key
/// rotation is picked up; a signature that no known key verifies reads it at once.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// Why a sign-in did not complete, in words for the person at the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInError {
    /// The provider could not be reached or answered nonsense (discovery, token, userinfo).
    ProviderUnavailable(String),
    /// The provider refused to exchange the code: used already, expired, or not for us.
    CodeRejected(String),
    /// The id token failed a check: signature, issuer, audience, expiry or nonce.
    TokenInvalid(String),
}

impl std::fmt::Display for SignInError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ProviderUnavailable(reason) => {
                write!(formatter, "the sign-in provider is unavailable ({reason})")
            }
            Self::CodeRejected(reason) => write!(
                formatter,
                "the provider did not accept this sign-in; it may have been used already or have expired ({reason})"
            ),
            Self::TokenInvalid(reason) => write!(
                formatter,
                "the provider's answer failed verification ({reason})"
            ),
        }
    }
}

/// What the browser must carry to the provider, and what the callback needs to finish.
pub struct Begun {
    pub authorize_url: Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// One configured provider and its discovered endpoints.
pub struct Oidc {
    settings: Provider,
    redirect: RedirectUrl,
    http: reqwest::Client,
    discovered: Mutex<Option<(Instant, Arc<Client>)>>,
}

impl Oidc {
    /// `public_url` is where people reach Ashley; the provider sends them back to
    /// `{public_url}/auth/callback`.
    pub fn new(settings: Provider, public_url: &Url) -> Result<Self, String> {
        let callback = public_url
            .join("auth/callback")
            .map_err(|err| format!("no callback URL under {public_url}: {err}"))?;
        let redirect = RedirectUrl::new(callback.to_string()).map_err(|err| err.to_string())?;
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer send us anywhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|err| format!("no HTTP client for sign-in: {err}"))?;
        Ok(Self {
            settings,
            redirect,
            http,
            discovered: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &Provider {
        &self.settings
    }

    /// The client, discovered now if it never was or is stale (`fresh`: discover regardless).
    async fn client(&self, fresh: bool) -> Result<Arc<Client>, SignInError> {
        let mut discovered = self.discovered.lock().await;
        if let Some((at, client)) = discovered.as_ref()
            && !fresh
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(Arc::clone(client));
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|err| SignInError::ProviderUnavailable(err.to_string()))?;
        // Discovery also checks that the document names this issuer.
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|err| {
                SignInError::ProviderUnavailable(format!(
                    "discovery at {}/.well-known/openid-configuration failed: {}",
                    self.settings.issuer.trim_end_matches('/'),
                    error_chain(&err)
                ))
            })?;
        let client = Arc::new(
            CoreClient::from_provider_metadata(
                metadata,
                ClientId::new(self.settings.client_id.clone()),
                self.settings
                    .client_secret
                    .as_ref()
                    .map(|secret| ClientSecret::new(secret.expose().to_owned())),
            )
            .set_redirect_uri(self.redirect.clone()),
        );
        *discovered = Some((Instant::now(), Arc::clone(&client)));
        Ok(client)
    }

    /// Starts a sign-in: the provider's authorization URL with a fresh `state`, `nonce` and
    /// PKCE challenge.
    pub async fn begin(&self) -> Result<Begun, SignInError> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (authorize_url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Begun {
            authorize_url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: exchanges `code`, verifies the id token, reads the profile.
    pub async fn finish(
        &self,
        code: String,
        nonce: String,
        pkce_verifier: String,
    ) -> Result<UserProfile, SignInError> {
        let client = self.client(false).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|err| SignInError::ProviderUnavailable(err.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|err| match err {
                openidconnect::RequestTokenError::ServerResponse(response) => {
                    SignInError::CodeRejected(response.to_string())
                }
                other => SignInError::ProviderUnavailable(error_chain(&other)),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| SignInError::TokenInvalid("the provider sent no id token".to_owned()))?;
        let nonce = Nonce::new(nonce);
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // Maybe the provider rotated its keys since discovery: read them again, once.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = self.client(true).await?;
                id_token
                    .claims(&fresh.id_token_verifier(), &nonce)
                    .map_err(|err| SignInError::TokenInvalid(err.to_string()))?
                    .clone()
            }
            Err(err) => return Err(SignInError::TokenInvalid(err.to_string())),
        };
        if let Some(expected) = claims.access_token_hash() {
            let verifier = client.id_token_verifier();
            let invalid = |err: &dyn std::error::Error| SignInError::TokenInvalid(err.to_string());
            let alg = id_token.signing_alg().map_err(|err| invalid(&err))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|err| invalid(&err))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|err| invalid(&err))?;
            if actual != *expected {
                return Err(SignInError::TokenInvalid(
                    "the access token does not match the id token".to_owned(),
                ));
            }
        }
        let userinfo = match client.user_info(
            token.access_token().to_owned(),
            Some(claims.subject().clone()),
        ) {
            Ok(request) => {
                let info: CoreUserInfoClaims = request
                    .request_async(&self.http)
                    .await
                    .map_err(|err| SignInError::ProviderUnavailable(error_chain(&err)))?;
                Some(info)
            }
            // No userinfo endpoint: the id token's claims are all there is.
            Err(_) => None,
        };
        Ok(profile(&claims, userinfo.as_ref()))
    }
}

/// The person, from the id token and (preferred where it says more) the userinfo answer.
fn profile(claims: &CoreIdTokenClaims, userinfo: Option<&CoreUserInfoClaims>) -> UserProfile {
    let name = userinfo
        .and_then(|info| {
            info.name()
                .and_then(|name| name.get(None))
                .map(|name| name.to_string())
                .or_else(|| info.preferred_username().map(|user| user.to_string()))
        })
        .or_else(|| {
            claims
                .name()
                .and_then(|name| name.get(None))
                .map(|name| name.to_string())
        })
        .or_else(|| claims.preferred_username().map(|user| user.to_string()));
    let username = userinfo
        .and_then(|info| info.preferred_username())
        .or_else(|| claims.preferred_username())
        .map(|user| user.to_string());
    let email = userinfo
        .and_then(|info| verified_email(info.email(), info.email_verified()))
        .or_else(|| verified_email(claims.email(), claims.email_verified()));
    let avatar_url = userinfo
        .and_then(|info| info.picture().and_then(|picture| picture.get(None)))
        .or_else(|| claims.picture().and_then(|picture| picture.get(None)))
        .map(|url| url.to_string())
        .filter(|url| url.starts_with("https://"));
    UserProfile {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        name,
        username,
        email,
        avatar_url,
    }
}

/// An address the provider says it verified (one it does not claim to have checked proves
/// nothing for an allow list).
fn verified_email(
    email: Option<&openidconnect::EndUserEmail>,
    verified: Option<bool>,
) -> Option<String> {
    email
        .filter(|_| verified != Some(false))
        .map(|email| email.to_string())
}

/// An error with its sources, for a log line or a page.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
