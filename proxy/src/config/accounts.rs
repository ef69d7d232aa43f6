//! Accounts settings: the OpenID Connect provider people sign in with (a Space's Hugging Face
//! OAuth, or any provider), who may sign in, whether guests may chat, how long sign-ins last.

use clap::{Args, ValueEnum};
use reqwest::Url;

use super::{
    Secret,
    validate::{ConfigError, invalid},
};

/// The command-line half, flattened into [`super::Cli`].
#[derive(Args, Debug, Clone)]
pub struct AccountArgs {
    /// The OpenID Connect issuer; discovery is read from
    /// $OPENID_PROVIDER_URL/.well-known/openid-configuration. A Space with `hf_oauth: true`
    /// gets it (and the client id, secret and scopes) from Hugging Face.
    #[arg(long, env = "OPENID_PROVIDER_URL")]
    pub openid_provider_url: Option<String>,
    /// The client id registered with the provider.
    #[arg(long, env = "OAUTH_CLIENT_ID")]
    pub oauth_client_id: Option<String>,
    /// The client secret registered with the provider.
    #[arg(long, env = "OAUTH_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_client_secret: Option<String>,
    /// Scopes asked for, separated by spaces (`openid` is always asked).
    #[arg(long, env = "OAUTH_SCOPES", default_value = "openid profile")]
    pub oauth_scopes: String,
    /// The provider's name on the sign-in button; "Hugging Face" for huggingface.co, else the
    /// issuer's host name.
    #[arg(long, env = "ASHLEY_SIGN_IN_NAME")]
    pub sign_in_name: Option<String>,
    /// Only these e-mail addresses may sign in (comma-separated; empty: anyone the provider
    /// signs in). Needs the `email` scope.
    #[arg(long, env = "ASHLEY_ALLOWED_EMAILS", value_delimiter = ',')]
    pub allowed_emails: Vec<String>,
    /// Only addresses at these domains may sign in (comma-separated). Needs the `email` scope.
    #[arg(long, env = "ASHLEY_ALLOWED_DOMAINS", value_delimiter = ',')]
    pub allowed_domains: Vec<String>,
    /// Who sees the Admin panel (usage per day, persona and user; block a user, revoke a key):
    /// provider user names (a Hugging Face username) or e-mail addresses, comma-separated.
    #[arg(long, env = "ASHLEY_ADMINS", value_delimiter = ',')]
    pub admins: Vec<String>,
    /// `on`: visitors chat as guests until they sign in; `off`: sign-in is required.
    #[arg(long, env = "ASHLEY_GUESTS", value_enum, default_value_t = Guests::On)]
    pub guests: Guests,
    /// Days a sign-in (or a guest's identity) lasts before it must be renewed.
    #[arg(long, env = "ASHLEY_SESSION_DAYS", default_value_t = 30)]
    pub session_days: u32,
    /// The OpenAI-compatible `/v1`: `keys` (an API key is needed: a signed-in user's own, or
    /// one of ASHLEY_API_KEYS), `open` (anyone who can reach the proxy) or `off`.
    #[arg(long = "v1", env = "ASHLEY_V1", value_enum, default_value_t = V1Access::Keys)]
    pub v1: V1Access,
    /// A signed-in user's messages per day (UTC); 0: no limit.
    #[arg(long, env = "ASHLEY_DAILY_MESSAGES", default_value_t = 500)]
    pub daily_messages: u64,
    /// A signed-in user's tokens per day (as the provider counts them, else estimated); 0: no
    /// limit.
    #[arg(long, env = "ASHLEY_DAILY_TOKENS", default_value_t = 200_000)]
    pub daily_tokens: u64,
    /// A guest's messages per day; 0: no limit.
    #[arg(long, env = "ASHLEY_GUEST_DAILY_MESSAGES", default_value_t = 50)]
    pub guest_daily_messages: u64,
    /// A guest's tokens per day; 0: no limit.
    #[arg(long, env = "ASHLEY_GUEST_DAILY_TOKENS", default_value_t = 20_000)]
    pub guest_daily_tokens: u64,
    /// Other sites whose pages may call this API from the browser (CORS), comma-separated
    /// origins such as `https://tools.example.org`; none by default. They get no cookies: they
    /// call with a bearer token or an API key.
    #[arg(long, env = "ASHLEY_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Operator API keys for `/v1`, comma-separated (at least 16 characters each). Calls with
    /// them count toward no one's quota.
    #[arg(
        long,
        env = "ASHLEY_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,
}

/// A day's budget (0: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub messages: u64,
    pub tokens: u64,
}

/// Daily budgets: signed-in users', and smaller ones for guests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    pub user: Limits,
    pub guest: Limits,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            user: Limits {
                messages: 500,
                tokens: 200_000,
            },
            guest: Limits {
                messages: 50,
                tokens: 20_000,
            },
        }
    }
}

