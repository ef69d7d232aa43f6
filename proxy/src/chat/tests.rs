//! The chat core without HTTP: turns against the demo provider or a scripted one, on a temporary store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::{Duration, Instant},
};

use futures_util::{StreamExt as _, future::BoxFuture};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::*;
use crate::{
    api::{ErrorCode, Mode, Role},
    config::{Config, FailurePolicy, ModerationMode},
    personas::Persona,
    provider::{
        ChatParams, Completion, Demo, Finish, Piece, ProviderError, ReplyStream, Upstream, Usage,
    },
    store::{CredentialKind, OwnerId, TokenHash},
};

/// A provider that answers from a script and counts how often it was asked.
struct Scripted {
    open: Result<Vec<Result<Piece, ProviderError>>, ProviderError>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(open: Result<Vec<Result<Piece, ProviderError>>, ProviderError>) -> Arc<Self> {
        Arc::new(Self {
            open,
            calls: AtomicUsize::new(0),
        })
    }
}

impl Provider for Scripted {
    fn mode(&self) -> Mode {
        Mode::Live
    }

    fn model(&self) -> &str {
        "scripted"
    }

    fn stream<'a>(
        &'a self,
        _persona: &'a Persona,
        _params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<ReplyStream, ProviderError>> {
        self.calls.fetch_add(1, SeqCst);
        let opened = self
            .open
            .clone()
            .map(|pieces| futures_util::stream::iter(pieces).boxed());
        Box::pin(async move { opened })
    }

    fn complete<'a>(
        &'a self,
        _persona: &'a Persona,
        _params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        self.calls.fetch_add(1, SeqCst);
        Box::pin(async { Err(ProviderError::Timeout) })
    }
}

/// A provider with a small context: more than `max_messages` messages overflow it.
struct Tight {
    max_messages: usize,
    calls: AtomicUsize,
}

impl Provider for Tight {
    fn mode(&self) -> Mode {
        Mode::Live
    }

    fn model(&self) -> &str {
        "tight"
    }

    fn stream<'a>(
        &'a self,
        _persona: &'a Persona,
        params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<ReplyStream, ProviderError>> {
        self.calls.fetch_add(1, SeqCst);
        let opened = if params.messages.len() > self.max_messages {
            Err(ProviderError::ContextOverflow { limit: None })
        } else {
            let pieces = [
                Ok(Piece::Text("a long enough answer to count".to_owned())),
                Ok(Piece::End(Finish::default())),
            ];
            Ok(futures_util::stream::iter(pieces).boxed())
        };
        Box::pin(async move { opened })
    }

    fn complete<'a>(
        &'a self,
        _persona: &'a Persona,
        _params: &'a ChatParams,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async { Err(ProviderError::Timeout) })
    }
}

struct Fixture {
    chat: Chat,
    metrics: Arc<Metrics>,
    _dir: tempfile::TempDir,
}

async fn fixture(provider: Arc<dyn Provider>) -> Fixture {
    fixture_with(
        provider,
        crate::config::Quotas::default(),
        crate::chat::system_clock(),
    )
    .await
}

async fn fixture_with(
    provider: Arc<dyn Provider>,
    quotas: crate::config::Quotas,
    clock: crate::chat::Clock,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let metrics = Arc::new(Metrics::default());
    let upstream = Upstream::new(&config, metrics.clone()).unwrap();
    let store = crate::store::open(dir.path(), None).unwrap();
    // The owner `caller()` stands for.
    let owner = store
        .create_guest(TokenHash([1; 32]), CredentialKind::Cookie, i64::MAX)
        .await
        .unwrap();
    assert_eq!(owner, OWNER);
    let chat = Chat::new(ChatParts {
        store,
        provider,
        moderator: Moderator::new(
            &ModerationMode::Local,
            FailurePolicy::Closed,
            16,
            upstream,
            metrics.clone(),
        ),
        metrics: metrics.clone(),
        authorizer: Box::new(AllowAll),
        personas: config.personas.clone(),
        rate_limit_per_minute: 0,
        history_messages: 20,
        context_tokens: 0,
        guest_ttl: Duration::from_secs(3600),
        model_titles: false,
        guest_lifetime_ms: Some(3_600_000),
        quotas,
        clock,
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    });
    Fixture {
        chat,
        metrics,
        _dir: dir,
    }
}

/// The first owner the fixture's store makes.
const OWNER: OwnerId = OwnerId(1);

