//! The OpenAI-compatible provider: one pooled connection set, timeouts, retries with backoff, streaming.

use std::{
    sync::{Arc, Mutex, PoisonError, atomic::Ordering::Relaxed},
    time::Duration,
};

use reqwest::{
    Client, RequestBuilder, Response, Url,
    header::{AUTHORIZATION, HeaderValue},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use futures_util::future::BoxFuture;

use super::{
    ChatParams, Completion, Provider, ProviderError, ReplyStream,
    error::{describe, scrub_text},
};
use crate::{api::Mode, config::Config, logging::Throttle, metrics::Metrics, personas::Persona};

mod reply_stream;
mod wire;

use reply_stream::UpstreamReply;
use wire::{ChatBody, CompletionBody, ModerationBody, StreamOptions};

/// Retry-after values above this are not waited out: the person is told to come back instead.
const LONGEST_HONOURED_WAIT: Duration = Duration::from_secs(20);

/// The upstream: `Clone` shares the pool, the concurrency cap and the metrics.
#[derive(Clone)]
pub struct Upstream {
    client: Client,
    base_url: Url,
    model: String,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    retries: u32,
    retry_base: Duration,
    slots: Arc<Semaphore>,
    max_slots: usize,
    metrics: Arc<Metrics>,
    /// The configured key(s): scrubbed from every upstream failure before it is logged.
    secrets: Arc<[String]>,
    /// Failed calls: a provider that keeps failing the same way is logged once a minute.
    failures: Arc<Throttle>,
    /// What the last reachability check found wrong (`None`: nothing), to log only changes.
    probe: Arc<Mutex<Option<String>>>,
}

impl Upstream {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Result<Self, String> {
        let client = Client::builder()
            .connect_timeout(config.upstream_connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            // Each idle connection keeps hyper's read and write buffers and request channel
            // (~30 KB, heaptrack of the streams bench): after a burst of thousands of streams,
            // more than a few dozen warm ones only hold memory.
            .pool_max_idle_per_host(32)
            .tcp_nodelay(true)
            .user_agent(concat!("ashley-proxy/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        let authorization = match &config.api_key {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                    .map_err(|_| "OPENAI_API_KEY is not a valid header value".to_owned())?;
                // Keeps the value out of any Debug output, including HTTP-level traces.
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            client,
            base_url: config.base_url.clone(),
            model: config.model.clone(),
            authorization,
            timeout: config.upstream_timeout,
            retries: config.upstream_retries,
            retry_base: config.upstream_retry_base,
            slots: Arc::new(Semaphore::new(config.max_upstream_concurrency)),
            max_slots: config.max_upstream_concurrency,
            metrics,
            secrets: config
                .api_key
                .iter()
                .map(|key| key.expose().to_owned())
                .collect(),
            failures: Arc::new(Throttle::new(Duration::from_secs(60))),
            probe: Arc::new(Mutex::new(None)),
        })
    }

    fn url(&self, path: &str) -> Url {
        self.base_url
            .join(path)
            .unwrap_or_else(|_| self.base_url.clone())
    }

    fn post(&self, url: Url) -> RequestBuilder {
        let request = self.client.post(url);
        match &self.authorization {
            Some(value) => request.header(AUTHORIZATION, value.clone()),
            None => request,
        }
    }

    /// Waits for one of the capped upstream slots; requests queue here rather than fail.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, ProviderError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        self.metrics.upstream_queued.fetch_add(1, Relaxed);
        let permit = self.slots.clone().acquire_owned().await;
        self.metrics.upstream_queued.fetch_sub(1, Relaxed);
        permit.map_err(|_| ProviderError::ShuttingDown)
    }

    /// Sends with retries on 408/409/429/5xx and connection errors (at most `retries`),
    /// honouring retry-after. Only whole requests are retried: nothing has been forwarded yet.
    async fn send(&self, build: impl Fn() -> RequestBuilder) -> Result<Response, ProviderError> {
        let mut attempt = 0;
        loop {
            self.metrics.upstream_requests.fetch_add(1, Relaxed);
            let failure = match tokio::time::timeout(self.timeout, build().send()).await {
                Err(_elapsed) => ProviderError::Timeout,
                Ok(Ok(response)) if response.status().is_success() => return Ok(response),
                Ok(Ok(response)) => ProviderError::from_response(response).await,
                // Before `is_timeout`: a connect timeout sent nothing, so it is retried like a
                // refused connection and reported as unreachable, not as a slow answer.
                Ok(Err(err)) if err.is_connect() => ProviderError::Connect(self.host()),
                Ok(Err(err)) if err.is_timeout() => ProviderError::Timeout,
                Ok(Err(err)) => ProviderError::Transport(describe(&err)),
            }
            .redact(&self.secrets);
            let wait = match failure.retry_delay(attempt, self.retry_base) {
                Some(wait) if attempt < self.retries && wait <= LONGEST_HONOURED_WAIT => wait,
                _ => {
                    self.metrics.upstream_failures.fetch_add(1, Relaxed);
                    let line = failure.log_line();
                    if let Some(left_out) = self.failures.due(&line) {
                        tracing::warn!(attempt, left_out, "upstream call failed: {line}");
                    }
                    return Err(failure);
                }
            };
            tracing::info!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying upstream call: {}",
                failure.log_line()
            );
            self.metrics.upstream_retries.fetch_add(1, Relaxed);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn host(&self) -> String {
        self.base_url
            .host_str()
            .unwrap_or("the configured address")
            .to_owned()
    }

    /// Starts a streamed completion; returns once the upstream answered with 200.
    async fn stream_chat(&self, params: &ChatParams) -> Result<UpstreamReply, ProviderError> {
        let permit = self.slot().await?;
        let body = serde_json::to_vec(&ChatBody {
            model: &self.model,
            messages: &params.messages,
            temperature: params.temperature,
            max_tokens: params.max_tokens,
            stream: true,
            stream_options: Some(StreamOptions {
                include_usage: true,
            }),
        })
        .map_err(|err| ProviderError::Transport(err.to_string()))?;
        let url = self.url("chat/completions");
        // Boxed: the sending state (timers, retries, the pending request) is large and needed
        // only until the answer starts; unboxed it would sit in every streaming reply's task.
        let response = Box::pin(self.send(|| {
            self.post(url.clone())
                .header("content-type", "application/json")
                .body(body.clone())
        }))
        .await?;
        Ok(UpstreamReply::new(
            response,
            self.secrets.clone(),
            self.timeout,
            permit,
        ))
    }

    /// POSTs a JSON body (with retries, see `send`) and parses the whole JSON answer;
    /// `what` names the body in protocol errors. Crate-wide for the guard model's check.
    pub(crate) async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        url: Url,
        body: Vec<u8>,
        what: &str,
    ) -> Result<T, ProviderError> {
        let response = self
            .send(|| {
                self.post(url.clone())
                    .header("content-type", "application/json")
                    .body(body.clone())
            })
            .await?;
        let bytes = tokio::time::timeout(self.timeout, response.bytes())
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(|err| ProviderError::Transport(describe(&err)))?;
        serde_json::from_slice(&bytes)
            .map_err(|err| ProviderError::Protocol(format!("{what}: {err}")))
    }

    /// A whole completion in one response.
    async fn complete_chat(&self, params: &ChatParams) -> Result<Completion, ProviderError> {
        let _permit = self.slot().await?;
        let body = serde_json::to_vec(&ChatBody {
            model: &self.model,
            messages: &params.messages,
            temperature: params.temperature,
            max_tokens: params.max_tokens,
            stream: false,
            stream_options: None,
        })
        .map_err(|err| ProviderError::Transport(err.to_string()))?;
        let parsed: CompletionBody = self
            .post_json(self.url("chat/completions"), body, "completion body")
            .await?;
        let choice = parsed.choices.into_iter().next();
        let finish_reason = choice
            .as_ref()
            .and_then(|choice| choice.finish_reason.clone())
            .unwrap_or_else(|| "stop".to_owned());
        let content = choice
            .and_then(|choice| choice.message)
            .and_then(|message| message.content)
            .unwrap_or_default();
        Ok(Completion {
            model: if parsed.model.is_empty() {
                self.model.clone()
            } else {
                parsed.model
            },
            content,
            finish_reason,
            usage: parsed.usage,
        })
    }

    /// Asks `{base}/moderations` about `input`; the flagged category names, empty when clean.
    pub async fn moderate(
        &self,
        base: &Url,
        model: &str,
        input: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let url = base.join("moderations").unwrap_or_else(|_| base.clone());
        let body = serde_json::to_vec(&serde_json::json!({"model": model, "input": input}))
            .map_err(|err| ProviderError::Transport(err.to_string()))?;
        let parsed: ModerationBody = self.post_json(url, body, "moderation body").await?;
        let Some(result) = parsed.results.into_iter().next() else {
            return Err(ProviderError::Protocol(
                "moderation body has no results".to_owned(),
            ));
        };
        if !result.flagged {
            return Ok(Vec::new());
        }
        let mut flagged: Vec<String> = result
            .categories
            .into_iter()
            .filter_map(|(name, hit)| hit.then_some(name))
            .collect();
        if flagged.is_empty() {
            flagged.push("policy".to_owned());
        }
        Ok(flagged)
    }

    /// A cheap reachability check: `GET {base}/models` answers 2xx within 5 s.
    /// `GET models` with the key: whether the provider answers. What it finds wrong is logged
    /// when it changes (so once at start, not on every check), naming the setting to fix.
    async fn reachable(&self) -> bool {
        let mut request = self
            .client
            .get(self.url("models"))
            .timeout(Duration::from_secs(5));
        if let Some(value) = &self.authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        let problem = match request.send().await {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(match response.status().as_u16() {
                401 | 403 => format!(
                    "the model provider at {} refuses the key (HTTP {}): every message will fail until OPENAI_API_KEY (or HF_TOKEN) is corrected",
                    self.host(),
                    response.status().as_u16()
                ),
                status => format!(
                    "the model provider at {} answers GET models with HTTP {status}; if messages fail too, check OPENAI_BASE_URL",
                    self.host()
                ),
            }),
            Err(err) => Some(format!(
                "cannot reach the model provider at {} ({}); messages will fail until it answers. Check OPENAI_BASE_URL if it is not expected to be down",
                self.host(),
                scrub_text(&describe(&err), &self.secrets)
            )),
        };
        let reachable = problem.is_none();
        let mut last = self.probe.lock().unwrap_or_else(PoisonError::into_inner);
        if *last != problem {
            match &problem {
                Some(problem) => tracing::warn!("{problem}"),
                None => tracing::info!("the model provider at {} answers", self.host()),
            }
            *last = problem;
        }
        reachable
    }
}

impl Provider for Upstream {
    fn mode(&self) -> Mode {
        Mode::Live
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn stream<'a>(
        &'a self,
        _persona: &'a Persona,
        params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<ReplyStream, ProviderError>> {
        Box::pin(async move {
            match self.stream_chat(params).await {
                Ok(reply) => Ok(reply.into_stream()),
                Err(err) => Err(err.for_chat(&self.model)),
            }
        })
    }

    fn complete<'a>(
        &'a self,
        _persona: &'a Persona,
        params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            self.complete_chat(params)
                .await
                .map_err(|err| err.for_chat(&self.model))
        })
    }

    fn in_flight(&self) -> usize {
        self.max_slots
            .saturating_sub(self.slots.available_permits())
    }

    fn check_reachable(&self) -> BoxFuture<'_, Option<bool>> {
        Box::pin(async { Some(self.reachable().await) })
    }
}
