//! The chat session without egui or a network: a recording backend, answers fed in by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cell::RefCell;

use ashley_proxy::api::{ErrorBody, ErrorCode, HistoryMessage};

use super::*;

#[derive(Clone, Debug, PartialEq)]
enum Call {
    CreateConversation,
    FindLatest,
    FetchHistory(String),
    Send {
        stream_id: u64,
        conversation_id: String,
        persona: String,
        message: String,
    },
    Regenerate(u64),
    Reattach {
        stream_id: u64,
        live_reply: String,
        from_seq: u64,
    },
    StopReply(String),
}

#[derive(Default)]
struct Recorder {
    calls: RefCell<Vec<Call>>,
}

impl Recorder {
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.calls.borrow_mut())
    }

    fn last_stream_id(&self) -> u64 {
        let calls = self.calls.borrow();
        calls
            .iter()
            .rev()
            .find_map(|call| match call {
                Call::Send { stream_id, .. }
                | Call::Regenerate(stream_id)
                | Call::Reattach { stream_id, .. } => Some(*stream_id),
                _ => None,
            })
            .expect("a stream was started")
    }
}

impl ChatBackend for Recorder {
    fn server(&self) -> &str {
        "http://proxy.test"
    }
    fn create_conversation(&self) {
        self.calls.borrow_mut().push(Call::CreateConversation);
    }
    fn find_latest_conversation(&self) {
        self.calls.borrow_mut().push(Call::FindLatest);
    }
    fn fetch_history(&self, conversation_id: &str) {
        self.calls
            .borrow_mut()
            .push(Call::FetchHistory(conversation_id.into()));
    }
    fn send_message(
        &self,
        stream_id: u64,
        conversation_id: &str,
        body: &SendMessage,
    ) -> StreamHandle {
        self.calls.borrow_mut().push(Call::Send {
            stream_id,
            conversation_id: conversation_id.into(),
            persona: body.persona.clone(),
            message: body.message.clone(),
        });
        StreamHandle::default()
    }
    fn regenerate(
        &self,
        stream_id: u64,
        _conversation_id: &str,
        _body: &Regenerate,
    ) -> StreamHandle {
        self.calls.borrow_mut().push(Call::Regenerate(stream_id));
        StreamHandle::default()
    }
    fn reattach(
        &self,
        stream_id: u64,
        _conversation_id: &str,
        live_reply: &str,
        from_seq: u64,
    ) -> StreamHandle {
        self.calls.borrow_mut().push(Call::Reattach {
            stream_id,
            live_reply: live_reply.into(),
            from_seq,
        });
        StreamHandle::default()
    }
    fn stop_reply(&self, _conversation_id: &str, live_reply: &str) {
        self.calls
            .borrow_mut()
            .push(Call::StopReply(live_reply.into()));
    }
}