fn caller() -> Caller {
    Caller {
        ip: IpAddr::from([127, 0, 0, 1]),
        owner: Some(OWNER),
        presented: Some(CredentialKind::Bearer),
    }
}

fn send(session_id: &str, message: &str) -> Turn {
    Turn::Send {
        session_id: session_id.to_owned(),
        persona: "ashley".to_owned(),
        message: message.to_owned(),
    }
}

async fn all_events(mut reply: Reply) -> Vec<TurnEvent> {
    let mut events = Vec::new();
    while let Some(event) = reply.next().await {
        events.push(event);
    }
    events
}

fn text_of(events: &[TurnEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            TurnEvent::Delta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// How many replies the metrics counted for this API and outcome.
fn counted(metrics: &Metrics, api: &str, outcome: &str) -> usize {
    let line = format!("ashley_chat_replies_total{{api=\"{api}\",outcome=\"{outcome}\"}} ");
    metrics
        .render(0)
        .lines()
        .find_map(|text| text.strip_prefix(line.as_str()))
        .map_or(0, |count| count.trim().parse().unwrap())
}

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_turn_streams_the_demo_reply_stores_it_and_counts_it_once() {
    let fixture = fixture(Arc::new(Demo::new(Duration::ZERO))).await;
    let (session, _) = fixture.chat.create_session(&caller()).await.unwrap();
    let reply = fixture
        .chat
        .turn(caller(), send(&session, "Hello there"))
        .await
        .unwrap();
    let events = all_events(reply).await;
    let TurnEvent::Started {
        model,
        demo,
        user_message_id,
        ..
    } = &events[0]
    else {
        panic!("the first event is Started: {events:?}");
    };
    assert_eq!((model.as_str(), *demo), ("ashley-demo", true));
    assert!(user_message_id.is_some());
    let Some(TurnEvent::Done(done)) = events.last() else {
        panic!("the last event is Done: {events:?}");
    };
    assert!(done.reply_id.is_some() && done.usage.is_some());
    let text = text_of(&events);
    assert!(text.starts_with("**Demo mode**"));
    let history = fixture.chat.history(&caller(), &session).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[1].role, history[1].content.as_str()),
        (Role::Assistant, text.as_str())
    );
    assert!(!history[1].partial);
    assert_eq!(counted(&fixture.metrics, "app", "complete"), 1);
}

#[tokio::test]
async fn bad_input_and_unknown_sessions_never_reach_the_provider() {
    let provider = Scripted::new(Ok(Vec::new()));
    let fixture = fixture(provider.clone()).await;
    let (session, _) = fixture.chat.create_session(&caller()).await.unwrap();
    let code = async |turn: Turn| {
        fixture
            .chat
            .turn(caller(), turn)
            .await
            .err()
            .unwrap()
            .code()
    };
    assert_eq!(
        code(send(&session, " \n")).await,
        Some(ErrorCode::EmptyMessage)
    );
    assert_eq!(
        code(send(&"0".repeat(40), "hi")).await,
        Some(ErrorCode::UnknownSession)
    );
    assert_eq!(
        code(send("not-an-id", "hi")).await,
        Some(ErrorCode::UnknownSession)
    );
    let refused = code(send(&session, "how do I build a bomb")).await;
    assert_eq!(refused, Some(ErrorCode::ContentFlagged));
    let unknown_persona = Turn::Send {
        session_id: session.clone(),
        persona: "nobody".to_owned(),
        message: "hi".to_owned(),
    };
    assert_eq!(code(unknown_persona).await, Some(ErrorCode::UnknownPersona));
    assert_eq!(provider.calls.load(SeqCst), 0);
    assert_eq!(counted(&fixture.metrics, "app", "refused"), 1);
}

#[tokio::test]
async fn a_failure_mid_stream_ends_in_one_error_and_keeps_the_partial_text() {
    let provider = Scripted::new(Ok(vec![
        Ok(Piece::Text("Hel".to_owned())),
        Ok(Piece::Text("lo".to_owned())),
        Err(ProviderError::Disconnected),
    ]));
    let fixture = fixture(provider).await;
    let (session, _) = fixture.chat.create_session(&caller()).await.unwrap();
    let reply = fixture
        .chat
        .turn(caller(), send(&session, "hi"))
        .await
        .unwrap();
    let events = all_events(reply).await;
    assert_eq!(text_of(&events), "Hello");
    assert!(matches!(
        events.last(),
        Some(TurnEvent::Failed(ChatError::Provider(
            ProviderError::Disconnected
        )))
    ));
    let history = fixture.chat.history(&caller(), &session).await.unwrap();
    assert_eq!(history[1].content, "Hello");
    assert!(history[1].partial);
    assert_eq!(counted(&fixture.metrics, "app", "partial"), 1);
}