/// Who may call `/v1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum V1Access {
    Keys,
    Open,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Guests {
    On,
    Off,
}

/// An OpenID Connect provider, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// As given (an issuer is compared as a string: no slash is added).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// Beside `openid`.
    pub scopes: Vec<String>,
    /// "Hugging Face", "Google", ...: the button says "Sign in with {name}".
    pub name: String,
    /// Lower-cased; empty: anyone.
    pub allowed_emails: Vec<String>,
    /// Lower-cased, without `@`; empty: any domain.
    pub allowed_domains: Vec<String>,
}

impl Provider {
    /// Whether this e-mail address may sign in (`None`: the provider gave none).
    pub fn allows(&self, email: Option<&str>) -> bool {
        if self.allowed_emails.is_empty() && self.allowed_domains.is_empty() {
            return true;
        }
        let Some(email) = email.map(str::to_lowercase) else {
            return false;
        };
        let domain = email.rsplit_once('@').map(|(_, domain)| domain.to_owned());
        self.allowed_emails.contains(&email)
            || domain.is_some_and(|domain| self.allowed_domains.contains(&domain))
    }
}

/// The checked accounts settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accounts {
    /// `None`: nobody signs in; everyone is a guest.
    pub provider: Option<Provider>,
    pub guests: bool,
    pub session_days: u32,
    pub v1: V1Access,
    /// Operator keys for `/v1`.
    pub api_keys: Vec<Secret>,
    pub quotas: Quotas,
    /// Origins allowed to read answers from the browser (`scheme://host[:port]`).
    pub cors_origins: Vec<String>,
    /// User names and e-mail addresses of the admins, lower-cased.
    pub admins: Vec<String>,
}

impl Default for Accounts {
    fn default() -> Self {
        Self {
            provider: None,
            guests: true,
            session_days: 30,
            v1: V1Access::Keys,
            api_keys: Vec::new(),
            quotas: Quotas::default(),
            cors_origins: Vec::new(),
            admins: Vec::new(),
        }
    }
}

impl Accounts {
    /// Whether a signed-in user is listed in `ASHLEY_ADMINS`, by user name or e-mail address.
    pub fn is_admin(&self, user: &crate::store::UserProfile) -> bool {
        [user.username.as_deref(), user.email.as_deref()]
            .into_iter()
            .flatten()
            .any(|id| self.admins.contains(&id.trim().to_lowercase()))
    }

    /// Milliseconds a new credential lasts.
    pub fn credential_lifetime_ms(&self) -> i64 {
        i64::from(self.session_days) * 24 * 3600 * 1000
    }
}

fn cleaned(value: Option<&String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|value| value.trim().trim_start_matches('@').to_lowercase())
        .filter(|value| !value.is_empty())
        .collect()
}