/// Every code the proxy can answer (the app's `match` on them is exhaustive; this list is what
/// the tests drive through).
const ALL_CODES: [ErrorCode; 55] = [
    ErrorCode::UnknownReply,
    ErrorCode::ReplyInProgress,
    ErrorCode::InvalidBody,
    ErrorCode::MalformedJson,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::BodyTooLarge,
    ErrorCode::InvalidPath,
    ErrorCode::UnknownEndpoint,
    ErrorCode::MethodNotAllowed,
    ErrorCode::EmptyMessage,
    ErrorCode::MessageTooLong,
    ErrorCode::UnknownPersona,
    ErrorCode::UnknownSession,
    ErrorCode::NothingToRegenerate,
    ErrorCode::InvalidTitle,
    ErrorCode::InvalidQuery,
    ErrorCode::InvalidImport,
    ErrorCode::UnsupportedExportVersion,
    ErrorCode::InvalidMessages,
    ErrorCode::UnsupportedRole,
    ErrorCode::UnsupportedContent,
    ErrorCode::UnsupportedParameter,
    ErrorCode::InvalidTemperature,
    ErrorCode::InvalidMaxTokens,
    ErrorCode::ModelNotFound,
    ErrorCode::ContentFlagged,
    ErrorCode::FileNotFound,
    ErrorCode::WebAppMissing,
    ErrorCode::ContextLengthExceeded,
    ErrorCode::ContextTooLong,
    ErrorCode::RateLimited,
    ErrorCode::ModerationUnavailable,
    ErrorCode::StorageFull,
    ErrorCode::StoreUnavailable,
    ErrorCode::InternalError,
    ErrorCode::ShuttingDown,
    ErrorCode::UpstreamUnavailable,
    ErrorCode::UpstreamUnreachable,
    ErrorCode::UpstreamTimeout,
    ErrorCode::UpstreamRejected,
    ErrorCode::UpstreamRateLimited,
    ErrorCode::UpstreamModelNotFound,
    ErrorCode::UpstreamInvalidResponse,
    ErrorCode::UpstreamDisconnected,
    ErrorCode::UpstreamAuth,
    ErrorCode::HeadersTooLarge,
    ErrorCode::TooManyConnections,
    ErrorCode::SignInRequired,
    ErrorCode::InvalidSignInCode,
    ErrorCode::InvalidApiKey,
    ErrorCode::AccountRequired,
    ErrorCode::AdminRequired,
    ErrorCode::QuotaExceeded,
    ErrorCode::InsufficientQuota,
    ErrorCode::Unknown,
];

fn error_body(code: ErrorCode) -> ErrorBody {
    ErrorBody {
        message: format!("failed with {code}."),
        kind: "api_error".into(),
        param: None,
        code: Some(code),
        retry_after_secs: None,
    }
}

fn chat(event: ChatEvent) -> StreamEvent {
    StreamEvent::Chat { event, id: None }
}

fn started() -> StreamEvent {
    chat(ChatEvent::Started {
        user_message_id: Some(1),
        persona: "ashley".into(),
        model: "m".into(),
        demo: false,
        live_reply: Some("r1".into()),
    })
}

/// A session that is connected (`s1`) and has just sent `text` from the composer.
fn sent(backend: &Recorder, text: &str) -> ChatSession {
    let mut session = ChatSession::new(None);
    session.connect(backend);
    session.on_conversation_created(Ok("s1".into()), backend, "ashley");
    session.composer = text.into();
    session.send_composer(backend, "ashley");
    assert!(
        session.composer.is_empty(),
        "the sent text left the composer"
    );
    session
}

fn typed_text_is_kept(session: &ChatSession, text: &str, what: &str) {
    assert_eq!(session.composer, text, "{what}: back in the composer");
    let row = session
        .conversation()
        .messages()
        .iter()
        .rfind(|m| m.kind == MessageKind::User)
        .unwrap_or_else(|| panic!("{what}: no user row"));
    assert_eq!((row.content.as_str(), row.unsent), (text, true), "{what}");
    assert!(!session.is_sending(), "{what}");
}

#[test]
fn the_first_send_creates_a_session_then_streams_the_reply() {
    let backend = Recorder::default();
    let mut session = ChatSession::new(None);
    session.composer = "hello".into();
    session.send_composer(&backend, "technical");
    assert!(session.is_sending());
    assert_eq!(backend.take(), [Call::CreateConversation]);
    session.on_conversation_created(Ok("s1".into()), &backend, "technical");
    let stream_id = backend.last_stream_id();
    assert_eq!(
        backend.take(),
        [Call::Send {
            stream_id,
            conversation_id: "s1".into(),
            persona: "technical".into(),
            message: "hello".into()
        }]
    );
    session.on_stream_event(stream_id, started(), &backend, "ashley");
    for (seq, text) in ["Hi ", "there"].into_iter().enumerate() {
        let event = ChatEvent::Delta { text: text.into() };
        let id = Some((seq + 1).to_string());
        session.on_stream_event(
            stream_id,
            StreamEvent::Chat { event, id },
            &backend,
            "ashley",
        );
    }
    assert_eq!(session.last_event_id(), Some("2"), "where to reattach");
    assert_eq!(session.streaming_index(), Some(1));
    let done = ChatEvent::Done {
        reply_id: 2,
        stats: ReplyStats::default(),
    };
    session.on_stream_event(stream_id, chat(done), &backend, "ashley");
    assert!(!session.is_sending());
    assert!(session.take_reply_finished());
    let reply = &session.conversation().messages()[1];
    assert_eq!((reply.content.as_str(), reply.partial), ("Hi there", false));
}