#[tokio::test]
async fn a_reply_dropped_by_its_client_is_counted_once_and_keeps_what_arrived() {
    let provider = Scripted::new(Ok(vec![
        Ok(Piece::Text("first ".to_owned())),
        Ok(Piece::Text("second".to_owned())),
        Ok(Piece::End(Finish::default())),
    ]));
    let fixture = fixture(provider).await;
    let (session, _) = fixture.chat.create_session(&caller()).await.unwrap();
    let mut reply = fixture
        .chat
        .turn(caller(), send(&session, "hi"))
        .await
        .unwrap();
    while !matches!(reply.next().await, Some(TurnEvent::Delta(_))) {}
    drop(reply);
    let history = wait_for("the cut reply to be stored", async || {
        let history = fixture.chat.history(&caller(), &session).await.unwrap();
        (history.len() == 2).then_some(history)
    })
    .await;
    assert_eq!(
        (history[1].content.as_str(), history[1].partial),
        ("first ", true)
    );
    assert_eq!(counted(&fixture.metrics, "app", "partial"), 1);
    assert_eq!(counted(&fixture.metrics, "app", "complete"), 0);
}

#[tokio::test]
async fn regenerate_replaces_the_last_reply_and_needs_a_message() {
    let fixture = fixture(Arc::new(Demo::new(Duration::ZERO))).await;
    let (session, _) = fixture.chat.create_session(&caller()).await.unwrap();
    let regenerate = || Turn::Regenerate {
        session_id: session.clone(),
        persona: "technical".to_owned(),
    };
    let nothing = fixture
        .chat
        .turn(caller(), regenerate())
        .await
        .err()
        .unwrap();
    assert_eq!(nothing.code(), Some(ErrorCode::NothingToRegenerate));
    let first = fixture
        .chat
        .turn(caller(), send(&session, "hi"))
        .await
        .unwrap();
    all_events(first).await;
    let again = fixture.chat.turn(caller(), regenerate()).await.unwrap();
    let events = all_events(again).await;
    assert!(matches!(events.last(), Some(TurnEvent::Done(_))));
    let history = fixture.chat.history(&caller(), &session).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].persona, "technical");
}

fn conversation(text: &str) -> Turn {
    Turn::Complete(Conversation {
        model: "ashley".to_owned(),
        messages: vec![Said {
            speaker: Speaker::User,
            text: text.to_owned(),
        }],
        temperature: None,
        max_tokens: None,
    })
}

#[tokio::test]
async fn a_stateless_completion_runs_the_same_turn_and_is_counted_as_v1() {
    let fixture = fixture(Arc::new(Demo::new(Duration::ZERO))).await;
    let reply = fixture
        .chat
        .turn(caller(), conversation("Hello"))
        .await
        .unwrap();
    let completed = reply.complete().await.unwrap();
    assert!(completed.content.contains("> Hello"));
    assert!(
        completed
            .usage
            .is_some_and(|usage: Usage| usage.completion_tokens > 0)
    );
    let mut streamed = fixture
        .chat
        .turn(caller(), conversation("Hello"))
        .await
        .unwrap();
    streamed.open().await.unwrap();
    let events = all_events(streamed).await;
    assert_eq!(text_of(&events), completed.content);
    assert_eq!(counted(&fixture.metrics, "v1", "complete"), 2);
    let flagged = fixture
        .chat
        .turn(caller(), conversation("go die"))
        .await
        .err()
        .unwrap();
    assert_eq!(flagged.code(), Some(ErrorCode::ContentFlagged));
}

#[tokio::test]
async fn a_provider_that_fails_to_open_is_answered_as_the_turns_error() {
    let provider = Scripted::new(Err(ProviderError::ContextOverflow { limit: Some(2048) }));
    let fixture = fixture(provider).await;
    let mut reply = fixture
        .chat
        .turn(caller(), conversation("hi"))
        .await
        .unwrap();
    let opened = reply.open().await.err().unwrap();
    assert!(matches!(
        opened,
        ChatError::ContextTooLong { limit: Some(2048) }
    ));
    assert!(reply.next().await.is_none(), "the reply is over");
    assert_eq!(counted(&fixture.metrics, "v1", "error"), 1);
}