impl AccountArgs {
    /// `public_url` is where the provider sends people back to (`/auth/callback`).
    pub(super) fn check(&self, public_url: Option<&Url>) -> Result<Accounts, ConfigError> {
        if self.session_days == 0 || self.session_days > 400 {
            return Err(invalid(
                "ASHLEY_SESSION_DAYS",
                "must be between 1 and 400 days",
            ));
        }
        let allowed_emails = list(&self.allowed_emails);
        let allowed_domains = list(&self.allowed_domains);
        let provider = match cleaned(self.openid_provider_url.as_ref()) {
            None => {
                if let Some(setting) = [
                    ("OAUTH_CLIENT_ID", self.oauth_client_id.is_some()),
                    ("ASHLEY_ALLOWED_EMAILS", !allowed_emails.is_empty()),
                    ("ASHLEY_ALLOWED_DOMAINS", !allowed_domains.is_empty()),
                    ("ASHLEY_ADMINS", !list(&self.admins).is_empty()),
                ]
                .into_iter()
                .find_map(|(setting, set)| set.then_some(setting))
                {
                    return Err(invalid(
                        setting,
                        "is set but OPENID_PROVIDER_URL is not: sign-in needs the provider's issuer URL",
                    ));
                }
                None
            }
            Some(issuer) => {
                Some(self.provider(&issuer, public_url, allowed_emails, allowed_domains)?)
            }
        };
        let guests = self.guests == Guests::On;
        if !guests && provider.is_none() {
            return Err(invalid(
                "ASHLEY_GUESTS",
                "is off, so everyone must sign in, but no provider is set (OPENID_PROVIDER_URL, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET)",
            ));
        }
        let api_keys = self
            .api_keys
            .iter()
            .map(|key| key.trim())
            .filter(|key| !key.is_empty())
            .map(|key| {
                if key.len() < 16 || key.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                    Err(invalid(
                        "ASHLEY_API_KEYS",
                        "each key must be at least 16 characters, without spaces",
                    ))
                } else {
                    Ok(Secret::new(key))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cors_origins = self
            .cors_origins
            .iter()
            .map(|origin| origin.trim().trim_end_matches('/'))
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let parsed = Url::parse(origin).ok().filter(|url| {
                    matches!(url.scheme(), "http" | "https")
                        && url.path() == "/"
                        && url.query().is_none()
                        && url.host_str().is_some()
                });
                match parsed {
                    Some(url) => Ok(url.origin().ascii_serialization()),
                    None => Err(invalid(
                        "ASHLEY_CORS_ORIGINS",
                        format!("{origin:?} is not an origin; give scheme and host, e.g. https://tools.example.org"),
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Accounts {
            admins: list(&self.admins),
            cors_origins,
            provider,
            guests,
            session_days: self.session_days,
            v1: self.v1,
            api_keys,
            quotas: Quotas {
                user: Limits {
                    messages: self.daily_messages,
                    tokens: self.daily_tokens,
                },
                guest: Limits {
                    messages: self.guest_daily_messages,
                    tokens: self.guest_daily_tokens,
                },
            },
        })
    }

    fn provider(
        &self,
        issuer: &str,
        public_url: Option<&Url>,
        allowed_emails: Vec<String>,
        allowed_domains: Vec<String>,
    ) -> Result<Provider, ConfigError> {
        let issuer_url = Url::parse(issuer)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| {
                invalid(
                    "OPENID_PROVIDER_URL",
                    format!("{issuer:?} is not an http(s) URL; give the provider's issuer, e.g. https://huggingface.co"),
                )
            })?;
        let client_id = cleaned(self.oauth_client_id.as_ref()).ok_or_else(|| {
            invalid(
                "OAUTH_CLIENT_ID",
                "must be set with OPENID_PROVIDER_URL (the id the provider gave this app)",
            )
        })?;
        if public_url.is_none() {
            return Err(invalid(
                "ASHLEY_PUBLIC_URL",
                "must be set when sign-in is configured: the provider sends people back to $ASHLEY_PUBLIC_URL/auth/callback (on a Space it defaults to https://$SPACE_HOST)",
            ));
        }
        let scopes = self
            .oauth_scopes
            .split_whitespace()
            .filter(|scope| *scope != "openid")
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if (!allowed_emails.is_empty() || !allowed_domains.is_empty())
            && !scopes.iter().any(|scope| scope == "email")
        {
            return Err(invalid(
                "OAUTH_SCOPES",
                "must include `email` when ASHLEY_ALLOWED_EMAILS or ASHLEY_ALLOWED_DOMAINS is set",
            ));
        }
        let host = issuer_url.host_str().unwrap_or_default().to_owned();
        let name = cleaned(self.sign_in_name.as_ref()).unwrap_or_else(|| {
            if host == "huggingface.co" || host.ends_with(".huggingface.co") {
                "Hugging Face".to_owned()
            } else {
                host
            }
        });
        Ok(Provider {
            issuer: issuer.to_owned(),
            client_id,
            client_secret: cleaned(self.oauth_client_secret.as_ref()).map(Secret::new),
            scopes,
            name,
            allowed_emails,
            allowed_domains,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args() -> AccountArgs {
        AccountArgs {
            openid_provider_url: None,
            oauth_client_id: None,
            oauth_client_secret: None,
            oauth_scopes: "openid profile".to_owned(),
            sign_in_name: None,
            allowed_emails: Vec::new(),
            allowed_domains: Vec::new(),
            guests: Guests::On,
            session_days: 30,
            v1: V1Access::Keys,
            api_keys: Vec::new(),
            daily_messages: 500,
            daily_tokens: 200_000,
            guest_daily_messages: 50,
            guest_daily_tokens: 20_000,
            cors_origins: Vec::new(),
            admins: Vec::new(),
        }
    }

    fn space() -> Url {
        Url::parse("https://ashley.hf.space").unwrap()
    }

    #[test]
    fn without_a_provider_everyone_is_a_guest() {
        let accounts = args().check(None).unwrap();
        assert_eq!(accounts, Accounts::default());
        let off = AccountArgs {
            guests: Guests::Off,
            ..args()
        };
        assert_eq!(off.check(None).unwrap_err().setting, "ASHLEY_GUESTS");
    }

    #[test]
    fn a_space_with_hf_oauth_signs_in_with_hugging_face() {
        let space_args = AccountArgs {
            openid_provider_url: Some("https://huggingface.co".to_owned()),
            oauth_client_id: Some("client".to_owned()),
            oauth_client_secret: Some("secret".to_owned()),
            ..args()
        };
        let provider = space_args.check(Some(&space())).unwrap().provider.unwrap();
        assert_eq!(provider.name, "Hugging Face");
        assert_eq!(provider.scopes, vec!["profile".to_owned()]);
        assert!(provider.allows(None), "no list: anyone");
        assert_eq!(format!("{:?}", provider.client_secret), "Some(<redacted>)");
    }

    #[test]
    fn half_a_configuration_names_the_missing_setting() {
        let missing_id = AccountArgs {
            openid_provider_url: Some("https://accounts.google.com".to_owned()),
            ..args()
        };
        assert_eq!(
            missing_id.check(Some(&space())).unwrap_err().setting,
            "OAUTH_CLIENT_ID"
        );
        let no_public_url = AccountArgs {
            oauth_client_id: Some("client".to_owned()),
            ..missing_id.clone()
        };
        assert_eq!(
            no_public_url.check(None).unwrap_err().setting,
            "ASHLEY_PUBLIC_URL"
        );
        let bad_issuer = AccountArgs {
            openid_provider_url: Some("accounts.google.com".to_owned()),
            ..no_public_url.clone()
        };
        assert_eq!(
            bad_issuer.check(Some(&space())).unwrap_err().setting,
            "OPENID_PROVIDER_URL"
        );
        let list_without_provider = AccountArgs {
            allowed_domains: vec!["example.org".to_owned()],
            ..args()
        };
        assert_eq!(
            list_without_provider.check(None).unwrap_err().setting,
            "ASHLEY_ALLOWED_DOMAINS"
        );
        let list_without_email = AccountArgs {
            allowed_domains: vec!["example.org".to_owned()],
            ..no_public_url
        };
        assert_eq!(
            list_without_email
                .check(Some(&space()))
                .unwrap_err()
                .setting,
            "OAUTH_SCOPES"
        );
    }

    #[test]
    fn cors_origins_are_origins() {
        let listed = AccountArgs {
            cors_origins: vec![
                "https://tools.example.org/".to_owned(),
                " http://127.0.0.1:3000 ".to_owned(),
            ],
            ..args()
        };
        assert_eq!(
            listed.check(None).unwrap().cors_origins,
            vec![
                "https://tools.example.org".to_owned(),
                "http://127.0.0.1:3000".to_owned()
            ]
        );
        for bad in [
            "tools.example.org",
            "https://x.example/app",
            "ftp://x.example",
        ] {
            let args = AccountArgs {
                cors_origins: vec![bad.to_owned()],
                ..args()
            };
            assert_eq!(
                args.check(None).unwrap_err().setting,
                "ASHLEY_CORS_ORIGINS",
                "{bad}"
            );
        }
    }

    #[test]
    fn allow_lists_match_addresses_and_domains_without_case() {
        let restricted = AccountArgs {
            openid_provider_url: Some("https://id.example.org".to_owned()),
            oauth_client_id: Some("client".to_owned()),
            oauth_scopes: "openid email".to_owned(),
            allowed_emails: vec![" Ada@Example.com ".to_owned()],
            allowed_domains: vec!["@team.example.org".to_owned()],
            ..args()
        };
        let provider = restricted.check(Some(&space())).unwrap().provider.unwrap();
        assert_eq!(provider.name, "id.example.org");
        assert!(provider.allows(Some("ada@example.com")));
        assert!(provider.allows(Some("Bob@TEAM.example.org")));
        assert!(!provider.allows(Some("eve@example.com")));
        assert!(!provider.allows(Some("eve@evilteam.example.org")));
        assert!(!provider.allows(None), "a list and no address: refused");
    }

    #[test]
    fn admins_are_named_by_user_name_or_address_and_need_a_provider() {
        let without_provider = AccountArgs {
            admins: vec!["ada".to_owned()],
            ..args()
        };
        assert!(
            without_provider
                .check(None)
                .unwrap_err()
                .to_string()
                .contains("ASHLEY_ADMINS")
        );
        let accounts = AccountArgs {
            openid_provider_url: Some("https://huggingface.co".to_owned()),
            oauth_client_id: Some("id".to_owned()),
            oauth_client_secret: Some("secret".to_owned()),
            admins: vec![
                " Ada ".to_owned(),
                "grace@Example.org".to_owned(),
                String::new(),
            ],
            ..args()
        }
        .check(Some(&space()))
        .unwrap();
        let user = |username: Option<&str>, email: Option<&str>| crate::store::UserProfile {
            username: username.map(str::to_owned),
            email: email.map(str::to_owned),
            ..crate::store::UserProfile::default()
        };
        assert!(accounts.is_admin(&user(Some("ada"), None)));
        assert!(accounts.is_admin(&user(None, Some("Grace@example.org"))));
        assert!(!accounts.is_admin(&user(Some("grace"), Some("ada@example.org"))));
        assert!(!accounts.is_admin(&user(None, None)));
    }
}