#[test]
fn what_was_typed_survives_every_error_code_before_and_during_the_stream() {
    for code in ALL_CODES {
        let backend = Recorder::default();
        // The proxy refused the request with an HTTP error.
        let mut session = sent(&backend, "my words");
        let error = NetError::Http {
            status: 400,
            body: Some(error_body(code)),
        };
        let id = backend.last_stream_id();
        session.on_stream_event(id, StreamEvent::Failed(error), &backend, "ashley");
        if code == ErrorCode::UnknownSession {
            // Sent again on a new session instead, with nothing lost meanwhile.
            assert!(session.is_sending());
            assert_eq!(backend.take().last(), Some(&Call::CreateConversation));
            session.on_conversation_created(Err(NetError::Unreachable("x".into())), &backend, "a");
        }
        typed_text_is_kept(&session, "my words", &format!("HTTP {code}"));

        // The stream's `error` event before `started`.
        let mut session = sent(&backend, "more words");
        let event = ChatEvent::Error {
            error: error_body(code),
        };
        session.on_stream_event(backend.last_stream_id(), chat(event), &backend, "ashley");
        typed_text_is_kept(&session, "more words", &format!("event {code}"));
    }
}

#[test]
fn what_was_typed_survives_broken_connections_refusals_and_stop() {
    let backend = Recorder::default();
    let failures = [
        StreamEvent::Failed(NetError::Unreachable("refused".into())),
        StreamEvent::Failed(NetError::Invalid("not json".into())),
        StreamEvent::Failed(NetError::Http {
            status: 502,
            body: None,
        }),
        StreamEvent::EndedEarly,
        chat(ChatEvent::Refused {
            message: "no".into(),
            categories: Vec::new(),
        }),
    ];
    for failure in failures {
        let what = format!("{failure:?}");
        let mut session = sent(&backend, "words");
        session.on_stream_event(backend.last_stream_id(), failure, &backend, "ashley");
        typed_text_is_kept(&session, "words", &what);
    }
    // Stop before the proxy answered, pressed twice (the proxy does not answer): let go here.
    let mut session = sent(&backend, "stopped early");
    session.stop(&backend);
    assert!(session.is_stopping());
    session.stop(&backend);
    typed_text_is_kept(&session, "stopped early", "stop before started");

    // Sent while offline: the session could not be created.
    let mut session = ChatSession::new(None);
    session.composer = "offline".into();
    session.send_composer(&backend, "ashley");
    session.on_conversation_created(Err(NetError::Unreachable("down".into())), &backend, "a");
    typed_text_is_kept(&session, "offline", "no session");
    assert_eq!(
        session.conversation().messages().last().unwrap().retry,
        Some(RetryAction::Reconnect)
    );

    // Sent while the stored session's history was loading, which then failed; the reconnect
    // reloads the history, and the unsent row stays after it.
    let mut session = ChatSession::new(Some("s1".into()));
    session.connect(&backend);
    session.composer = "while loading".into();
    session.send_composer(&backend, "ashley");
    let failed = Err(NetError::Unreachable("down".into()));
    session.on_history("s1", failed, &backend, "ashley");
    typed_text_is_kept(&session, "while loading", "history failed");
    session.retry(RetryAction::Reconnect, &backend, "ashley");
    let history = History {
        session_id: "s1".into(),
        messages: Vec::new(),
        live_reply: None,
    };
    session.on_history("s1", Ok(history), &backend, "ashley");
    typed_text_is_kept(&session, "while loading", "after reconnecting");
}