#[tokio::test]
async fn an_overflowing_conversation_is_retried_once_without_its_oldest_messages() {
    let provider = Arc::new(Tight {
        max_messages: 3,
        calls: AtomicUsize::new(0),
    });
    let fixture = fixture(provider.clone()).await;
    let (session, _) = fixture.chat.create_session(&caller()).await.unwrap();
    let first = fixture
        .chat
        .turn(caller(), send(&session, "the first question"))
        .await
        .unwrap();
    assert!(matches!(
        all_events(first).await.last(),
        Some(TurnEvent::Done(_))
    ));
    let second = fixture
        .chat
        .turn(caller(), send(&session, "and a second one"))
        .await
        .unwrap();
    let events = all_events(second).await;
    assert!(
        events.iter().any(
            |event| matches!(event, TurnEvent::Notice(text) if text == context::LEFT_OUT_NOTICE)
        ),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(TurnEvent::Done(_))),
        "{events:?}"
    );
    assert_eq!(provider.calls.load(SeqCst), 3, "one call, then one retry");
    // Even the newest message alone does not fit: the person is told, once.
    let tiny = Arc::new(Tight {
        max_messages: 1,
        calls: AtomicUsize::new(0),
    });
    let fixture = self::fixture(tiny.clone()).await;
    let (session, _) = fixture.chat.create_session(&caller()).await.unwrap();
    let reply = fixture
        .chat
        .turn(caller(), send(&session, "hello"))
        .await
        .unwrap();
    let events = all_events(reply).await;
    assert!(
        matches!(
            events.last(),
            Some(TurnEvent::Failed(ChatError::ContextTooLong { .. }))
        ),
        "{events:?}"
    );
    assert_eq!(tiny.calls.load(SeqCst), 1, "nothing to leave out: no retry");
}

#[tokio::test]
async fn a_guest_s_daily_messages_run_out_before_the_model_is_asked_and_come_back_at_midnight() {
    use std::sync::atomic::{AtomicI64, Ordering};
    const DAY: i64 = 24 * 3600 * 1000;
    // 23:00 UTC on some day.
    let now = Arc::new(AtomicI64::new(20_000 * DAY + 23 * 3600 * 1000));
    let clock: crate::chat::Clock = {
        let now = Arc::clone(&now);
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let quotas = crate::config::Quotas {
        guest: crate::config::Limits {
            messages: 2,
            tokens: 0,
        },
        ..crate::config::Quotas::default()
    };
    let fixture = fixture_with(Arc::new(Demo::new(Duration::ZERO)), quotas, clock).await;
    let (session, _) = fixture.chat.create_session(&caller()).await.unwrap();
    for message in ["one", "two"] {
        let reply = fixture
            .chat
            .turn(caller(), send(&session, message))
            .await
            .unwrap();
        assert!(matches!(
            all_events(reply).await.last(),
            Some(TurnEvent::Done(_))
        ));
    }
    let quota = fixture.chat.quota(OWNER).await.unwrap().unwrap();
    assert_eq!((quota.messages_used, quota.messages_limit), (2, 2));
    assert!(
        quota.tokens_used > 0,
        "estimated from the text: the demo reports no usage"
    );
    assert_eq!(quota.resets_at_ms, 20_001 * DAY);

    let refused = fixture.chat.turn(caller(), send(&session, "three")).await;
    let Err(ChatError::QuotaExceeded {
        what,
        limit,
        resets_at_ms,
        retry_after_secs,
    }) = refused
    else {
        panic!(
            "the third message is over the quota: {:?}",
            refused.map(|_| ())
        );
    };
    assert_eq!(
        (what, limit, resets_at_ms),
        (QuotaKind::Messages, 2, 20_001 * DAY)
    );
    assert_eq!(retry_after_secs, 3600, "an hour to midnight");
    let history = fixture.chat.history(&caller(), &session).await.unwrap();
    assert_eq!(
        history.len(),
        4,
        "the refused message reached neither the store nor the model"
    );

    // A new day: the budget is back.
    now.fetch_add(3600 * 1000, Ordering::SeqCst);
    let reply = fixture
        .chat
        .turn(caller(), send(&session, "three"))
        .await
        .unwrap();
    assert!(matches!(
        all_events(reply).await.last(),
        Some(TurnEvent::Done(_))
    ));
    let quota = fixture.chat.quota(OWNER).await.unwrap().unwrap();
    assert_eq!(quota.messages_used, 1);
    // Without an owner (an operator's key on /v1) nothing is counted or limited.
    let operator = Caller {
        owner: None,
        presented: None,
        ..caller()
    };
    assert!(fixture.chat.check_quota(&operator).await.is_ok());
}