#[test]
fn new_text_in_the_composer_is_not_overwritten_by_a_failed_send() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "first");
    session.composer = "second, typed while waiting".into();
    let error = NetError::Unreachable("gone".into());
    session.on_stream_event(
        backend.last_stream_id(),
        StreamEvent::Failed(error),
        &backend,
        "ashley",
    );
    assert_eq!(session.composer, "second, typed while waiting");
    let row = &session.conversation().messages()[0];
    assert_eq!((row.content.as_str(), row.unsent), ("first", true));
    assert_eq!(
        session.conversation().messages()[1].retry,
        Some(RetryAction::Send("first".into()))
    );
}

#[test]
fn storage_full_keeps_the_text_in_the_composer_without_retry() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "save me");
    let error = NetError::Http {
        status: 507,
        body: Some(error_body(ErrorCode::StorageFull)),
    };
    session.on_stream_event(
        backend.last_stream_id(),
        StreamEvent::Failed(error),
        &backend,
        "ashley",
    );
    typed_text_is_kept(&session, "save me", "storage full");
    let notice = session.conversation().messages().last().unwrap();
    assert_eq!(notice.kind, MessageKind::StorageFull);
    assert_eq!(notice.content, crate::notice::STORAGE_FULL_TEXT);
    assert_eq!(notice.retry, None);
}

#[test]
fn retry_sends_the_same_text_once_and_replaces_the_failed_attempt() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "again");
    let error = NetError::Http {
        status: 502,
        body: Some(error_body(ErrorCode::UpstreamTimeout)),
    };
    session.on_stream_event(
        backend.last_stream_id(),
        StreamEvent::Failed(error),
        &backend,
        "ashley",
    );
    let retry = session.conversation().messages()[1].retry.clone().unwrap();
    backend.take();
    session.retry(retry, &backend, "ashley");
    assert!(matches!(&backend.take()[..], [Call::Send { message, .. }] if message == "again"));
    assert!(
        session.composer.is_empty(),
        "the retried text left the composer"
    );
    let rows: Vec<(&str, bool)> = session
        .conversation()
        .messages()
        .iter()
        .map(|m| (m.content.as_str(), m.unsent))
        .collect();
    assert_eq!(rows, [("again", false)]);
}

#[test]
fn a_failed_regenerate_keeps_the_partial_reply_and_offers_regenerate() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "q");
    let id = backend.last_stream_id();
    session.on_stream_event(id, started(), &backend, "ashley");
    session.on_stream_event(
        id,
        chat(ChatEvent::Delta {
            text: "half".into(),
        }),
        &backend,
        "ashley",
    );
    let error = ChatEvent::Error {
        error: error_body(ErrorCode::UpstreamDisconnected),
    };
    session.on_stream_event(id, chat(error), &backend, "ashley");
    let rows = session.conversation().messages();
    assert_eq!((rows[1].content.as_str(), rows[1].partial), ("half", true));
    assert_eq!(rows[2].retry, Some(RetryAction::Regenerate));
    assert!(
        session.composer.is_empty(),
        "the message was stored: nothing to give back"
    );
}

#[test]
fn stop_asks_the_proxy_and_ends_with_its_stopped_event() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "q");
    let id = backend.last_stream_id();
    session.on_stream_event(id, started(), &backend, "ashley");
    backend.take();
    session.stop(&backend);
    assert_eq!(backend.take(), [Call::StopReply("r1".into())]);
    assert!(session.is_stopping() && session.is_sending());
    // What the proxy wrote before it stopped is stored, so it is shown too.
    let delta = chat(ChatEvent::Delta {
        text: "late".into(),
    });
    session.on_stream_event(id, delta, &backend, "ashley");
    let stopped = chat(ChatEvent::Stopped { reply_id: Some(2) });
    session.on_stream_event(id, stopped, &backend, "ashley");
    let reply = &session.conversation().messages()[1];
    assert_eq!((reply.content.as_str(), reply.partial), ("late", true));
    assert!(!session.is_sending());
    assert!(session.take_reply_finished());
}

#[test]
fn a_stop_before_the_proxy_named_the_reply_is_sent_once_it_does() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "q");
    let id = backend.last_stream_id();
    backend.take();
    session.stop(&backend);
    assert_eq!(backend.take(), [], "nothing to name yet");
    session.on_stream_event(id, started(), &backend, "ashley");
    assert_eq!(backend.take(), [Call::StopReply("r1".into())]);
}

#[test]
fn a_broken_stream_is_reattached_after_the_last_event_seen() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "q");
    let id = backend.last_stream_id();
    session.on_stream_event(id, started(), &backend, "ashley");
    let delta = |text: &str, seq: u64| StreamEvent::Chat {
        event: ChatEvent::Delta { text: text.into() },
        id: Some(seq.to_string()),
    };
    session.on_stream_event(id, delta("Hel", 2), &backend, "ashley");
    let broke = StreamEvent::Failed(NetError::Unreachable("reset".into()));
    session.on_stream_event(id, broke, &backend, "ashley");
    assert!(session.is_sending(), "the reply goes on at the proxy");
    backend.take();
    assert_eq!(session.tick(10.0, &backend), Some(0.5), "waits first");
    assert_eq!(backend.take(), []);
    assert_eq!(session.tick(10.6, &backend), None);
    let again = backend.last_stream_id();
    assert_eq!(
        backend.take(),
        [Call::Reattach {
            stream_id: again,
            live_reply: "r1".into(),
            from_seq: 3
        }]
    );
    // The old stream's late events change nothing; the new one's continue the reply.
    session.on_stream_event(id, delta("XX", 3), &backend, "ashley");
    session.on_stream_event(again, delta("lo", 3), &backend, "ashley");
    let done = ChatEvent::Done {
        reply_id: 2,
        stats: ReplyStats::default(),
    };
    session.on_stream_event(again, chat(done), &backend, "ashley");
    let reply = &session.conversation().messages()[1];
    assert_eq!((reply.content.as_str(), reply.partial), ("Hello", false));
}

#[test]
fn a_stream_that_keeps_breaking_gives_up_and_offers_to_read_it_again() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "q");
    let mut id = backend.last_stream_id();
    session.on_stream_event(id, started(), &backend, "ashley");
    let mut now = 0.0;
    for _ in 0..MAX_REATTACH_ATTEMPTS {
        let broke = StreamEvent::Failed(NetError::Unreachable("down".into()));
        session.on_stream_event(id, broke, &backend, "ashley");
        let wait = session.tick(now, &backend).expect("a wait");
        now += wait;
        assert_eq!(session.tick(now, &backend), None);
        id = backend.last_stream_id();
    }
    let broke = StreamEvent::Failed(NetError::Unreachable("down".into()));
    session.on_stream_event(id, broke, &backend, "ashley");
    assert!(!session.is_sending());
    let notice = session.conversation().messages().last().unwrap();
    assert_eq!(notice.retry, Some(RetryAction::Reconnect));
    assert!(notice.content.contains("goes on being written"));
}

#[test]
fn opening_a_conversation_with_a_reply_being_written_reads_it_from_the_first_event() {
    let backend = Recorder::default();
    let mut session = ChatSession::new(Some("s1".into()));
    session.connect(&backend);
    backend.take();
    let history = History {
        session_id: "s1".into(),
        messages: vec![HistoryMessage {
            id: 1,
            role: ashley_proxy::api::Role::User,
            content: "q".into(),
            persona: "ashley".into(),
            created_at_ms: 0,
            stats: None,
            partial: false,
        }],
        live_reply: Some("r1".into()),
    };
    session.on_history("s1", Ok(history), &backend, "ashley");
    let id = backend.last_stream_id();
    assert_eq!(
        backend.take(),
        [Call::Reattach {
            stream_id: id,
            live_reply: "r1".into(),
            from_seq: 1
        }]
    );
    assert!(session.is_sending());
    session.on_stream_event(id, started(), &backend, "ashley");
    let delta = chat(ChatEvent::Delta {
        text: "answer".into(),
    });
    session.on_stream_event(id, delta, &backend, "ashley");
    let rows = session.conversation().messages();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].content, "answer");

    // It ended before the reattach: the conversation is read again, quietly.
    let ended = StreamEvent::Failed(NetError::Http {
        status: 404,
        body: Some(error_body(ErrorCode::UnknownReply)),
    });
    session.on_stream_event(id, ended, &backend, "ashley");
    assert_eq!(backend.take(), [Call::FetchHistory("s1".into())]);
}

#[test]
fn new_chat_keeps_the_old_conversation_and_the_composer() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "q");
    session.composer = "draft".into();
    backend.take();
    session.new_chat(&backend);
    assert_eq!(
        backend.take(),
        [Call::CreateConversation],
        "nothing deleted"
    );
    assert!(session.conversation().is_empty());
    assert_eq!(session.composer, "draft");
    assert_eq!(session.conversation_id(), None);
}

#[test]
fn opening_another_conversation_mid_reply_detaches_the_stream() {
    let backend = Recorder::default();
    let mut session = sent(&backend, "q");
    let stream_id = backend.last_stream_id();
    session.on_stream_event(stream_id, started(), &backend, "ashley");
    assert!(session.is_sending());
    backend.take();
    session.take_scroll_to_bottom();
    session.open("other", Some(7), &backend);
    assert_eq!(backend.take(), [Call::FetchHistory("other".into())]);
    assert!(!session.is_sending(), "the reply is left to the proxy");
    assert!(session.conversation().is_empty());
    // The old stream's late events change nothing here.
    let delta = StreamEvent::Chat {
        event: ChatEvent::Delta {
            text: "leak".into(),
        },
        id: None,
    };
    session.on_stream_event(stream_id, delta, &backend, "ashley");
    assert!(session.conversation().is_empty());
    let history = History {
        session_id: "other".into(),
        messages: vec![ashley_proxy::api::HistoryMessage {
            id: 7,
            role: ashley_proxy::api::Role::User,
            content: "found".into(),
            persona: "ashley".into(),
            created_at_ms: 0,
            stats: None,
            partial: false,
        }],
        live_reply: None,
    };
    session.on_history("other", Ok(history), &backend, "ashley");
    assert_eq!(
        session.take_focus_row(),
        Some(0),
        "the search hit's message"
    );
    assert!(!session.take_scroll_to_bottom());
}

#[test]
fn a_first_start_resumes_the_most_recent_session_or_makes_one() {
    let backend = Recorder::default();
    let mut session = ChatSession::new(None);
    session.connect(&backend);
    assert_eq!(backend.take(), [Call::FindLatest]);
    session.on_latest_conversation(Ok(Some("recent".into())), &backend);
    assert_eq!(backend.take(), [Call::FetchHistory("recent".into())]);
    assert_eq!(session.conversation_id(), Some("recent"));

    let mut fresh = ChatSession::new(None);
    fresh.connect(&backend);
    backend.take();
    fresh.on_latest_conversation(Ok(None), &backend);
    assert_eq!(backend.take(), [Call::CreateConversation]);

    let mut offline = ChatSession::new(None);
    offline.connect(&backend);
    backend.take();
    offline.on_latest_conversation(Err(NetError::Unreachable("down".into())), &backend);
    assert!(backend.take().is_empty());
    assert_eq!(
        offline
            .conversation()
            .messages()
            .last()
            .map(|m| m.kind.clone()),
        Some(MessageKind::Unreachable),
        "the person is told, with a Retry"
    );
}

#[test]
fn a_forgotten_session_is_replaced_quietly() {
    let backend = Recorder::default();
    let mut session = ChatSession::new(Some("gone".into()));
    session.connect(&backend);
    assert_eq!(backend.take(), [Call::FetchHistory("gone".into())]);
    let error = NetError::Http {
        status: 404,
        body: Some(error_body(ErrorCode::UnknownSession)),
    };
    session.on_history("gone", Err(error), &backend, "ashley");
    assert_eq!(backend.take(), [Call::FindLatest]);
    session.on_latest_conversation(Ok(None), &backend);
    assert_eq!(backend.take(), [Call::CreateConversation]);
    assert!(session.conversation().is_empty(), "no error notice");
}
